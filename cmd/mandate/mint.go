package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mandate-dev/mandate/token"
)

// mintBody is the JSON body of POST /v1/tokens.
type mintBody struct {
	Agent      string        `json:"agent"`
	User       string        `json:"user,omitempty"`
	Org        string        `json:"org,omitempty"`
	Session    string        `json:"session,omitempty"`
	Rights     []token.Right `json:"rights"`
	TTLSeconds int64         `json:"ttl_seconds"`
	Limits     []string      `json:"limits,omitempty"`
	// RequireApproval: calls that always need a person's approval.
	RequireApproval []token.ApprovalRequirement `json:"require_approval,omitempty"`
}

// mintAnswer is the 201 answer of POST /v1/tokens.
type mintAnswer struct {
	Token         string          `json:"token"`
	Session       string          `json:"session"`
	RevocationIDs []string        `json:"revocation_ids"`
	ExpiresAt     time.Time       `json:"expires_at"`
	KeyID         json.RawMessage `json:"key_id"`
}

func newMintCmd(a *app) *cobra.Command {
	var (
		privateKey, authority, authToken string
		subject                          token.Subject
		rights                           []string
		ttl                              time.Duration
		verbose, quiet                   bool
		limitSpecs                       []string
		approvals, approvers             []string
		orgApprovers                     bool
	)
	cmd := &cobra.Command{
		Use:   "mint (--private-key FILE | --authority URL [--auth-token T]) --agent A --right service=S,tool=T,op=O,resource=R ... [--require-approval TOOL[:ARG>N]]... [--approver NAME]... [--org-approvers]",
		Short: "Mint a session token, offline with a key file or through the authority",
		Long: `Mint a session token for one agent and print it alone on stdout.

Offline, --private-key signs with a key file (see "mandate keygen"); nothing
is recorded anywhere, so such tokens can only be revoked by revocation ID.
Online, --authority asks the authority (POST /v1/tokens), which checks the
request against your client's ceiling and records the session; the bearer
credential is --auth-token or, if absent, $MANDATE_TOKEN.

Each --right grants one operation through one tool of a service on every
resource that starts with the given prefix. It takes exactly the four keys
service, tool, op and resource, separated by commas (values cannot contain
commas). tool and op may be "*" for any; resource= (empty) means every
resource. A prefix is a plain string prefix: "repo:acme/web" also covers
"repo:acme/website", so end it with a separator ("repo:acme/web/") to grant
one subtree only.

--require-approval TOOL or TOOL:ARG>N (repeatable) makes those calls need a
person's approval for the whole session (a check of the authority block, which
no delegate can lift); --approver NAME (repeatable) and --org-approvers say who
may approve, as for "mandate attenuate".

--ttl is at most 24h (the authority may allow less).

--limit (repeatable) adds a usage limit to the authority block: every call of
the session, by this token and every token attenuated from it, counts (see
"mandate attenuate --help" for the forms, such as send_email:calls=20/1h).

The token goes alone to stdout, so that it can be piped or redirected. What
you need next goes to stderr: the session (and, online, the command that
revokes it), the expiry and the revocation ID of each block. --verbose adds
the root key ID; --quiet prints nothing on stderr but errors.`,
		Example: `  # Offline, with a key from "mandate keygen --out key.pem"
  mandate mint --private-key key.pem --agent support-bot --user alice@acme.test --org acme \
      --right 'service=crm,tool=get_account,op=read,resource=account:acme/42' \
      --right 'service=crm,tool=*,op=read,resource=invoice:acme/' --ttl 10m > session.tok

  # Through the authority, with a client secret in $MANDATE_TOKEN
  export MANDATE_TOKEN=...
  mandate mint --authority http://127.0.0.1:8421 --agent orchestrator --user alice@acme.test \
      --right 'service=github,tool=*,op=*,resource=repo:acme/' > session.tok
  # stderr: session: CLIENT/s_...; to revoke it: mandate revoke --authority ... --session CLIENT/s_...`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case privateKey == "" && authority == "":
				return usagef(cmd, "give --private-key FILE (offline) or --authority URL")
			case privateKey != "" && authority != "":
				return usagef(cmd, "give --private-key or --authority, not both")
			case privateKey != "" && authToken != "":
				return usagef(cmd, "--auth-token is for --authority; an offline mint needs only --private-key")
			case subject.Agent == "":
				return usagef(cmd, "--agent is required (the agent the token is for)")
			case len(rights) == 0:
				return usagef(cmd, "at least one --right service=S,tool=T,op=O,resource=R is required")
			case verbose && quiet:
				return usagef(cmd, "give --verbose or --quiet, not both")
			case ttl < time.Second:
				return usagef(cmd, "--ttl %s: must be at least 1s", ttl)
			case ttl > token.MaxTTL:
				return usagef(cmd, "--ttl %s: over the maximum of %s; mint again when it expires", ttl, token.MaxTTL)
			}
			reqs, err := approvalRequirements(cmd, approvals, approvers, orgApprovers)
			if err != nil {
				return err
			}
			rs := make([]token.Right, 0, len(rights))
			for _, s := range rights {
				r, err := parseRight(s)
				if err != nil {
					return usagef(cmd, "--right %q: %v", s, err)
				}
				rs = append(rs, r)
			}
			lims, err := parseLimitFlags(cmd, limitSpecs)
			if err != nil {
				return err
			}
			var m mintAnswer
			if privateKey != "" {
				priv, err := readPrivateKeyFile(privateKey)
				if err != nil {
					return err
				}
				minted, err := token.Mint(token.NewSigningKey(priv), token.MintRequest{Subject: subject, Rights: rs, TTL: ttl, Limits: lims, Now: a.now(), RequireApproval: reqs})
				if errors.Is(err, token.ErrBadRequest) {
					return usagef(cmd, "%v", err)
				}
				if err != nil {
					return err
				}
				m = mintAnswer{Token: minted.Token, Session: minted.Subject.Session, ExpiresAt: minted.ExpiresAt, KeyID: json.RawMessage(fmt.Sprint(minted.KeyID))}
				for _, id := range minted.RevocationIDs {
					m.RevocationIDs = append(m.RevocationIDs, hex.EncodeToString(id))
				}
			} else {
				c, err := a.newAuthClient(cmd, authority, authToken)
				if err != nil {
					return err
				}
				if c.bearer == "" {
					return usagef(cmd, "--authority needs a credential: pass --auth-token or set %s", envToken)
				}
				body := mintBody{Agent: subject.Agent, User: subject.User, Org: subject.Org, Session: subject.Session, Rights: rs, TTLSeconds: int64(ttl / time.Second), Limits: limitSpecs, RequireApproval: reqs}
				if err := c.do(cmd.Context(), http.MethodPost, "/v1/tokens", body, &m); err != nil {
					return err
				}
				if m.Token == "" {
					return errors.New("the authority answered 201 without a token; is --authority a mandate authority?")
				}
			}
			if _, err := fmt.Fprintln(cmd.OutOrStdout(), m.Token); err != nil {
				return err
			}
			if !quiet {
				writeMintSummary(cmd.ErrOrStderr(), m, authority, verbose)
			}
			return nil
		},
	}
	f := cmd.Flags()
	approvalFlags(cmd, &approvals, &approvers, &orgApprovers)
	f.StringVar(&privateKey, "private-key", "", "sign offline with the Ed25519 private key in `FILE`, as \"mandate keygen --out FILE\" writes it (not the public key it prints)")
	f.StringVar(&authority, "authority", "", "mint through the authority at `URL`, e.g. http://127.0.0.1:8421")
	f.StringVar(&authToken, "auth-token", "", "bearer `TOKEN` for --authority (default $"+envToken+", which keeps it out of the process list)")
	f.StringVar(&subject.Agent, "agent", "", "the agent `NAME` the token is for (required)")
	f.StringVar(&subject.User, "user", "", "the `USER` the agent acts for")
	f.StringVar(&subject.Org, "org", "", "the organisation, `ORG`")
	f.StringVar(&subject.Session, "session", "", "session `ID` to join or name (default: a new one); through an authority a client's sessions are scoped to it: NAME means CLIENT/NAME")
	f.StringArrayVar(&rights, "right", nil, "grant a `RIGHT`: service=S,tool=T,op=O,resource=R (repeatable)")
	f.DurationVar(&ttl, "ttl", 15*time.Minute, "lifetime of the token, at most 24h")
	f.StringArrayVar(&limitSpecs, "limit", nil, "a usage limit of the whole session: `TOOL:calls=N[/WINDOW]` or TOOL:ARG=N[/WINDOW], as for \"mandate attenuate --limit\" (repeatable)")
	f.BoolVarP(&verbose, "verbose", "v", false, "also print the root key ID on stderr")
	f.BoolVarP(&quiet, "quiet", "q", false, "print nothing on stderr but errors (no session, expiry or revocation IDs)")
	return cmd
}

// parseRight reads "service=S,tool=T,op=O,resource=R": exactly these four
// keys, each once, in any order.
func parseRight(s string) (token.Right, error) {
	var r token.Right
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return r, fmt.Errorf("%q is not key=value (want service=S,tool=T,op=O,resource=R)", part)
		}
		if seen[k] {
			return r, fmt.Errorf("key %q is given twice", k)
		}
		seen[k] = true
		switch k {
		case "service":
			r.Service = v
		case "tool":
			r.Tool = v
		case "op":
			r.Operation = v
		case "resource":
			r.Resource = v
		default:
			return r, fmt.Errorf("unknown key %q (want service, tool, op and resource)", k)
		}
	}
	var missing []string
	for _, k := range []string{"service", "tool", "op", "resource"} {
		if !seen[k] {
			missing = append(missing, k)
		}
	}
	switch {
	case len(missing) == 1 && missing[0] == "resource":
		return r, errors.New("missing resource (resource= with nothing after it means every resource)")
	case len(missing) > 0:
		return r, fmt.Errorf("missing %s", strings.Join(missing, ", "))
	case r.Service == "":
		return r, errors.New("service is empty")
	case r.Service == token.Wildcard:
		return r, errors.New("service cannot be \"*\"; grant each service separately")
	case r.Tool == "":
		return r, errors.New("tool is empty (use tool=* for any tool)")
	case r.Operation == "":
		return r, errors.New("op is empty (use op=* for any operation)")
	}
	return r, nil
}

// writeMintSummary prints on w (stderr) what the user of a minted token
// needs next: the session and how to revoke it, the expiry and the
// revocation IDs. The token itself is never printed here.
func writeMintSummary(w io.Writer, m mintAnswer, authority string, verbose bool) {
	fmt.Fprintf(w, "session: %s\n", m.Session)
	if authority != "" {
		fmt.Fprintf(w, "to revoke the session: mandate revoke --authority %s --session %s\n", shellWord(strings.TrimRight(authority, "/")), shellWord(m.Session))
	} else {
		fmt.Fprintf(w, "(minted offline: no authority recorded the session; revoke by revocation ID)\n")
	}
	fmt.Fprintf(w, "expires at: %s\n", m.ExpiresAt.UTC().Format(time.RFC3339))
	for i, id := range m.RevocationIDs {
		fmt.Fprintf(w, "revocation ID of block %d: %s\n", i, id)
	}
	if verbose {
		fmt.Fprintf(w, "key ID: %s\n", m.KeyID)
	}
}

// readPrivateKeyFile reads the key file of an offline mint. It accepts what
// "mandate keygen --out" writes (PEM PKCS#8), "openssl genpkey -algorithm
// ed25519" output, a 64-byte Ed25519 private key in hex (whose public half
// must match its seed), and a 32-byte seed in hex only when it is prefixed
// "ed25519-private/" as the Biscuit CLI writes it.
//
// A bare 32-byte hex value is refused: it is exactly what "mandate keygen"
// prints as the public key (pub.hex), and read as a seed it would sign
// tokens with a key that nobody trusts. So is any public key form.
func readPrivateKeyFile(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--private-key: %w; create one with \"mandate keygen --out %s\"", err, path)
	}
	const useKeyPEM = "pass the private key file that \"mandate keygen --out FILE\" wrote (PEM, \"-----BEGIN PRIVATE KEY-----\"); the public key is for verify --public-key"
	text := strings.TrimSpace(string(data))
	switch {
	case strings.HasPrefix(text, "-----BEGIN PUBLIC KEY-----"):
		return nil, fmt.Errorf("--private-key %s holds a public key (PEM PUBLIC KEY); %s", path, useKeyPEM)
	case strings.HasPrefix(text, token.PublicKeyPrefix):
		return nil, fmt.Errorf("--private-key %s holds a public key (%q prefix); %s", path, token.PublicKeyPrefix, useKeyPEM)
	case len(text) == 2*ed25519.PublicKeySize && isHex(text):
		return nil, fmt.Errorf("--private-key %s holds 32 bytes of hex: that is a public key, as \"mandate keygen\" prints it on stdout; %s (a 32-byte seed in hex must be written \"ed25519-private/<hex>\")", path, useKeyPEM)
	}
	priv, err := token.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("--private-key %s: %w; create one with \"mandate keygen --out FILE\"", path, err)
	}
	return priv, nil
}

// isHex reports whether s is made of hex digits only.
func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
