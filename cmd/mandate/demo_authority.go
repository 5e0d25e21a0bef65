package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"path/filepath"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/token"
)

// embeddedAuthority is an authority served in-process on 127.0.0.1.
type embeddedAuthority struct {
	URL        string
	AdminToken string
	// RootKey is the authority's root public key at start: the key its
	// verifiers pin (follow.Config.TrustAnchors, --trust-key).
	RootKey token.PublicKey
	// Authority is the running authority (its console is under
	// URL+"/console/").
	Authority *authority.Authority
	stop      func() error
}

// Close shuts the authority down gracefully and closes its storage.
func (e *embeddedAuthority) Close() error { return e.stop() }

// startEmbeddedAuthority starts an authority with its data in dataDir,
// listening on a free port of 127.0.0.1, with a fresh admin token. Its logs
// are discarded.
func startEmbeddedAuthority(ctx context.Context, dataDir string) (*embeddedAuthority, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	admin := base64.RawURLEncoding.EncodeToString(b[:])
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	ready := make(chan struct{})
	done := make(chan error, 1)
	var root token.PublicKey
	var opened *authority.Authority
	go func() {
		done <- authority.Serve(sctx, authority.ServeConfig{
			Config: authority.Config{
				DataDir:          filepath.Join(dataDir, "authority"),
				AdminToken:       admin,
				AdminTokenOutput: io.Discard,
			},
			Listener: ln,
			Mount:    func(a *authority.Authority) ([]authority.Mount, error) { return consoleMount(a, "") },
			Started: func(a *authority.Authority) {
				opened = a
				k := a.Keys()[0]
				root = token.PublicKey{ID: k.ID, Key: k.PublicKey}
			},
			Ready: func(net.Addr) { close(ready) },
		})
	}()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		_ = ln.Close()
		if err == nil {
			err = errors.New("the authority stopped before serving")
		}
		return nil, err
	}
	var stopErr error
	stopped := false
	return &embeddedAuthority{
		URL:        "http://" + ln.Addr().String(),
		AdminToken: admin,
		RootKey:    root,
		Authority:  opened,
		stop: func() error {
			if !stopped {
				stopped = true
				cancel()
				stopErr = <-done
			}
			return stopErr
		},
	}, nil
}
