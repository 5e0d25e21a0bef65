package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/console"
	"github.com/mandate-dev/mandate/authority/natsstore"
	"github.com/mandate-dev/mandate/authority/oauth"
	"github.com/mandate-dev/mandate/authority/web"
	"github.com/mandate-dev/mandate/token"
)

// newAuthorityCmd returns "mandate authority" and its "serve" subcommand.
func newAuthorityCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "authority",
		Short: "Run the mandate authority (mint, revoke, keys) over HTTP",
		Long: `The authority mints session tokens for registered clients within their
ceilings, keeps the revocation log that verifiers follow, and publishes its
root public keys. "mandate authority serve" runs it on embedded storage.`,
		Example: `  mandate authority serve
  mandate authority serve --data ./mandate-data --addr 127.0.0.1:8421

  # Lost the admin token? Stop the authority, then
  mandate authority admin-token --reset --data ./mandate-data`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newAuthorityServeCmd(), newAuthorityAdminTokenCmd(), newPeopleCmd(a), newAuthorityVerifierCmd(a))
	return cmd
}

func newAuthorityServeCmd() *cobra.Command {
	var (
		dataDir   string
		addr      string
		logLevel  string
		maxWait   time.Duration
		issuer    string
		keep      time.Duration
		store     string
		natsOpts  natsstore.StoreOptions
		noConsole bool
		// OAuth authorization server options.
		cimd      bool
		cimdHosts []string
		dcr       bool
	)
	cmd := &cobra.Command{
		Use:   "serve [--data DIR] [--addr HOST:PORT]",
		Short: "Serve the authority's HTTP API on embedded storage",
		Long: `Serve the mandate authority: platform backends mint session tokens for
their agents (POST /v1/tokens), anyone entitled revokes them
(POST /v1/revocations), and verifiers fetch the public keys (GET /v1/keys)
and follow the revocation feed (GET /v1/revocations).

On first start it creates DIR (mode 0700), an Ed25519 root key in DIR/keys
(mode 0600) and its Badger database in DIR/db. The admin bearer token comes
from MANDATE_ADMIN_TOKEN (at least 24 characters); without it, one is
generated on first start, once the address is bound, and printed once on
stderr: keep it. Later starts reuse it until MANDATE_ADMIN_TOKEN replaces
it. Lost it? Stop the authority and run "mandate authority admin-token
--reset --data DIR", which prints a new one.

The web console is served on the same address under /console/ (unless
--no-console): people sign in there with the credentials the admin gives
them ("mandate authority people add NAME --role admin|approver|viewer").
Several authorities: --store nats://host1,host2,host3 keeps all state (the
revocation log, sessions, clients, keys, people and every other room) on a
NATS JetStream cluster, in one stream replicated --nats-replicas times
(default 3). Run as many replicas as you like, each with the same
MANDATE_ADMIN_TOKEN, behind one load balancer: any replica serves any
request, every write is acknowledged by a quorum of NATS servers first, and
every replica's revocation feed serves the same sequence numbers. A replica
whose NATS server lost its quorum refuses writes (503) rather than diverge.
The servers need JetStream enabled (nats-server -js, in a cluster).

Logs (JSON, with audit events for every mint, revocation, key rotation and
admin action) go to stderr; they never contain tokens, secrets or keys.
SIGINT or SIGTERM shut down gracefully.`,
		Example: `  # Start with a generated admin token (printed once)
  mandate authority serve

  # Production-like: fixed admin token, data folder, public address
  MANDATE_ADMIN_TOKEN="$(cat /run/secrets/mandate-admin)" \
    mandate authority serve --data /var/lib/mandate --addr 0.0.0.0:8421 \
      --issuer https://auth.example.com

  # One of several replicas on a 3-node NATS JetStream cluster
  MANDATE_ADMIN_TOKEN="$(cat /run/secrets/mandate-admin)" \
    mandate authority serve --addr 0.0.0.0:8421 \
      --store nats://nats1:4222,nats2:4222,nats3:4222 --nats-creds /run/secrets/mandate.creds`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			level, err := zerolog.ParseLevel(logLevel)
			if err != nil || logLevel == "" {
				return usagef(cmd, "--log-level %q: use debug, info, warn, error or disabled", logLevel)
			}
			if maxWait <= 0 || maxWait > 5*time.Minute {
				return usagef(cmd, "--max-wait %s: use a duration between 1s and 5m", maxWait)
			}
			if _, _, err := net.SplitHostPort(addr); err != nil {
				return usagef(cmd, "--addr %q: want HOST:PORT, such as 127.0.0.1:8421", addr)
			}
			logger := zerolog.New(cmd.ErrOrStderr()).Level(level).With().Timestamp().Str("service", "mandate-authority").Logger()
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()
			adminToken := os.Getenv("MANDATE_ADMIN_TOKEN")
			tokenOut := &watchWriter{w: cmd.ErrOrStderr()}
			var con *console.Console // set by Mount, unless --no-console
			var opts []authority.Option
			where := "data in " + dataDir
			if store != "" {
				if !strings.HasPrefix(store, "nats://") && !strings.HasPrefix(store, "tls://") {
					return usagef(cmd, "--store %q: give nats://host1,host2,host3 (or tls://…); leave it out for Badger in --data", clip(store))
				}
				if natsOpts.Replicas < 1 || natsOpts.Replicas > 5 {
					return usagef(cmd, "--nats-replicas %d: use 1 to 5 (3 in production)", natsOpts.Replicas)
				}
				natsOpts.Connect.Name = "mandate-authority " + addr
				s, err := natsstore.OpenStore(ctx, store, natsOpts)
				if err != nil {
					return err
				}
				opts = append(opts, authority.WithStore(s))
				where = fmt.Sprintf("state on NATS JetStream, stream %s, %d replicas", natsOpts.Stream, natsOpts.Replicas)
			}
			return authority.Serve(ctx, authority.ServeConfig{
				Config: authority.Config{
					DataDir:           dataDir,
					AdminToken:        adminToken,
					AdminTokenOutput:  tokenOut,
					Issuer:            issuer,
					MaxWait:           maxWait,
					Logger:            &logger,
					DecisionRetention: keep,
				},
				Addr:    addr,
				Options: opts,
				Mount: func(a *authority.Authority) ([]authority.Mount, error) {
					if noConsole {
						return nil, nil
					}
					c, err := newConsole(a, issuer)
					if err != nil {
						return nil, err
					}
					con = c
					return []authority.Mount{c.Mount()}, nil
				},
				// The OAuth 2.1 authorization server (MCP clients):
				// /oauth2/authorize, /oauth2/token, the scope catalog.
				Handler: func(a *authority.Authority, api http.Handler) (http.Handler, error) {
					oc := oauth.Config{Authority: a, Logger: &logger}
					if cimd || len(cimdHosts) > 0 {
						oc.CIMD = &oauth.CIMDConfig{AllowedHosts: cimdHosts}
					}
					if dcr {
						oc.Registration = &oauth.RegistrationConfig{}
					}
					if con != nil {
						// The consent page is a page of the console: one
						// sign-in, its session's CSRF token in the form.
						oc.Pages = consentPages(con.Web())
					}
					srv, err := oauth.New(ctx, oc)
					if err != nil {
						return nil, err
					}
					return srv.Handler(api), nil
				},
				Started: func(a *authority.Authority) {
					// Public: verifiers pin it (--trust-key); rotations
					// are endorsed by it, so the pin stays valid.
					if keys := a.Keys(); len(keys) > 0 {
						fmt.Fprintf(cmd.ErrOrStderr(), "mandate authority root public key (pin it in verifiers with --trust-key): %s\n", token.FormatPublicKey(keys[0].PublicKey))
					}
				},
				Ready: func(a net.Addr) {
					if adminToken == "" && !tokenOut.wrote {
						fmt.Fprintf(cmd.ErrOrStderr(), "mandate authority: the admin token is the one set before (only its hash is stored). %s\n", authority.AdminTokenResetHint(dataDir))
					}
					// The console line comes first: "listening on" is the
					// line scripts wait for, and everything is said by then.
					if !noConsole {
						fmt.Fprintf(cmd.ErrOrStderr(), "mandate console on %s/console/ (sign in as a person: mandate authority people add NAME --role admin)\n", consoleBase(issuer, a))
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "mandate authority listening on http://%s (%s)\n", a, where)
				},
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data", "./mandate-data", "data `DIR`: keys and database")
	f.StringVar(&addr, "addr", authority.DefaultAddr, "listen on `HOST:PORT`")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error or disabled")
	f.DurationVar(&maxWait, "max-wait", authority.DefaultMaxWait, "longest wait of a revocation feed long-poll")
	f.DurationVar(&keep, "decision-retention", 30*24*time.Hour, "keep shipped decisions this long in the decision log")
	f.StringVar(&issuer, "issuer", "", "public base `URL` for discovery metadata (default: from each request's Host)")
	f.BoolVar(&noConsole, "no-console", false, "do not serve the web console under /console/")
	f.BoolVar(&cimd, "oauth-client-metadata", false, "OAuth: accept Client ID Metadata Documents (client IDs that are https URLs, fetched from public addresses only)")
	f.StringSliceVar(&cimdHosts, "oauth-client-metadata-hosts", nil, "OAuth: accept Client ID Metadata Documents from these `HOSTS` only (such as claude.ai,*.example.com); implies --oauth-client-metadata")
	f.BoolVar(&dcr, "oauth-dynamic-registration", false, "OAuth: serve Dynamic Client Registration (RFC 7591) at /oauth2/register, rate limited to 10 a minute")
	f.StringVar(&store, "store", "", "keep all state on NATS JetStream at `URLS` (nats://host1,host2,host3) instead of Badger in --data")
	f.IntVar(&natsOpts.Replicas, "nats-replicas", natsstore.DefaultReplicas, "replication of the JetStream stream (3 in production; 1 for a single server)")
	f.StringVar(&natsOpts.Stream, "nats-stream", natsstore.DefaultStream, "`NAME` of the JetStream stream that holds the state")
	f.StringVar(&natsOpts.Connect.CredsFile, "nats-creds", "", "NATS credentials `FILE` (JWT and NKey seed)")
	f.StringVar(&natsOpts.Connect.NKeyFile, "nats-nkey", "", "NATS NKey seed `FILE`")
	f.StringVar(&natsOpts.Connect.TLSCA, "nats-tls-ca", "", "`PEM` file of the CA that signed the NATS servers' certificates")
	f.StringVar(&natsOpts.Connect.TLSCert, "nats-tls-cert", "", "client certificate `PEM` for mutual TLS with NATS")
	f.StringVar(&natsOpts.Connect.TLSKey, "nats-tls-key", "", "client key `PEM` for mutual TLS with NATS")
	return cmd
}

// watchWriter records whether anything was written through it.
type watchWriter struct {
	w     io.Writer
	wrote bool
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.wrote = true
	return w.w.Write(p)
}

func newAuthorityAdminTokenCmd() *cobra.Command {
	var dataDir string
	var reset bool
	cmd := &cobra.Command{
		Use:   "admin-token --reset [--data DIR]",
		Short: "Replace a lost admin token with a new one",
		Long: `Replace the authority's admin token with a new random one and print it,
alone, on stdout (only this once). The old token stops working. Only a
hash of the token is stored, so the current one can never be shown again.

Run it with the authority stopped (its database is locked while it runs),
as a user who can read and write the data folder: access to DIR, which
holds the root keys, is what authorizes it. Then start the authority as
usual.

To choose the token yourself instead, start the authority with
MANDATE_ADMIN_TOKEN set (at least 24 random characters): it replaces the
stored one.`,
		Example: `  # Stop the authority, then
  mandate authority admin-token --reset --data ./mandate-data > admin.token
  mandate authority serve --data ./mandate-data`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !reset {
				return usagef(cmd, "the admin token is stored hashed and cannot be shown again; pass --reset to replace it with a new one")
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			// The audit event of the change, as the authority would log it.
			logger := zerolog.New(cmd.ErrOrStderr()).Level(zerolog.InfoLevel).With().Timestamp().Str("service", "mandate-authority").Logger()
			tok, err := authority.ResetAdminToken(ctx, authority.Config{DataDir: dataDir, Logger: &logger})
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintln(cmd.OutOrStdout(), tok); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "mandate authority: replaced the admin token of the authority in %s; the new one is on stdout (shown only this once), the old one no longer works\n", dataDir)
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "./mandate-data", "the authority's data `DIR`")
	cmd.Flags().BoolVar(&reset, "reset", false, "generate a new admin token, store its hash and print it")
	return cmd
}

// newConsole builds the web console for a. Its cookies are Secure when the
// authority's public URL is https (a proxy terminates TLS).
func newConsole(a *authority.Authority, issuer string) (*console.Console, error) {
	return console.New(console.Config{Authority: a, Secure: strings.HasPrefix(issuer, "https://")})
}

// consoleMount is the console as the authority's mount.
func consoleMount(a *authority.Authority, issuer string) ([]authority.Mount, error) {
	c, err := newConsole(a, issuer)
	if err != nil {
		return nil, err
	}
	return []authority.Mount{c.Mount()}, nil
}

// consentPages serves the OAuth consent page on the console's web layer
// (oauth.Config.Pages): a person not signed in goes to the console's
// sign-in first and comes back; the form carries the session's CSRF token.
func consentPages(w *web.Web) func(oauth.PageFunc) http.Handler {
	return func(page oauth.PageFunc) http.Handler {
		return w.Page(func(rw http.ResponseWriter, r *web.Request) { page(rw, r.Request, &r.Person, r.CSRF) })
	}
}

// consoleBase is the base URL people reach the authority at: the issuer,
// or the listening address.
func consoleBase(issuer string, addr net.Addr) string {
	if issuer != "" {
		return strings.TrimRight(issuer, "/")
	}
	return "http://" + addr.String()
}
