package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mandate-dev/mandate/token"
)

func newInspectCmd(a *app) *cobra.Command {
	var asJSON bool
	var publicKeys []string
	var authority string
	cmd := &cobra.Command{
		Use:   "inspect [--json] [--public-key HEX]... [--authority URL] [TOKEN|-]",
		Short: "Show a token's blocks, rights, expiry and revocation IDs",
		Long: `Show what a token says: its subject and rights, every block's facts and
checks, its expiry, revocation IDs and root key ID. The token is the argument,
or stdin when the argument is "-" or absent.

Without --public-key nothing is verified, and the output says so: anyone can
write any rights into a token signed with a key of their own. With
--public-key (repeatable, 64 hex characters, optionally "ed25519/"-prefixed)
the signature chain must verify against one of the keys, or inspect fails.
inspect never checks revocation; "mandate verify --authority" does.

--authority URL also asks the authority how much of each usage limit the
token declares is used in its current window (POST /v1/limits/usage: the
token is the credential), and prints it after the token.

--json prints JSON with at least verified, root_key_id, revocation_ids (hex,
in block order), expires_at (the earliest expiry of any block), subject,
rights, blocks and limits, and with --authority usage.`,
		Example: `  mandate inspect < session.tok
  mandate inspect "$TOKEN"
  mandate mint --private-key key.pem --agent a --right 'service=s,tool=*,op=*,resource=' | mandate inspect

  # The revocation ID of the last block (what "revoke --token" revokes)
  mandate inspect --json < reader.tok | jq -r '.revocation_ids[-1]'

  # Fail unless the token verifies against a key
  mandate inspect --public-key "$(cat pub.hex)" < session.tok

  # How much of each usage limit is used
  mandate inspect --authority http://127.0.0.1:8421 < sub.tok`,
		Args: tokenArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			keys, err := parsePublicKeys(cmd, publicKeys)
			if err != nil {
				return err
			}
			tok, err := readToken(cmd, args)
			if err != nil {
				return err
			}
			u, err := token.ParseString(tok)
			if err != nil {
				return fmt.Errorf("%w; check that the whole token was copied", err)
			}
			in := token.Inspect(u)
			if keys != nil {
				v, err := u.Verify(keys, a.now())
				if err != nil {
					return fmt.Errorf("%w; the token was not signed by a --public-key key", err)
				}
				in = token.InspectVerified(v)
			}
			if authority == "" {
				return writeInspection(cmd.OutOrStdout(), in, asJSON)
			}
			c, err := a.newAuthClient(cmd, authority, "")
			if err != nil {
				return err
			}
			c.bearer = "" // the token is the credential
			var out struct {
				Limits []limitUsage `json:"limits"`
			}
			if err := c.do(cmd.Context(), http.MethodPost, "/v1/limits/usage", map[string]string{"token": tok}, &out); err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), struct {
					*token.Inspection
					Usage []limitUsage `json:"usage"`
				}{in, out.Limits})
			}
			if err := writeInspection(cmd.OutOrStdout(), in, false); err != nil {
				return err
			}
			return writeUsage(cmd.OutOrStdout(), out.Limits)
		},
	}
	cmd.Flags().StringVar(&authority, "authority", "", "also show the usage of the token's limits at the authority at `URL`")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of text")
	cmd.Flags().StringArrayVar(&publicKeys, "public-key", nil, "verify against this root public key, in `HEX` (repeatable)")
	return cmd
}

func writeInspection(w io.Writer, in *token.Inspection, asJSON bool) error {
	if !asJSON {
		_, err := io.WriteString(w, in.Text())
		return err
	}
	return writeJSON(w, in)
}

// writeJSON writes v as indented JSON and a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// parsePublicKeys reads --public-key values into a key set, or returns nil
// when there are none.
func parsePublicKeys(cmd *cobra.Command, hexKeys []string) (*token.KeySet, error) {
	if len(hexKeys) == 0 {
		return nil, nil
	}
	keys := make([]token.PublicKey, 0, len(hexKeys))
	for _, h := range hexKeys {
		pub, err := token.ParsePublicKey(h)
		if err != nil {
			return nil, usagef(cmd, "--public-key %q: %v (\"mandate keygen\" prints one; the authority serves them at /v1/keys)", clip(h), err)
		}
		keys = append(keys, token.PublicKey{ID: token.KeyID(pub), Key: pub})
	}
	return token.NewKeySet(keys...), nil
}

// limitUsage is one limit's usage as POST /v1/limits/usage answers it.
type limitUsage struct {
	LimitID  string `json:"limit_id"`
	Block    int    `json:"block"`
	Limit    string `json:"limit"`
	Max      int64  `json:"max"`
	ResetsAt string `json:"resets_at,omitempty"`
	Used     int64  `json:"used"`
	Spent    int64  `json:"spent"`
	Held     int64  `json:"held"`
	Leases   int    `json:"leases"`
}

// writeUsage prints usage per limit, one line each.
func writeUsage(w io.Writer, us []limitUsage) error {
	var b strings.Builder
	b.WriteString("\nusage at the authority (current window)\n")
	if len(us) == 0 {
		b.WriteString("  (the token declares no usage limit)\n")
	}
	for _, u := range us {
		fmt.Fprintf(&b, "  block %d: %s  used %s of %s", u.Block, u.Limit, strconv.FormatInt(u.Used, 10), strconv.FormatInt(u.Max, 10))
		if u.Held > 0 {
			fmt.Fprintf(&b, " (%d held unspent in %d verifier lease(s))", u.Held, u.Leases)
		}
		if u.ResetsAt != "" {
			fmt.Fprintf(&b, ", resets at %s", u.ResetsAt)
		} else {
			b.WriteString(", never resets")
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
