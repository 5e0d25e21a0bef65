package authority

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"
)

// DefaultAddr is the address `mandate authority serve` listens on.
const DefaultAddr = "127.0.0.1:8421"

// ServeConfig configures Serve.
type ServeConfig struct {
	Config
	// Addr is the listening address (default DefaultAddr).
	Addr string
	// Listener, when set, is used instead of listening on Addr.
	Listener net.Listener
	// Ready, when set, is called with the listening address once the
	// server accepts connections.
	Ready func(addr net.Addr)
	// Started, when set, is called with the open authority just before
	// Ready, such as to print the root public key that verifiers pin
	// (a.Keys()[0]).
	Started func(a *Authority)
	// Options are passed to Open.
	Options []Option
	// Mount, when set, is called with the open authority and returns
	// handlers to serve beside the API (the console: see NewHandler).
	Mount func(a *Authority) ([]Mount, error)
	// Handler, when set, builds the served handler around the authority's
	// API (NewHandler's), such as to mount the OAuth authorization server
	// (package authority/oauth) in front of it. An error stops Serve.
	Handler func(a *Authority, api http.Handler) (http.Handler, error)
}

// Serve opens the authority and serves its HTTP API until ctx ends, then
// shuts down gracefully: feed long-polls return at once, in-flight requests
// get ShutdownTimeout to finish, queued writes commit, and storage is
// closed. It returns nil after a shutdown asked for through ctx.
//
// It binds the address before it opens the authority, so that a first
// start that cannot listen has not yet generated (and printed) an admin
// token that would then be lost.
func Serve(ctx context.Context, cfg ServeConfig) error {
	ln := cfg.Listener
	if ln == nil {
		addr := cfg.Addr
		if addr == "" {
			addr = DefaultAddr
		}
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("listen on %s: %w (is another authority running? choose another address with --addr)", addr, err)
		}
	}
	a, err := Open(ctx, cfg.Config, cfg.Options...)
	if err != nil {
		_ = ln.Close()
		return err
	}
	var mounts []Mount
	if cfg.Mount != nil {
		if mounts, err = cfg.Mount(a); err != nil {
			_ = ln.Close()
			_ = a.Close()
			return err
		}
	}
	nofile := raiseFileLimit()
	maxConns, maxPolls := connBudget(a.cfg, nofile)
	perClient := a.cfg.MaxConnsPerClient
	if perClient <= 0 {
		perClient = DefaultMaxConnsPerClient
	}
	var handler http.Handler = newHandler(a, newPollGate(maxPolls, a.cfg.MaxLongPollsPerClient), mounts...)
	if cfg.Handler != nil {
		if handler, err = cfg.Handler(a, handler); err != nil {
			_ = ln.Close()
			_ = a.Close()
			return err
		}
	}
	limited := newConnLimiter(ln, maxConns, perClient, &a.stats.ConnsRefused)
	ln = limited
	srv := &http.Server{
		ConnState:         limited.connState,
		Handler:           handler,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		// Long-polls answer after up to MaxWait.
		WriteTimeout:   a.cfg.MaxWait + 30*time.Second,
		IdleTimeout:    IdleTimeout,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       log.New(zerologWriter{a.log}, "", 0),
	}
	srv.RegisterOnShutdown(a.Shutdown)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.log.Info().Str("addr", ln.Addr().String()).Uint32("key_id", a.keys.current().active.ID).
		Uint64("fd_limit", nofile).Int("max_conns", maxConns).Int("max_long_polls", maxPolls).Msg("authority listening")
	if cfg.Started != nil {
		cfg.Started(a)
	}
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr())
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	a.log.Info().Msg("shutting down")
	a.Shutdown()
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		a.log.Warn().Err(err).Msg("graceful shutdown timed out; closing connections")
		_ = srv.Close()
	}
	if err := a.Close(); err != nil {
		return fmt.Errorf("close storage: %w", err)
	}
	a.log.Info().Msg("stopped")
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return nil
}

// connBudget returns the connection cap and the long-poll cap for a
// descriptor limit of nofile (0: unknown). Connections get what FDReserve
// leaves; by default long-polls get at most half of that, so that other
// routes always find room. Explicit Config values are kept (within the
// connection cap).
func connBudget(cfg Config, nofile uint64) (conns, polls int) {
	conns = cfg.MaxConns
	if conns <= 0 {
		conns = 1 << 20
		if nofile > 2*FDReserve {
			conns = int(min(nofile-FDReserve, 1<<20))
		} else if nofile > 0 {
			conns = int(nofile / 2)
		}
	}
	if cfg.MaxLongPolls > 0 {
		return conns, min(cfg.MaxLongPolls, conns)
	}
	return conns, max(1, min(DefaultMaxLongPolls, conns/2))
}

// zerologWriter sends net/http's own error log (TLS handshakes, bad
// requests) to zerolog.
type zerologWriter struct{ l zerolog.Logger }

func (w zerologWriter) Write(p []byte) (int, error) {
	w.l.Warn().Str("component", "http").Msg(string(trimNL(p)))
	return len(p), nil
}

func trimNL(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}
