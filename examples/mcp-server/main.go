// Command mcp-server is an MCP tool server on the official Go SDK
// (github.com/modelcontextprotocol/go-sdk), over streamable HTTP, whose
// tool calls are decided by the mandate verifier through verifier/mcpmw.
//
// Each tool is declared with its policy next to it: the service and
// operation it performs and how its resource follows from its arguments.
// Every tools/call is authorized from the tool's name and arguments; a
// tool without a policy is denied. The server answers 401 (no or invalid
// token) and 403 insufficient_scope (no right covers the call; the
// challenge's scope names the right that would) with the challenges of the
// MCP authorization specification, answers a call an attenuation caveat
// denies with an isError tool result the model can act on, and serves
// RFC 9728 protected resource metadata that points clients at the
// authority. In demo mode it prints such a caveat denial as a model sees it.
//
// Run it with:
//
//	go run ./examples/mcp-server                       # demo: in-process key, prints tokens to try
//	go run ./examples/mcp-server --authority http://127.0.0.1:8421
//
// It listens on 127.0.0.1:8082 (--addr); the MCP endpoint is /mcp.
package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/mandate-dev/mandate/examples/internal/followauth"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/mcpmw"
	"github.com/mandate-dev/mandate/verifier/revocation"
)

// defaultAuthority is where `mandate authority serve` listens.
const defaultAuthority = "http://127.0.0.1:8421"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mcp-server:", err)
		os.Exit(1)
	}
}

type config struct {
	Addr      string
	Authority string
	// Scopes are the scopes of this server in the authority's OAuth scope
	// catalog, advertised in the resource metadata (scopes_supported) so
	// that MCP clients ask for them.
	Scopes []string
	// Trust pins the authority's root key (--trust-key, default
	// $MANDATE_TRUST_KEY) or names the insecure choice not to.
	Trust followauth.Trust
}

func run(ctx context.Context, args []string, out io.Writer) error {
	var cfg config
	fs := flag.NewFlagSet("mcp-server", flag.ContinueOnError)
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8082", "listen address (keep it on 127.0.0.1 unless you put TLS in front)")
	fs.StringVar(&cfg.Authority, "authority", "", "authority base URL: trust its keys, follow its revocations and advertise it in the resource metadata (default: an in-process demo key)")
	fs.StringVar(&cfg.Trust.Key, "trust-key", os.Getenv("MANDATE_TRUST_KEY"), "with --authority: the authority's root public key in HEX, as `mandate authority serve` prints it (default $MANDATE_TRUST_KEY)")
	fs.BoolVar(&cfg.Trust.InsecureNoKey, "insecure-no-trust-key", false, "with --authority: trust whatever keys the authority URL answers (a demo on one machine only)")
	var scopes string
	fs.StringVar(&scopes, "scopes", "github:read", "comma-separated scopes of this server in the authority's OAuth scope catalog, advertised to MCP clients (scopes_supported)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, s := range strings.Split(scopes, ",") {
		if s = strings.TrimSpace(s); s != "" {
			cfg.Scopes = append(cfg.Scopes, s)
		}
	}
	app, err := start(ctx, cfg)
	if err != nil {
		return err
	}
	defer app.Close()
	fmt.Fprintf(out, "MCP tool server on %s (streamable HTTP)\nprotected resource metadata: %s\n", app.MCPURL, app.MetadataURL)
	if app.Demo != nil {
		app.Demo.print(ctx, out, app.MCPURL)
	}
	<-ctx.Done()
	return nil
}

// App is a running MCP tool server.
type App struct {
	MCPURL      string // the MCP endpoint, also the resource identifier
	MetadataURL string // its RFC 9728 metadata
	Demo        *Demo  // nil when keys come from an authority
	srv         *http.Server
	stop        func()
}

// Close stops the server.
func (a *App) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = a.srv.Shutdown(ctx)
	a.stop()
}

func start(ctx context.Context, cfg config) (*App, error) {
	authority := cfg.Authority
	v, demo, stop, err := newVerifier(ctx, authority, cfg.Trust)
	if err != nil {
		return nil, err
	}
	if authority == "" {
		// Demo tokens are minted in process; clients that follow the
		// metadata are sent where `mandate authority serve` listens.
		authority = defaultAuthority
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		stop()
		return nil, fmt.Errorf("listen on %s: %w (pick another --addr)", cfg.Addr, err)
	}
	base := "http://" + ln.Addr().String()
	h, metaURL, err := handler(v, base+"/mcp", authority, cfg.Scopes)
	if err != nil {
		ln.Close()
		stop()
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &App{MCPURL: base + "/mcp", MetadataURL: metaURL, Demo: demo, srv: srv, stop: stop}, nil
}

func newVerifier(ctx context.Context, authority string, trust followauth.Trust) (*verifier.Verifier, *Demo, func(), error) {
	if authority != "" {
		v, stop, err := followauth.Verifier(ctx, authority, trust)
		return v, nil, stop, err
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

// handler wires the MCP server, the guard and the metadata.
func handler(v *verifier.Verifier, resource, authority string, scopes []string) (http.Handler, string, error) {
	metaURL, err := mcpmw.MetadataURL(resource)
	if err != nil {
		return nil, "", err
	}
	// Audience: a token the authority bound to this server (OAuth
	// resource indicator) is accepted, one bound to another is refused.
	guard, err := mcpmw.New(v, mcpmw.Options{ResourceMetadata: metaURL, Audience: resource})
	if err != nil {
		return nil, "", err
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "repo-tools", Version: "v0.1.0"}, nil)
	if err := addTools(guard, server); err != nil {
		return nil, "", err
	}
	meta, err := mcpmw.ProtectedResourceMetadata(mcpmw.Metadata{
		Resource:             resource,
		AuthorizationServers: []string{authority},
		ScopesSupported:      scopes,
		ResourceName:         "repo-tools (mandate example)",
	})
	if err != nil {
		return nil, "", err
	}
	mux := http.NewServeMux()
	mux.Handle("/mcp", guard.Middleware(mcp.NewStreamableHTTPHandler(
		func(*http.Request) *mcp.Server { return server }, nil)))
	u, err := url.Parse(metaURL)
	if err != nil {
		return nil, "", err
	}
	mux.Handle(u.Path, meta)              // RFC 9728 §3.1: /.well-known/oauth-protected-resource/mcp
	mux.Handle(mcpmw.WellKnownPath, meta) // for clients that only try the root
	return mux, metaURL, nil
}
