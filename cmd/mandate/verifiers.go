package main

import (
	"fmt"
	"net/url"
	"time"

	"github.com/spf13/cobra"
)

// newAuthorityVerifierCmd returns "mandate authority verifier": the
// credentials verifiers ship their decisions with.
func newAuthorityVerifierCmd(a *app) *cobra.Command {
	var authority, authToken string
	cmd := &cobra.Command{
		Use:   "verifier (add NAME | list | delete NAME) --authority URL [--auth-token ADMIN]",
		Short: "Manage verifier credentials (decision shipping)",
		Long: `A verifier (a tool server embedding mandate's verifier) ships its decisions
to the authority's decision log with a credential of its own, never a client
secret or the admin token. The admin manages them through the authority's
API (POST/GET/DELETE /v1/verifiers): --auth-token, or $MANDATE_TOKEN, is the
admin token.

  add NAME     creates a credential and prints it once on stdout (only its
               hash is stored): give it to the tool server, e.g. as
               MANDATE_VERIFIER_CREDENTIAL.
  list         lists the verifiers (names and creation times).
  delete NAME  deletes one: its credential stops working at once.`,
		Example: `  export MANDATE_TOKEN="$ADMIN"
  mandate authority verifier add crm-tools --authority http://127.0.0.1:8421 > crm-tools.cred
  mandate authority verifier list --authority http://127.0.0.1:8421
  mandate authority verifier delete crm-tools --authority http://127.0.0.1:8421`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 0:
				return usagef(cmd, "give add NAME, list or delete NAME")
			case args[0] == "list" && len(args) == 1:
			case (args[0] == "add" || args[0] == "delete") && len(args) == 2:
			default:
				return usagef(cmd, "give add NAME, list or delete NAME")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if authority == "" {
				return usagef(cmd, "--authority URL is required")
			}
			c, err := a.newAuthClient(cmd, authority, authToken)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			switch args[0] {
			case "add":
				var ans struct {
					Name       string `json:"name"`
					Credential string `json:"credential"`
				}
				if err := c.do(ctx, "POST", "/v1/verifiers", map[string]string{"name": args[1]}, &ans); err != nil {
					return err
				}
				fmt.Fprintln(out, ans.Credential)
				fmt.Fprintf(cmd.ErrOrStderr(), "verifier %s: its credential is printed above, only this once; the tool server ships decisions with it (decisionlog.Config.Credential)\n", ans.Name)
			case "list":
				var ans struct {
					Verifiers []struct {
						Name      string    `json:"name"`
						CreatedAt time.Time `json:"created_at"`
					} `json:"verifiers"`
				}
				if err := c.do(ctx, "GET", "/v1/verifiers", nil, &ans); err != nil {
					return err
				}
				for _, v := range ans.Verifiers {
					fmt.Fprintf(out, "%s\t%s\n", v.Name, v.CreatedAt.UTC().Format(time.RFC3339))
				}
			case "delete":
				if err := c.do(ctx, "DELETE", "/v1/verifiers/"+url.PathEscape(args[1]), nil, nil); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "verifier %s deleted: its credential no longer works\n", args[1])
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&authority, "authority", "", "the authority's base `URL`")
	f.StringVar(&authToken, "auth-token", "", "the admin `TOKEN` (default $"+envToken+")")
	return cmd
}
