package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/spf13/cobra"
)

func newRevokeCmd(a *app) *cobra.Command {
	var authority, authToken, tok, revocationID, session string
	cmd := &cobra.Command{
		Use:   "revoke --authority URL [--auth-token T] (--token T | --revocation-id HEX | --session S)",
		Short: "Revoke a token, one block by revocation ID, or a whole session",
		Long: `Revoke through the authority (POST /v1/revocations) and print what was
revoked, as the authority's JSON. Every verifier following the authority
denies the revoked tokens within a second. Revoking is idempotent.

  --token T           revokes the token's last block: that token and every
                      token attenuated from it stop working; the tokens it
                      was attenuated from keep working. Holding the token is
                      enough: no credential is needed. "--token -" reads it
                      from stdin.
  --revocation-id HEX revokes one block by its revocation ID (see
                      "mandate inspect --json"), and every token that
                      contains that block.
  --session S         revokes every token of a session.

--revocation-id and --session need the admin token or the credential of the
client that minted the token: --auth-token, or $MANDATE_TOKEN.`,
		Example: `  # A sub-agent's token: it and its descendants stop, its parent keeps working
  mandate revoke --authority http://127.0.0.1:8421 --token - < reader.tok

  # A whole session
  MANDATE_TOKEN=... mandate revoke --authority http://127.0.0.1:8421 --session s_abc123

  # One block by revocation ID
  mandate revoke --authority http://127.0.0.1:8421 --auth-token "$ADMIN" \
      --revocation-id "$(mandate inspect --json < reader.tok | jq -r '.revocation_ids[-1]')"`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			n := 0
			for _, s := range []string{tok, revocationID, session} {
				if s != "" {
					n++
				}
			}
			switch {
			case authority == "":
				return usagef(cmd, "--authority URL is required")
			case n == 0:
				return usagef(cmd, "say what to revoke: --token T, --revocation-id HEX or --session S")
			case n > 1:
				return usagef(cmd, "give only one of --token, --revocation-id and --session")
			}
			body := map[string]string{}
			switch {
			case tok != "":
				if tok == "-" {
					t, err := readStdinToken(cmd, "--token")
					if err != nil {
						return err
					}
					tok = t
				}
				body["token"] = strings.TrimSpace(tok)
			case revocationID != "":
				id := strings.ToLower(strings.TrimSpace(revocationID))
				if b, err := hex.DecodeString(id); err != nil || len(b) == 0 {
					return usagef(cmd, "--revocation-id %q: want hex, as \"mandate inspect --json\" prints revocation_ids", clip(revocationID))
				}
				body["revocation_id"] = id
			default:
				body["session"] = session
			}
			c, err := a.newAuthClient(cmd, authority, authToken)
			if err != nil {
				return err
			}
			var answer json.RawMessage
			if err := c.do(cmd.Context(), http.MethodPost, "/v1/revocations", body, &answer); err != nil {
				return err
			}
			if err := writeJSON(cmd.OutOrStdout(), answer); err != nil {
				return fmt.Errorf("print the answer: %w", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&authority, "authority", "", "the authority's base `URL`, e.g. http://127.0.0.1:8421 (required)")
	f.StringVar(&authToken, "auth-token", "", "bearer `TOKEN` (default $"+envToken+", which keeps it out of the process list); not needed with --token")
	f.StringVar(&tok, "token", "", "revoke the last block of `TOKEN` (\"-\" reads it from stdin)")
	f.StringVar(&revocationID, "revocation-id", "", "revoke the block with this revocation ID, in `HEX`")
	f.StringVar(&session, "session", "", "revoke every token of the session `S`")
	return cmd
}
