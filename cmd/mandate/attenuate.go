package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/token"
)

func newAttenuateCmd(a *app) *cobra.Command {
	var (
		tools, ops, services     []string
		resource, resourcePrefix string
		maxes, mins, oneOfs      []string
		ranges                   []string
		ttl                      time.Duration
		expires, delegateTo      string
		checks                   []string
		seal                     bool
		limitSpecs               []string
		approvals, approvers     []string
		orgApprovers             bool
	)
	cmd := &cobra.Command{
		Use:   "attenuate [--tool T]... [--op O]... [--service S]... [--resource R] [--resource-prefix P] [--range TOOL:ARG=MIN..MAX]... [--max TOOL:ARG=N]... [--min TOOL:ARG=N]... [--one-of TOOL:ARG=V,...]... [--ttl D | --expires RFC3339] [--delegate-to NAME] [--check DATALOG]... [--require-approval TOOL[:ARG>N]]... [--approver NAME]... [--org-approvers] [--limit TOOL:calls=N[/WINDOW] | TOOL:ARG=N[/WINDOW]]... [--seal] [TOKEN|-]",
		Short: "Narrow a token offline before handing it to a sub-agent",
		Long: `Append a block of checks to a token and print the new token on stdout. The
new token can only do less than the one it came from: every flag narrows it,
and nothing can widen what the authority granted. No key and no network are
needed. The token is the argument, or stdin when the argument is "-" or
absent.

  --tool, --op, --service    allow only these (repeatable, or comma-separated)
  --resource R               allow only the resource R, exactly
  --resource-prefix P        allow P and what is below it, ending at "/":
                             "repo:acme/web" covers "repo:acme/web" and
                             "repo:acme/web/README.md", not "repo:acme/website"
  --range TOOL:ARG=MIN..MAX  calls of TOOL need the integer argument ARG
                             between MIN and MAX (both included)
  --max TOOL:ARG=N           calls of TOOL need the integer argument ARG <= N;
                             one-sided: --max refund:amount=500 allows an
                             amount of -1000000 (use --range refund:amount=0..500)
  --min TOOL:ARG=N           calls of TOOL need the integer argument ARG >= N
  --one-of TOOL:ARG=V,V...   calls of TOOL need ARG among the values (a list
                             argument must be a subset); values are typed as
                             in "verify --arg"
  --ttl D | --expires T      expire sooner (never later than the token does:
                             when the token already expires earlier, a note
                             on stderr says so and the expiry is unchanged)
  --delegate-to NAME         record whom the block is for (for audit; grants
                             and restricts nothing)
  --check DATALOG            a raw Biscuit v3 check, e.g.
                             'check if operation("read")'
  --limit SPEC               a usage limit of this block, counted across
                             every verifier of the authority for this token
                             and every token attenuated from it:
                             send_email:calls=20/1h (20 calls per fixed hour),
                             refund:amount=1000 (amounts summing to 1000, for
                             the life of the block), '*:calls=500/24h' (all
                             tools). Windows are fixed (aligned to the Unix
                             epoch), 1m to 24h. A verifier that does not
                             enforce limits denies the token.
  --seal                     nobody can attenuate the result further

Flags that are given together must all hold. Each hop's block has its own
revocation ID: "mandate revoke --token" on the new token revokes it and
everything attenuated from it, not the token it came from.`,
		Example: `  # A read-only sub-agent on one repository, for 5 minutes
  mandate attenuate --op read --resource-prefix repo:acme/web --ttl 5m \
      --delegate-to reader < session.tok > reader.tok

  # One tool, refunds of 0 to 500
  mandate attenuate --tool refund --range refund:amount=0..500 --delegate-to refunder "$(cat session.tok)"

  # Mails only to two addresses, then seal
  mandate attenuate --tool send_email --one-of 'send_email:to=bob@acme.test,carol@acme.test' --seal - < session.tok

  # A sub-agent that may send 20 mails an hour and refund 1000 in all
  mandate attenuate --limit send_email:calls=20/1h --limit refund:amount=1000 < session.tok > sub.tok

  # Refunds above 100 stop for a person's approval, from alice or bob
  mandate attenuate --require-approval 'refund:amount>100' \
      --approver alice@acme.test --approver bob@acme.test < session.tok

  # A raw check
  mandate attenuate --check 'check if resource($r), $r.starts_with("invoice:acme/")' < session.tok`,
		Args: tokenArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			f := cmd.Flags()
			if ttl != 0 && expires != "" {
				return usagef(cmd, "give --ttl or --expires, not both")
			}
			var expiresAt time.Time
			if expires != "" {
				t, err := time.Parse(time.RFC3339, expires)
				if err != nil {
					return usagef(cmd, "--expires %q: want an RFC 3339 time such as 2026-11-22T10:05:00Z", expires)
				}
				expiresAt = t
			}
			if f.Changed("ttl") && ttl <= 0 {
				return usagef(cmd, "--ttl %s: must be positive", ttl)
			}
			type bound struct {
				flag, tool, arg string
				n, hi           int64 // hi: the upper end of a --range
			}
			var bounds []bound
			for _, spec := range []struct {
				flag string
				vals []string
			}{{"--max", maxes}, {"--min", mins}} {
				for _, s := range spec.vals {
					tool, arg, v, err := splitToolArg(s)
					if err != nil {
						return usagef(cmd, "%s %q: %v (want TOOL:ARG=N)", spec.flag, s, err)
					}
					n, err := strconv.ParseInt(v, 10, 64)
					if err != nil {
						return usagef(cmd, "%s %q: %q is not an integer", spec.flag, s, v)
					}
					bounds = append(bounds, bound{flag: spec.flag, tool: tool, arg: arg, n: n})
				}
			}
			for _, s := range ranges {
				tool, arg, v, err := splitToolArg(s)
				if err != nil {
					return usagef(cmd, "--range %q: %v (want TOOL:ARG=MIN..MAX)", s, err)
				}
				lo, hi, ok := strings.Cut(v, "..")
				nlo, errLo := strconv.ParseInt(lo, 10, 64)
				nhi, errHi := strconv.ParseInt(hi, 10, 64)
				if !ok || errLo != nil || errHi != nil {
					return usagef(cmd, "--range %q: %q is not MIN..MAX with integers, such as 0..500", s, v)
				}
				bounds = append(bounds, bound{flag: "--range", tool: tool, arg: arg, n: nlo, hi: nhi})
			}
			type oneOf struct {
				tool, arg string
				vals      []any
				spec      string
			}
			var sets []oneOf
			for _, s := range oneOfs {
				tool, arg, v, err := splitToolArg(s)
				if err != nil {
					return usagef(cmd, "--one-of %q: %v (want TOOL:ARG=V[,V...])", s, err)
				}
				var vals []any
				for _, x := range strings.Split(v, ",") {
					vals = append(vals, argValue(x))
				}
				sets = append(sets, oneOf{tool, arg, vals, s})
			}
			reqs, err := approvalRequirements(cmd, approvals, approvers, orgApprovers)
			if err != nil {
				return err
			}
			lims, err := parseLimitFlags(cmd, limitSpecs)
			if err != nil {
				return err
			}
			caveats := len(tools) + len(ops) + len(services) + len(bounds) + len(sets) + len(checks) + len(reqs) + len(lims)
			for _, s := range []string{resource, resourcePrefix, expires, delegateTo} {
				if s != "" {
					caveats++
				}
			}
			if ttl != 0 {
				caveats++
			}
			if caveats == 0 && !seal {
				return usagef(cmd, "nothing to narrow: give at least one of --tool, --op, --service, --resource, --resource-prefix, --range, --max, --min, --one-of, --ttl, --expires, --delegate-to, --check, --require-approval, --limit or --seal")
			}

			tok, err := readToken(cmd, args)
			if err != nil {
				return err
			}
			if caveats == 0 {
				out, err := attenuate.Seal(tok)
				if err != nil {
					return tokenError(err)
				}
				_, err = fmt.Fprintln(cmd.OutOrStdout(), out)
				return err
			}
			b, err := attenuate.New(tok, attenuate.WithClock(a.now))
			if err != nil {
				return tokenError(err)
			}
			// Add caveats one flag at a time, so that an error names the
			// flag that caused it.
			step := func(flag string, add func()) error {
				add()
				if err := b.Err(); err != nil {
					return usagef(cmd, "%s: %s", flag, builderMessage(err))
				}
				return nil
			}
			steps := []struct {
				flag string
				on   bool
				add  func()
			}{
				{"--service", len(services) > 0, func() { b.Services(services...) }},
				{"--tool", len(tools) > 0, func() { b.Tools(tools...) }},
				{"--op", len(ops) > 0, func() { b.Operations(ops...) }},
				{"--resource", resource != "", func() { b.Resource(resource) }},
				{"--resource-prefix", resourcePrefix != "", func() { b.ResourcePrefix(resourcePrefix) }},
				{"--ttl", ttl != 0, func() { b.TTL(ttl) }},
				{"--expires", expires != "", func() { b.ExpiresAt(expiresAt) }},
				{"--delegate-to", delegateTo != "", func() { b.DelegatedTo(delegateTo) }},
			}
			for _, s := range steps {
				if s.on {
					if err := step(s.flag, s.add); err != nil {
						return err
					}
				}
			}
			for _, bd := range bounds {
				add := func() { b.ArgMax(bd.tool, bd.arg, bd.n) }
				switch bd.flag {
				case "--min":
					add = func() { b.ArgMin(bd.tool, bd.arg, bd.n) }
				case "--range":
					add = func() { b.ArgRange(bd.tool, bd.arg, bd.n, bd.hi) }
				}
				if err := step(bd.flag, add); err != nil {
					return err
				}
			}
			for _, s := range sets {
				if err := step("--one-of "+s.spec, func() { b.ArgOneOf(s.tool, s.arg, s.vals...) }); err != nil {
					return err
				}
			}
			for _, c := range checks {
				if err := step("--check", func() { b.Check(c) }); err != nil {
					return err
				}
			}
			for i, r := range reqs {
				if err := step("--require-approval "+approvals[i], func() { b.RequireApprovalFor(r) }); err != nil {
					return err
				}
			}
			for i, l := range lims {
				if err := step("--limit "+limitSpecs[i], func() { b.Limit(l) }); err != nil {
					return err
				}
			}
			if seal {
				b.Seal()
			}
			out, err := b.Build()
			if err != nil {
				return tokenError(err)
			}
			if ttl != 0 {
				noteLaterExpiry(cmd, tok, "--ttl "+ttl.String(), a.now().Add(ttl))
			} else if expires != "" {
				noteLaterExpiry(cmd, tok, "--expires "+expires, expiresAt)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), out)
			return err
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&tools, "tool", nil, "allow only these `TOOLS` (repeatable)")
	f.StringSliceVar(&ops, "op", nil, "allow only these `OPERATIONS` (repeatable)")
	f.StringSliceVar(&services, "service", nil, "allow only these `SERVICES` (repeatable)")
	f.StringVar(&resource, "resource", "", "allow only this exact `RESOURCE`")
	f.StringVar(&resourcePrefix, "resource-prefix", "", "allow `PREFIX` and the resources below it (ends at \"/\")")
	f.StringArrayVar(&ranges, "range", nil, "require MIN <= ARG <= MAX in calls of TOOL, given as `TOOL:ARG=MIN..MAX` (repeatable)")
	f.StringArrayVar(&maxes, "max", nil, "require ARG <= N in calls of TOOL, given as `TOOL:ARG=N` (one-sided: see --range; repeatable)")
	f.StringArrayVar(&mins, "min", nil, "require ARG >= N in calls of TOOL, given as `TOOL:ARG=N` (one-sided: see --range; repeatable)")
	f.StringArrayVar(&oneOfs, "one-of", nil, "require ARG among the values in calls of TOOL, given as `TOOL:ARG=V[,V...]` (repeatable)")
	f.DurationVar(&ttl, "ttl", 0, "expire this `DURATION` from now")
	f.StringVar(&expires, "expires", "", "expire at this RFC 3339 `TIME`")
	f.StringVar(&delegateTo, "delegate-to", "", "record the `NAME` this block is for (audit only)")
	f.StringArrayVar(&checks, "check", nil, "a raw check in Biscuit v3 `DATALOG` (repeatable)")
	approvalFlags(cmd, &approvals, &approvers, &orgApprovers)
	f.StringArrayVar(&limitSpecs, "limit", nil, "a usage limit of this block, binding every token derived from it: at most N calls of TOOL (\"*\": any tool) per fixed WINDOW (`TOOL:calls=N[/WINDOW]`, such as send_email:calls=20/1h), or integer ARG summed to at most N (TOOL:ARG=N[/WINDOW], such as refund:amount=1000); no window: for the life of the block (repeatable)")
	f.BoolVar(&seal, "seal", false, "seal the result: no further attenuation")
	return cmd
}

// splitToolArg splits "TOOL:ARG=VALUE".
func splitToolArg(s string) (tool, arg, value string, err error) {
	ta, value, ok := strings.Cut(s, "=")
	if !ok {
		return "", "", "", errors.New("missing \"=\"")
	}
	tool, arg, ok = strings.Cut(ta, ":")
	if !ok || tool == "" || arg == "" {
		return "", "", "", errors.New("missing TOOL: or ARG")
	}
	return tool, arg, value, nil
}

// builderMessage strips the "attenuate: Method: " prefix of a builder error;
// the CLI names the flag instead.
func builderMessage(err error) string {
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "attenuate: "); ok {
		if i := strings.Index(rest, ": "); i > 0 && !strings.Contains(rest[:i], " ") {
			rest = rest[i+2:]
		}
		msg = rest
	}
	return msg
}

// tokenError explains an error about the token being attenuated, without
// the package's "attenuate: " prefix (the command is already named).
func tokenError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "attenuate: ")
	if errors.Is(err, token.ErrInvalid) {
		msg += "; check that the whole token was copied"
	}
	return &messageError{msg: msg, err: err}
}

// messageError is err with another message.
type messageError struct {
	msg string
	err error
}

func (e *messageError) Error() string { return e.msg }
func (e *messageError) Unwrap() error { return e.err }

// approvalRequirements reads --require-approval, --approver and
// --org-approvers (mint and attenuate).
func approvalRequirements(cmd *cobra.Command, approvals, approvers []string, orgApprovers bool) ([]token.ApprovalRequirement, error) {
	if (len(approvers) > 0 || orgApprovers) && len(approvals) == 0 {
		return nil, usagef(cmd, "--approver and --org-approvers say who approves a --require-approval; give one")
	}
	var reqs []token.ApprovalRequirement
	for _, s := range approvals {
		r, err := token.ParseApprovalRequirement(s)
		if err != nil {
			return nil, usagef(cmd, "--require-approval %q: want TOOL or TOOL:ARG>N, such as refund or 'refund:amount>100'", s)
		}
		r.Approvers, r.OrgApprovers = approvers, orgApprovers
		reqs = append(reqs, r)
	}
	return reqs, nil
}

// approvalFlags declares --require-approval, --approver and --org-approvers.
func approvalFlags(cmd *cobra.Command, approvals, approvers *[]string, orgApprovers *bool) {
	f := cmd.Flags()
	f.StringArrayVar(approvals, "require-approval", nil, "calls of TOOL need a person's approval: every call (`TOOL`), or calls whose integer ARG is above N (TOOL:ARG>N) (repeatable)")
	f.StringArrayVar(approvers, "approver", nil, "only this `NAME` may approve the --require-approval calls (repeatable)")
	f.BoolVar(orgApprovers, "org-approvers", false, "any approver of the token's org may approve the --require-approval calls (with --approver: either)")
}
