package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mandate-dev/mandate/internal/strictjson"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/approval"
)

func newVerifyCmd(a *app) *cobra.Command {
	var (
		publicKeys []string
		trustKeys  []string
		insecure   bool
		authority  string
		req        verifier.Request
		argFlags   []string
		argsJSON   string
		usageDir   string
	)
	cmd := &cobra.Command{
		Use:   "verify (--public-key HEX | --authority URL --trust-key HEX) --service S --tool T --op O [--resource R] [--arg NAME=VALUE]... [--args JSON] [--approval APPROVAL] [TOKEN|-]",
		Short: "Decide a tool call as a tool server would, and print the decision as JSON",
		Long: `Decide whether a token allows one tool call, exactly as a tool server
embedding mandate's verifier would, and print the decision as JSON on stdout:
allowed, reason, failed_check (which block and check denied it), decision_id,
the token's revocation IDs and subject.

Usage limits (mandate attenuate --limit): with --authority the call is
counted at the authority's ledger, exactly as tool servers count it; offline,
--usage-dir DIR counts on this machine only (the decision says so); without
either, a token that declares a limit is denied.

Exit status: 0 allowed; 1 denied (an invalid, expired, revoked or malformed
token is a denial too); 2 usage error.

Keys and revocations:
  --public-key HEX   trust this root key (repeatable). Offline: revocations
                     are NOT checked, and verify says so on stderr.
  --authority URL    fetch the authority's keys and its revocation list, so a
                     revoked token is denied. Give it the authority's root
                     public key with --trust-key HEX (or MANDATE_TRUST_KEY),
                     as "mandate authority serve" prints it: a key from the
                     network is trusted only if that key endorsed it (key
                     rotation), and the revocation list only if it signed
                     it. --insecure-no-trust-key trusts whatever the URL
                     answers (a test on one machine only). If the authority
                     cannot be reached, the call is denied too: verify
                     prints the denial, with the reason, and exits 1.

The call: --service, --tool and --op are required; --resource is the one
resource the call touches (authorize a call on several resources once per
resource). --arg NAME=VALUE (repeatable) adds an argument: an integer,
true/false, an RFC 3339 date, or else a string. --args takes a JSON object
of arguments: numbers must be integers (pass amounts in minor units), and an
array is a list, which a check must allow as a whole.`,
		Example: `  mandate verify --public-key "$(cat pub.hex)" --service github --tool get_file --op read \
      --resource repo:acme/web/README.md < reader.tok

  mandate verify --authority http://127.0.0.1:8421 --trust-key "$ROOT_KEY" --service payments --tool refund --op write \
      --resource order:acme/1001 --arg amount=250 --arg currency=EUR < agent.tok

  mandate verify --public-key "$(cat pub.hex)" --service mail --tool send --op write \
      --args '{"to": ["bob@acme.test", "carol@acme.test"], "urgent": false}' - < agent.tok

  # In a script
  if mandate verify --public-key "$KEY" --service s --tool t --op read < agent.tok > decision.json; then
      echo allowed
  fi`,
		Args: tokenArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(publicKeys) == 0 && authority == "":
				return usagef(cmd, "give --public-key HEX (offline) or --authority URL")
			case len(publicKeys) > 0 && authority != "":
				return usagef(cmd, "give --public-key or --authority, not both")
			case authority == "" && (len(trustKeys) > 0 || insecure):
				return usagef(cmd, "--trust-key and --insecure-no-trust-key go with --authority URL")
			case req.Service == "":
				return usagef(cmd, "--service is required")
			case req.Tool == "":
				return usagef(cmd, "--tool is required")
			case req.Operation == "":
				return usagef(cmd, "--op is required")
			}
			var err error
			if req.Args, err = parseArgs(argFlags, argsJSON); err != nil {
				return usagef(cmd, "%v", err)
			}
			var cfg verifier.Config
			var base string
			if authority != "" {
				if base, err = authorityURL(cmd, authority); err != nil {
					return err
				}
			} else {
				if cfg.Keys, err = parsePublicKeys(cmd, publicKeys); err != nil {
					return err
				}
				cfg.InsecureNoRevocation = true
			}
			// Read the token before any network call. An empty token is
			// decided like any other: a denial.
			tok, err := readToken(cmd, args)
			var ue *usageError
			if errors.As(err, &ue) {
				return err
			}
			if err != nil && !errors.Is(err, errNoToken) {
				return err
			}
			if base != "" {
				anchors, err := trustAnchors(cmd, a.getenv, trustKeys, insecure)
				if err != nil {
					return err
				}
				stop, err := a.followAuthority(cmd.Context(), base, &cfg, anchors)
				if err != nil {
					// Fail closed, and say so in the decision's own
					// terms: a script reading stdout sees a denial.
					d := verifier.Decision{Allowed: false, Reason: err.Error(), Err: fmt.Errorf("%w: %w", verifier.ErrStale, err)}
					if werr := writeJSON(cmd.OutOrStdout(), d); werr != nil {
						return werr
					}
					return &exitError{code: exitFailure, msg: "denied: " + d.Reason}
				}
				defer stop()
			}
			cfg.Now = a.now
			switch {
			case req.Approval != "" && base != "":
				// As a tool server: the use is redeemed at the authority.
				red, err := approval.NewAuthorityRedeemer(base, a.client)
				if err != nil {
					return err
				}
				cfg.Approvals, _ = approval.New(approval.Config{Redeemer: red})
				fmt.Fprintln(cmd.ErrOrStderr(), "mandate: note: an allowed call spends one use of the approval at the authority")
			case req.Approval != "":
				// Offline: nothing to count uses against.
				cfg.Approvals, _ = approval.New(approval.Config{InsecureNoRedemption: true})
				fmt.Fprintln(cmd.ErrOrStderr(), "mandate: note: verify checks the approval offline and does not spend a use of it (with --authority it redeems it, as a tool server does)")
			}
			if authority != "" && usageDir != "" {
				return usagef(cmd, "--usage-dir is for verifying offline; with --authority the authority counts usage")
			}
			limits, closeLimits, err := a.limitEnforcer(base, usageDir)
			if err != nil {
				return err
			}
			defer closeLimits()
			if limits != nil {
				cfg.Limits = limits
			}
			v, err := verifier.New(cfg)
			if err != nil {
				return err
			}
			if authority == "" {
				fmt.Fprintln(cmd.ErrOrStderr(), "mandate: note: revocations are not checked offline (--public-key); use --authority URL to check them")
			}
			d := v.Authorize(cmd.Context(), tok, req)
			if errors.Is(d.Err, verifier.ErrLimitUnenforced) {
				fmt.Fprintln(cmd.ErrOrStderr(), "mandate: note: the token declares a usage limit; to count it, give --authority URL, or --usage-dir DIR to count on this machine only")
			}
			out := struct {
				verifier.Decision
				Kind verifier.Kind `json:"kind,omitempty"` // what to do about a denial
			}{d, d.Kind()}
			if err := writeJSON(cmd.OutOrStdout(), out); err != nil {
				return err
			}
			if !d.Allowed {
				return &exitError{code: exitFailure, msg: "denied: " + d.Reason}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&publicKeys, "public-key", nil, "trust this root public key, in `HEX` (repeatable; revocations are not checked)")
	f.StringVar(&authority, "authority", "", "fetch keys and revocations from the authority at `URL`")
	f.StringArrayVar(&trustKeys, "trust-key", nil, "with --authority: the authority's root public key in `HEX`, pinned (repeatable; default $"+envTrustKey+")")
	f.BoolVar(&insecure, "insecure-no-trust-key", false, "with --authority: trust whatever keys the URL answers (tests on one machine only)")
	f.StringVar(&req.Service, "service", "", "the `SERVICE` called (required)")
	f.StringVar(&req.Tool, "tool", "", "the `TOOL` called (required)")
	f.StringVar(&req.Operation, "op", "", "the `OPERATION`, e.g. read or write (required)")
	f.StringVar(&req.Resource, "resource", "", "the one `RESOURCE` the call touches")
	f.StringArrayVar(&argFlags, "arg", nil, "a tool argument, `NAME=VALUE` (repeatable): integer, true/false, RFC 3339 date or string")
	f.StringVar(&argsJSON, "args", "", "tool arguments as a `JSON` object")
	f.StringVar(&req.Approval, "approval", "", "a person's `APPROVAL` of this call, as the authority returned it")
	f.StringVar(&usageDir, "usage-dir", "", "offline: count the token's usage limits in a Badger database in `DIR`, on this machine only (with --authority the authority counts them)")
	return cmd
}

// parseArgs merges --arg NAME=VALUE flags and an --args JSON object.
func parseArgs(flags []string, object string) (map[string]any, error) {
	args := map[string]any{}
	for _, s := range flags {
		name, v, ok := strings.Cut(s, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("--arg %q: want NAME=VALUE", s)
		}
		if _, dup := args[name]; dup {
			return nil, fmt.Errorf("--arg %s: given twice (pass a list with --args '{\"%s\": [...]}')", name, name)
		}
		args[name] = argValue(v)
	}
	if object != "" {
		obj, err := parseArgsJSON(object)
		if err != nil {
			return nil, fmt.Errorf("--args: %v", err)
		}
		for name, v := range obj {
			if _, dup := args[name]; dup {
				return nil, fmt.Errorf("argument %q is given by both --arg and --args", name)
			}
			args[name] = v
		}
	}
	if len(args) > verifier.MaxArgs {
		return nil, fmt.Errorf("%d arguments is over the limit of %d", len(args), verifier.MaxArgs)
	}
	if len(args) == 0 {
		return nil, nil
	}
	return args, nil
}

// argValue types a --arg value: integer, boolean, RFC 3339 date, or string.
func argValue(s string) any {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i
	}
	switch s {
	case "true":
		return true
	case "false":
		return false
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t
	}
	return s
}

// parseArgsJSON reads a JSON object of arguments: integers, strings,
// booleans and arrays of them.
func parseArgsJSON(s string) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("not a JSON object (%v)", err)
	}
	if raw == nil {
		return nil, errors.New("want a JSON object, got null")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON object")
	}
	// Refuse repeated keys and keys that differ only in case, as a tool
	// server must (verifier.ArgsFromJSON): {"amount":300,"Amount":900} is
	// 900 to a handler decoding with encoding/json.
	if err := strictjson.Check([]byte(s), verifier.MaxArgsJSONDepth); err != nil {
		return nil, err
	}
	out := make(map[string]any, len(raw))
	for name, v := range raw {
		x, err := jsonArg(v, true)
		if err != nil {
			return nil, fmt.Errorf("%q: %v", name, err)
		}
		out[name] = x
	}
	return out, nil
}

func jsonArg(v any, allowList bool) (any, error) {
	switch x := v.(type) {
	case string, bool:
		return x, nil
	case json.Number:
		i, err := strconv.ParseInt(x.String(), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s is not an integer (pass amounts in minor units)", x)
		}
		return i, nil
	case []any:
		if !allowList {
			return nil, errors.New("a list cannot hold lists or objects")
		}
		list := make([]any, len(x))
		for i, e := range x {
			var err error
			if list[i], err = jsonArg(e, false); err != nil {
				return nil, fmt.Errorf("element %d: %v", i, err)
			}
		}
		return list, nil
	case nil:
		return nil, errors.New("null is not supported; leave the argument out")
	}
	return nil, errors.New("objects are not supported; pass scalar arguments or lists")
}
