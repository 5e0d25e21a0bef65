// Command gin-server is a plain HTTP tool API on gin whose routes are
// protected by the mandate verifier through the small gin adapter in
// verifier/ginmw.
//
// It serves a toy CRM on 127.0.0.1:8081:
//
//	GET  /accounts/:id           crm get_account read   account:acme/<id>/profile
//	POST /accounts/:id/refunds   crm refund      write  account:acme/<id>/refunds   args: amount (cents), reason
//
// Run it with:
//
//	go run ./examples/gin-server
//
// Without --authority it is self-contained: it makes a root key in
// process, mints two demo tokens with it and prints them with curl
// commands to try. With --authority URL it trusts the keys that authority
// publishes and follows its revocation feed instead; with
// --decision-credential (or $MANDATE_VERIFIER_CREDENTIAL, a credential from
// "mandate authority verifier add NAME") it also ships every decision to
// the authority's decision log (package verifier/decisionlog).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/mandate-dev/mandate/examples/internal/followauth"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/decisionlog"
	"github.com/mandate-dev/mandate/verifier/ginmw"
	"github.com/mandate-dev/mandate/verifier/revocation"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gin-server:", err)
		os.Exit(1)
	}
}

// config is what the flags set.
type config struct {
	Addr      string
	Authority string
	// Trust pins the authority's root key (--trust-key, default
	// $MANDATE_TRUST_KEY) or names the insecure choice not to.
	Trust followauth.Trust
	// DecisionCredential, with Authority, ships decisions to the
	// authority's decision log.
	DecisionCredential string
}

func run(ctx context.Context, args []string, out io.Writer) error {
	var cfg config
	fs := flag.NewFlagSet("gin-server", flag.ContinueOnError)
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8081", "listen address (keep it on 127.0.0.1 unless you put TLS in front)")
	fs.StringVar(&cfg.Authority, "authority", "", "authority base URL to take keys and revocations from (default: an in-process demo key)")
	fs.StringVar(&cfg.Trust.Key, "trust-key", os.Getenv("MANDATE_TRUST_KEY"), "with --authority: the authority's root public key in HEX, as `mandate authority serve` prints it (default $MANDATE_TRUST_KEY)")
	fs.StringVar(&cfg.DecisionCredential, "decision-credential", os.Getenv("MANDATE_VERIFIER_CREDENTIAL"), "with --authority: ship every decision to the authority's decision log with this verifier credential (`mandate authority verifier add NAME`; default $MANDATE_VERIFIER_CREDENTIAL)")
	fs.BoolVar(&cfg.Trust.InsecureNoKey, "insecure-no-trust-key", false, "with --authority: trust whatever keys the authority URL answers (a demo on one machine only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	app, err := start(ctx, cfg)
	if err != nil {
		return err
	}
	defer app.Close()
	fmt.Fprintf(out, "gin tool API listening on %s\n", app.URL)
	if app.Demo != nil {
		app.Demo.print(out, app.URL)
	}
	<-ctx.Done()
	return nil
}

// App is a running tool server.
type App struct {
	URL  string
	Demo *Demo // nil when keys come from an authority
	srv  *http.Server
	stop func()
}

// Close stops the server.
func (a *App) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = a.srv.Shutdown(ctx)
	a.stop()
}

// start builds the verifier, the gin router and the listener.
func start(ctx context.Context, cfg config) (*App, error) {
	v, demo, stop, err := newVerifier(ctx, cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		stop()
		return nil, fmt.Errorf("listen on %s: %w (pick another --addr)", cfg.Addr, err)
	}
	srv := &http.Server{Handler: router(v), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &App{URL: "http://" + ln.Addr().String(), Demo: demo, srv: srv, stop: stop}, nil
}

// newVerifier returns a verifier for the demo key, or for the authority
// (shipping its decisions there when cfg has a decision credential).
func newVerifier(ctx context.Context, cfg config) (*verifier.Verifier, *Demo, func(), error) {
	if cfg.DecisionCredential != "" && cfg.Authority == "" {
		return nil, nil, nil, errors.New("--decision-credential ships decisions to --authority URL: give both")
	}
	if cfg.Authority != "" {
		if cfg.DecisionCredential == "" {
			v, stop, err := followauth.Verifier(ctx, cfg.Authority, cfg.Trust)
			return v, nil, stop, err
		}
		sh, err := decisionlog.New(decisionlog.Config{URL: cfg.Authority, Credential: cfg.DecisionCredential})
		if err != nil {
			return nil, nil, nil, err
		}
		flush := func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = sh.Close(ctx) // ships what is buffered; what is left is dropped and counted
		}
		v, stop, err := followauth.Verifier(ctx, cfg.Authority, cfg.Trust, func(c *verifier.Config) { c.Decisions = sh })
		if err != nil {
			flush()
			return nil, nil, nil, err
		}
		return v, nil, func() { stop(); flush() }, nil
	}
	demo, err := newDemo()
	if err != nil {
		return nil, nil, nil, err
	}
	v, err := verifier.New(verifier.Config{
		Keys:        token.NewKeySet(demo.key.Public()),
		Revocations: revocation.NewMemory(), // nothing revokes in the demo
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return v, demo, func() {}, nil
}

// router is the tool API. Each route says which tool call it performs;
// the verifier decides before the handler runs.
func router(v *verifier.Verifier) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(gin.Recovery())
	opts := verifier.HTTPOptions{Realm: "crm"}

	getAccount := func(r *http.Request) (verifier.Request, error) {
		return verifier.Request{Service: "crm", Tool: "get_account", Operation: "read",
			Resource: "account:acme/" + r.PathValue("id") + "/profile"}, nil
	}
	r.GET("/accounts/:id", ginmw.Middleware(v, getAccount, opts), func(c *gin.Context) {
		d, _ := ginmw.Decision(c)
		c.JSON(http.StatusOK, gin.H{"account": c.Param("id"), "name": "Acme Corp", "agent": d.Agent, "decision_id": d.DecisionID})
	})

	// A refund's arguments are in the JSON body: the request function
	// reads it (bounded), gives amount and reason to the verifier as arg
	// facts, and puts the body back for the handler.
	refund := func(r *http.Request) (verifier.Request, error) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			return verifier.Request{}, err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var in refundBody
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&in); err != nil {
			return verifier.Request{}, errors.New(`send a JSON body {"amount": cents, "reason": "..."}`)
		}
		return verifier.Request{Service: "crm", Tool: "refund", Operation: "write",
			Resource: "account:acme/" + r.PathValue("id") + "/refunds",
			Args:     map[string]any{"amount": in.Amount, "reason": in.Reason}}, nil
	}
	r.POST("/accounts/:id/refunds", ginmw.Middleware(v, refund, opts), func(c *gin.Context) {
		var in refundBody
		if err := c.ShouldBindJSON(&in); err != nil {
			c.JSON(http.StatusBadRequest, gin.H{"error": err.Error()})
			return
		}
		d, _ := ginmw.Decision(c)
		c.JSON(http.StatusOK, gin.H{"account": c.Param("id"), "refunded": in.Amount, "agent": d.Agent, "decision_id": d.DecisionID})
	})
	return r
}

type refundBody struct {
	Amount json.Number `json:"amount"`
	Reason string      `json:"reason"`
}
