package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

const approvalLong = `A token can require a person's approval for some calls ("mandate attenuate
--require-approval refund:amount>100"): the verifier denies such a call with
approval_required and the call's digest until the agent retries it with an
approval of that very call. These commands are the loop at the authority:

  1. The agent asks:     mandate approval request (with its own token)
  2. A person decides:   mandate approval list, then approve or deny
                         (with the person's credential, mp_…, which the
                         admin creates with "mandate authority people add")
  3. The agent waits:    mandate approval wait ID (with its token): it prints
                         the approval once approved
  4. The agent retries the call with the approval: the Mandate-Approval
     HTTP header, the MCP call's _meta["dev.mandate/approval"], or
     "mandate verify --approval". The verifier checks it offline and redeems
     it once at the authority.

An approval binds one call (service, tool, operation, resource and every
argument), one session and the token it was asked with (and its delegates);
it is never a token itself. Credentials come from --auth-token or
$MANDATE_TOKEN; the agent's token from the argument or stdin.`

func newApprovalCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "approval (request|list|approve|deny|wait)",
		Short: "Ask a person to approve one call, decide, and wait for the approval",
		Long:  approvalLong,
		Example: `  # The agent asks (its token on stdin) and waits for the decision
  id=$(mandate approval request --authority http://127.0.0.1:8421 \
         --service payments --tool refund --op write --resource order:acme/7 \
         --arg amount=500 --note "customer called twice" < refunder.tok | jq -r .id)

  # A person sees the pending requests of their orgs and approves one
  MANDATE_TOKEN=mp_... mandate approval list --authority http://127.0.0.1:8421
  MANDATE_TOKEN=mp_... mandate approval approve "$id" --authority http://127.0.0.1:8421 --comment "ok"

  # The agent receives the approval and retries with it
  approval=$(mandate approval wait "$id" --authority http://127.0.0.1:8421 < refunder.tok)
  mandate verify --authority http://127.0.0.1:8421 --trust-key "$ROOT" --service payments \
      --tool refund --op write --resource order:acme/7 --arg amount=500 --approval "$approval" < refunder.tok`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newApprovalRequestCmd(a), newApprovalListCmd(a), newApprovalDecideCmd(a, true), newApprovalDecideCmd(a, false), newApprovalWaitCmd(a))
	for _, c := range cmd.Commands() {
		c.DisableFlagsInUseLine = true
	}
	return cmd
}

func newApprovalRequestCmd(a *app) *cobra.Command {
	var (
		authority, service, tool, op, resource, note, argsJSON string
		argFlags                                               []string
		maxUses                                                int
		ttl                                                    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "request --authority URL --service S --tool T --op O [--resource R] [--arg NAME=VALUE]... [--args JSON] [--note TEXT] [--max-uses N] [--ttl D] [TOKEN|-]",
		Short: "Ask for a person's approval of one call (as the agent, with its token)",
		Long: `Ask the authority (POST /v1/approvals) for a person's approval of one call,
with the agent's own token: the one it will make the call with (the argument,
or stdin). Describe the call exactly as the agent will make it, every
argument included: the approval binds the call's digest, so a call with
another argument is not approved.

The authority verifies the token and refuses, saying why, a call the token
allows without approval or could never make even with one. It prints the
request as JSON (its "id" is what "approval wait" and the approvers need).`,
		Example: `  mandate approval request --authority http://127.0.0.1:8421 --service payments --tool refund \
      --op write --resource order:acme/7 --arg amount=500 < refunder.tok`,
		Args: tokenArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case authority == "":
				return usagef(cmd, "--authority URL is required")
			case service == "" || tool == "" || op == "":
				return usagef(cmd, "--service, --tool and --op are required: describe the call exactly as the agent will make it")
			case maxUses < 0:
				return usagef(cmd, "--max-uses must be positive")
			case ttl < 0:
				return usagef(cmd, "--ttl must be positive")
			}
			callArgs, err := parseArgs(argFlags, argsJSON)
			if err != nil {
				return usagef(cmd, "%v", err)
			}
			for name, v := range callArgs {
				if _, ok := v.(time.Time); ok {
					return usagef(cmd, "--arg %s: a date argument cannot be sent to the authority as JSON; pass it as a string or integer the tool accepts", name)
				}
			}
			tok, err := readToken(cmd, args)
			if err != nil {
				return err
			}
			c, err := a.newAuthClient(cmd, authority, tok)
			if err != nil {
				return err
			}
			body := map[string]any{"service": service, "tool": tool, "operation": op, "resource": resource, "args": callArgs,
				"note": note, "max_uses": maxUses, "ttl_seconds": int64(ttl / time.Second)}
			var answer json.RawMessage
			if err := c.do(cmd.Context(), http.MethodPost, "/v1/approvals", body, &answer); err != nil {
				return err
			}
			return writeJSON(cmd.OutOrStdout(), answer)
		},
	}
	f := cmd.Flags()
	f.StringVar(&authority, "authority", "", "the authority's base `URL`, e.g. http://127.0.0.1:8421 (required)")
	f.StringVar(&service, "service", "", "the call's `SERVICE` (required)")
	f.StringVar(&tool, "tool", "", "the call's `TOOL` (required)")
	f.StringVar(&op, "op", "", "the call's `OPERATION` (required)")
	f.StringVar(&resource, "resource", "", "the one `RESOURCE` the call touches")
	f.StringArrayVar(&argFlags, "arg", nil, "a tool argument, `NAME=VALUE` (repeatable): integer, true/false or string")
	f.StringVar(&argsJSON, "args", "", "tool arguments as a `JSON` object")
	f.StringVar(&note, "note", "", "why the agent needs it, for the approver (`TEXT`)")
	f.IntVar(&maxUses, "max-uses", 0, "how many calls the approval allows (`N`, default 1)")
	f.DurationVar(&ttl, "ttl", 0, "how long the request waits for a person (`DURATION`, default 15m)")
	return cmd
}

func newApprovalListCmd(a *app) *cobra.Command {
	var authority, authToken, status, session string
	cmd := &cobra.Command{
		Use:   "list --authority URL [--auth-token T] [--status pending|approved|denied|expired|revoked|all] [--session S]",
		Short: "List approval requests (an approver sees their orgs', the admin all)",
		Long: `List approval requests as JSON (GET /v1/approvals), newest first: by default
the pending ones. A person (credential mp_…) sees the requests of the orgs
they approve or view; the admin token sees all; a client the sessions it
minted; an agent's token its own session's.`,
		Example: `  MANDATE_TOKEN=mp_... mandate approval list --authority http://127.0.0.1:8421
  mandate approval list --authority http://127.0.0.1:8421 --auth-token "$ADMIN" --status all --session s_abc`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if authority == "" {
				return usagef(cmd, "--authority URL is required")
			}
			q := url.Values{}
			switch status {
			case "all":
			case "pending", "approved", "denied", "expired", "revoked":
				q.Set("status", status)
			default:
				return usagef(cmd, "--status %q: want pending, approved, denied, expired, revoked or all", clip(status))
			}
			if session != "" {
				q.Set("session", session)
			}
			c, err := a.newAuthClient(cmd, authority, authToken)
			if err != nil {
				return err
			}
			var answer json.RawMessage
			if err := c.do(cmd.Context(), http.MethodGet, "/v1/approvals?"+q.Encode(), nil, &answer); err != nil {
				return err
			}
			return writeJSON(cmd.OutOrStdout(), answer)
		},
	}
	f := cmd.Flags()
	f.StringVar(&authority, "authority", "", "the authority's base `URL`, e.g. http://127.0.0.1:8421 (required)")
	f.StringVar(&authToken, "auth-token", "", "your `CREDENTIAL` (default $"+envToken+")")
	f.StringVar(&status, "status", "pending", "which requests: `STATUS` pending, approved, denied, expired, revoked or all")
	f.StringVar(&session, "session", "", "only the requests of session `S`")
	return cmd
}

func newApprovalDecideCmd(a *app, approve bool) *cobra.Command {
	var authority, authToken, comment string
	verb, past := "deny", "denied"
	if approve {
		verb, past = "approve", "approved"
	}
	cmd := &cobra.Command{
		Use:   verb + " ID --authority URL [--auth-token CREDENTIAL] [--comment TEXT]",
		Short: map[bool]string{true: "Approve a pending request (a person's credential)", false: "Deny a pending request (a person's credential)"}[approve],
		Long: fmt.Sprintf(`%s a pending approval request (POST /v1/approvals/ID/%s) and print it as
JSON. Only a named person decides: a credential mp_… of a person with the
admin role, or an approver of the request's org whom the token's caveat
accepts (a caveat may name its approvers). The admin token alone is not a
person. A request that expired, was decided or was revoked cannot be %s.`,
			strings.ToUpper(verb[:1])+verb[1:], verb, past),
		Example: fmt.Sprintf(`  MANDATE_TOKEN=mp_... mandate approval %s ap_abc --authority http://127.0.0.1:8421 --comment "checked with the customer"`, verb),
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 || args[0] == "" {
				return usagef(cmd, "name the request: mandate approval %s ID (\"mandate approval list\" shows the IDs)", verb)
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
			var answer json.RawMessage
			if err := c.do(cmd.Context(), http.MethodPost, "/v1/approvals/"+url.PathEscape(args[0])+"/"+verb, map[string]string{"comment": comment}, &answer); err != nil {
				return err
			}
			return writeJSON(cmd.OutOrStdout(), answer)
		},
	}
	f := cmd.Flags()
	f.StringVar(&authority, "authority", "", "the authority's base `URL`, e.g. http://127.0.0.1:8421 (required)")
	f.StringVar(&authToken, "auth-token", "", "your person `CREDENTIAL` mp_… (default $"+envToken+")")
	f.StringVar(&comment, "comment", "", "a `TEXT` for the agent and the audit trail")
	return cmd
}

func newApprovalWaitCmd(a *app) *cobra.Command {
	var authority string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "wait ID --authority URL [--timeout D] [TOKEN|-]",
		Short: "Wait for a decision and print the approval (as the agent, with its token)",
		Long: `Wait until a person decides the request (long-polls GET /v1/approvals/ID) and
print the approval on stdout, one line, ready for --approval, the
Mandate-Approval header or the MCP _meta key. The agent's token (the
argument, or stdin) is its credential.

Exit status: 0 approved; 1 denied, expired, revoked, or --timeout reached
(the message says which); 2 usage error.`,
		Example: `  approval=$(mandate approval wait ap_abc --authority http://127.0.0.1:8421 < refunder.tok)`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 || args[0] == "" {
				return usagef(cmd, "name the request: mandate approval wait ID [TOKEN|-]")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if authority == "" {
				return usagef(cmd, "--authority URL is required")
			}
			if timeout <= 0 {
				return usagef(cmd, "--timeout must be positive")
			}
			tok, err := readToken(cmd, args[1:])
			if err != nil {
				return err
			}
			c, err := a.newAuthClient(cmd, authority, tok)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			for {
				var q struct {
					Status   string `json:"status"`
					Approval string `json:"approval"`
					Decision *struct {
						By      string `json:"by"`
						Comment string `json:"comment"`
					} `json:"decision"`
					RevokedBecause string `json:"revoked_because"`
				}
				wait := max(time.Second, min(30*time.Second, time.Until(deadline(ctx))))
				err := c.do(ctx, http.MethodGet, "/v1/approvals/"+url.PathEscape(args[0])+"?wait="+fmt.Sprint(int(wait.Seconds())), nil, &q)
				if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
					return fmt.Errorf("no decision on %s within %s; wait again, or ask an approver (\"mandate approval list\")", clip(args[0]), timeout)
				}
				if err != nil {
					return err
				}
				switch q.Status {
				case "approved":
					fmt.Fprintln(cmd.OutOrStdout(), q.Approval)
					return nil
				case "denied":
					msg := fmt.Sprintf("request %s was denied by %s", clip(args[0]), q.Decision.By)
					if q.Decision.Comment != "" {
						msg += ": " + q.Decision.Comment
					}
					return errors.New(msg)
				case "expired":
					return fmt.Errorf("request %s expired without a decision; ask again with \"mandate approval request\"", clip(args[0]))
				case "revoked":
					return fmt.Errorf("request %s was revoked (%s)", clip(args[0]), q.RevokedBecause)
				}
			}
		},
	}
	f := cmd.Flags()
	f.StringVar(&authority, "authority", "", "the authority's base `URL`, e.g. http://127.0.0.1:8421 (required)")
	f.DurationVar(&timeout, "timeout", 10*time.Minute, "give up after `DURATION`")
	return cmd
}

// deadline is ctx's deadline (ctx always has one here).
func deadline(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}
