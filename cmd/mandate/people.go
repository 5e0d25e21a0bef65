package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"
)

// newPeopleCmd returns "mandate authority people": the named persons who
// sign in to the console and approve calls.
func newPeopleCmd(a *app) *cobra.Command {
	var authority, authToken string
	cmd := &cobra.Command{
		Use:   "people (add|list|remove|reset) --authority URL [--auth-token T]",
		Short: "Manage the people who approve calls and use the console",
		Long: `People are named persons with their own credentials, created by the admin.
Each has a role:

  admin     sees and does everything, and may approve for every org
  approver  sees the orgs it is given (--org) and approves their calls
  viewer    sees the orgs it is given (--org) and changes nothing

A person's credential ("mp_…") is printed once, when the person is added or
the credential is reset; the authority keeps only its hash. Give it to the
person: it is their sign-in secret for the console and their bearer
credential for "mandate approval approve". The admin token is not a person:
approving a call takes a person's credential.

Every subcommand needs the admin token: --auth-token, or $MANDATE_TOKEN.`,
		Example: `  export MANDATE_TOKEN=$ADMIN_TOKEN
  mandate authority people add alice@acme.test --role approver --org acme --authority http://127.0.0.1:8421
  mandate authority people list --authority http://127.0.0.1:8421
  mandate authority people reset alice@acme.test --authority http://127.0.0.1:8421
  mandate authority people remove alice@acme.test --authority http://127.0.0.1:8421`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&authority, "authority", "", "the authority's base `URL`, e.g. http://127.0.0.1:8421 (required)")
	pf.StringVar(&authToken, "auth-token", "", "the admin `TOKEN` (default $"+envToken+", which keeps it out of the process list)")

	client := func(cmd *cobra.Command) (*authClient, error) {
		if authority == "" {
			return nil, usagef(cmd, "--authority URL is required")
		}
		return a.newAuthClient(cmd, authority, authToken)
	}
	print := func(cmd *cobra.Command, answer json.RawMessage) error {
		if err := writeJSON(cmd.OutOrStdout(), answer); err != nil {
			return fmt.Errorf("print the answer: %w", err)
		}
		return nil
	}
	oneName := func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usagef(cmd, "give the person's name, e.g. alice@acme.test")
		}
		return nil
	}

	var role string
	var orgs []string
	add := &cobra.Command{
		Use:   "add NAME --role admin|approver|viewer [--org ORG]...",
		Short: "Add a person and print its credential, once",
		Long: `Add a person with a role. An approver approves the calls of the orgs it is
given (--org, repeatable; '*' for every org), a viewer sees them; an admin has
every org and takes no --org. The answer is JSON with the person's credential
("mp_…"), printed this once: hand it to the person.`,
		Example: `  mandate authority people add alice@acme.test --role approver --org acme --authority http://127.0.0.1:8421
  mandate authority people add root@acme.test --role admin --authority http://127.0.0.1:8421`,
		Args: oneName,
		RunE: func(cmd *cobra.Command, args []string) error {
			if role == "" {
				return usagef(cmd, "--role is required: admin, approver or viewer")
			}
			c, err := client(cmd)
			if err != nil {
				return err
			}
			var answer json.RawMessage
			if err := c.do(cmd.Context(), http.MethodPost, "/v1/people", map[string]any{"name": args[0], "role": role, "orgs": orgs}, &answer); err != nil {
				return err
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "The credential is shown only now: hand it to the person (it signs in to the console and approves calls).")
			return print(cmd, answer)
		},
	}
	add.Flags().StringVar(&role, "role", "", "the person's `ROLE`: admin, approver or viewer")
	add.Flags().StringArrayVar(&orgs, "org", nil, "an `ORG` an approver approves for or a viewer sees (repeat; '*' for every org)")

	list := &cobra.Command{
		Use:     "list",
		Short:   "List people (never their credentials)",
		Long:    "List every person with its role and orgs, as JSON. Credentials are never shown again.",
		Example: "  mandate authority people list --authority http://127.0.0.1:8421",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client(cmd)
			if err != nil {
				return err
			}
			var answer json.RawMessage
			if err := c.do(cmd.Context(), http.MethodGet, "/v1/people", nil, &answer); err != nil {
				return err
			}
			return print(cmd, answer)
		},
	}
	remove := &cobra.Command{
		Use:     "remove NAME",
		Short:   "Remove a person: its credential stops working at once",
		Long:    "Remove a person. Its credential stops working at once; its past decisions stay in the audit trail under its name.",
		Example: "  mandate authority people remove alice@acme.test --authority http://127.0.0.1:8421",
		Args:    oneName,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client(cmd)
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), http.MethodDelete, "/v1/people/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", args[0])
			return nil
		},
	}
	reset := &cobra.Command{
		Use:     "reset NAME",
		Short:   "Give a person a new credential (printed once); the old one stops working",
		Long:    "Replace a person's credential, for a lost or leaked one. The new credential is printed once; the old one stops working at once.",
		Example: "  mandate authority people reset alice@acme.test --authority http://127.0.0.1:8421",
		Args:    oneName,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client(cmd)
			if err != nil {
				return err
			}
			var answer json.RawMessage
			if err := c.do(cmd.Context(), http.MethodPost, "/v1/people/"+url.PathEscape(args[0])+"/reset", nil, &answer); err != nil {
				return err
			}
			return print(cmd, answer)
		},
	}
	cmd.AddCommand(add, list, remove, reset)
	for _, c := range cmd.Commands() {
		c.DisableFlagsInUseLine = true
	}
	return cmd
}
