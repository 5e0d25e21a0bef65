package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/spf13/cobra"
)

func newRevokeCmd(a *app) *cobra.Command {
	var authority, authToken, tok, revocationID, session string
	cmd := &cobra.Command{
		Use:   "revoke --authority URL [--auth-token T] ([TOKEN|-] | --token T | --revocation-id HEX | --session S)",
		Short: "Revoke a token, one block by revocation ID, or a whole session",
		Long: `Revoke through the authority (POST /v1/revocations) and print what was
revoked, as the authority's JSON. Every verifier following the authority
denies the revoked tokens within a second. Revoking is idempotent.

  TOKEN | -           (the default) revokes the token's last block: that
                      token and every token attenuated from it stop
                      working; the tokens it was attenuated from keep
                      working. Holding the token is enough: no credential
                      is needed. Like every command, revoke takes the token
                      as the argument, or reads it from stdin when the
                      argument is "-" or absent. --token T (or "--token -")
                      says the same.
  --revocation-id HEX revokes one block by its revocation ID (see
                      "mandate inspect --json"), and every token that
                      contains that block.
  --session S         revokes every token of a session ("mandate mint"
                      prints the session on stderr).

--revocation-id and --session need the admin token or the credential of the
client that minted the token: --auth-token, or $MANDATE_TOKEN.`,
		Example: `  # A sub-agent's token: it and its descendants stop, its parent keeps working
  mandate revoke --authority http://127.0.0.1:8421 < reader.tok

  # A whole session
  MANDATE_TOKEN=... mandate revoke --authority http://127.0.0.1:8421 --session s_abc123

  # One block by revocation ID
  mandate revoke --authority http://127.0.0.1:8421 --auth-token "$ADMIN" \
      --revocation-id "$(mandate inspect --json < reader.tok | jq -r '.revocation_ids[-1]')"`,
		Args: tokenArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			tokenGiven := cmd.Flags().Changed("token")
			n := 0
			for _, given := range []bool{tokenGiven, len(args) == 1, revocationID != "", session != ""} {
				if given {
					n++
				}
			}
			switch {
			case authority == "":
				return usagef(cmd, "--authority URL is required")
			case n > 1:
				return usagef(cmd, "give only one of a token (argument or --token), --revocation-id and --session")
			case tokenGiven && tok == "":
				return usagef(cmd, "--token is empty; pass the token, or \"-\" to read it from stdin")
			}
			body := map[string]string{}
			switch {
			case revocationID != "":
				id := strings.ToLower(strings.TrimSpace(revocationID))
				if b, err := hex.DecodeString(id); err != nil || len(b) == 0 {
					return usagef(cmd, "--revocation-id %q: want hex, as \"mandate inspect --json\" prints revocation_ids", clip(revocationID))
				}
				body["revocation_id"] = id
			case session != "":
				body["session"] = session
			default:
				var err error
				switch {
				case tokenGiven:
					tok, err = readTokenValue(cmd, tok, "--token")
				case len(args) == 1:
					tok, err = readToken(cmd, args)
				default:
					// Nothing named: a token on stdin, as for every
					// other command.
					tok, err = readStdinToken(cmd, "")
					if errors.Is(err, errNoToken) {
						return usagef(cmd, "say what to revoke: a token (as the argument, or piped on stdin), --revocation-id HEX or --session S")
					}
				}
				if err != nil {
					return err
				}
				body["token"] = tok
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
	f.StringVar(&tok, "token", "", "revoke the last block of `TOKEN` (\"-\" reads it from stdin; the same as the argument)")
	f.StringVar(&revocationID, "revocation-id", "", "revoke the block with this revocation ID, in `HEX`")
	f.StringVar(&session, "session", "", "revoke every token of the session `S`")
	return cmd
}
