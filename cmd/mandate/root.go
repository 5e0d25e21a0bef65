package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the command failed; for verify: the call is denied
	exitUsage   = 2 // the command line is wrong
)

// app holds what commands take from the environment, so that tests can run
// them in-process.
type app struct {
	getenv func(string) string
	client *http.Client
	now    func() time.Time
}

// usageError marks a mistake on the command line: exit code 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usagef returns a usage error that points at the command's help.
func usagef(cmd *cobra.Command, format string, args ...any) error {
	return &usageError{fmt.Errorf(format+"; see \"%s --help\"", append(args, cmd.CommandPath())...)}
}

// exitError ends the command with a code other than 1 or 2, or with 1 and a
// message that is not an error of the program (a denied call).
type exitError struct {
	code int
	msg  string // printed as "mandate: msg" when not empty
}

func (e *exitError) Error() string { return e.msg }

// run executes the command line args and returns the exit code. Errors are
// printed as one line on stderr.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{getenv: getenv, client: &http.Client{Timeout: 30 * time.Second}, now: time.Now}
	return runApp(ctx, a, args, stdin, stdout, stderr)
}

// runApp is run with the environment in a.
func runApp(ctx context.Context, a *app, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd(a)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	code := exitFailure
	var ue *usageError
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		code = ee.code
	case errors.As(err, &ue):
		code = exitUsage
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintln(stderr, "mandate: "+oneLine(msg))
	}
	return code
}

// oneLine folds a message onto one line.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	f := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
	}
	return strings.Join(f, "; ")
}

const rootLong = `mandate mints capability tokens for AI agents and checks them before every tool call.

An authority mints a signed token (Biscuit v3) for one agent session: who the
agent acts for, which tools it may call on which resources, and until when.
The agent can narrow that token offline before handing it to a sub-agent
("attenuate"); every tool server verifies the token against the authority's
public key, the revocation list and the request before the tool runs.
Revoking a token, one delegation hop or a whole session reaches every
verifier within a second.

Start here:
  mandate demo                      the whole story in one process
  mandate authority serve           run the authority (embedded storage)
  mandate keygen --out key.pem      a key for offline minting and testing

Tokens are read from the argument, or from stdin when the argument is "-" or
absent, so commands compose with pipes.

Exit codes: 0 success (verify: allowed), 1 failure (verify: denied),
2 usage error.`

const rootExample = `  # Offline: mint, narrow for a sub-agent, and check a tool call
  mandate keygen --out key.pem > pub.hex
  mandate mint --private-key key.pem --agent orchestrator \
      --right 'service=github,tool=*,op=*,resource=repo:acme/' > session.tok
  mandate attenuate --op read --resource-prefix repo:acme/web/ < session.tok > reader.tok
  mandate inspect < reader.tok
  mandate verify --public-key "$(cat pub.hex)" --service github \
      --tool get_file --op read --resource repo:acme/web/README.md < reader.tok`

func newRootCmd(a *app) *cobra.Command {
	cobra.EnableCommandSorting = false // list commands in the order of the story
	root := &cobra.Command{
		Use:           "mandate",
		Short:         "Capability tokens for AI agents: mint, attenuate, verify, revoke",
		Long:          rootLong,
		Example:       rootExample,
		Version:       versionString(),
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return &usageError{fmt.Errorf("unknown command %q; run \"mandate --help\" for the list of commands", args[0])}
			}
			return cmd.Help()
		},
	}
	root.CompletionOptions.HiddenDefaultCmd = true
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usagef(cmd, "%v", err)
	})
	root.AddCommand(
		newKeygenCmd(a),
		newMintCmd(a),
		newAttenuateCmd(a),
		newInspectCmd(a),
		newVerifyCmd(a),
		newRevokeCmd(a),
		newApprovalCmd(a),
		newDemoCmd(a),
		newAuthorityCmd(a),
		newAuditCmd(a),
		newVersionCmd(a),
	)
	for _, c := range root.Commands() {
		// The Use lines spell out the flags.
		c.DisableFlagsInUseLine = true
	}
	usageArgs(root)
	return root
}

// noArgs refuses positional arguments with a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef(cmd, "unexpected argument %q", clip(args[0]))
	}
	return nil
}

// tokenArg accepts at most one positional argument: a token or "-".
func tokenArg(cmd *cobra.Command, args []string) error {
	if len(args) > 1 {
		return usagef(cmd, "takes one token, got %d arguments (quote a token only if your shell splits it)", len(args))
	}
	return nil
}

// clip shortens what a user typed for an error message, so that a token
// pasted in the wrong place is not echoed whole.
func clip(s string) string {
	if len(s) > 24 {
		return s[:12] + "…"
	}
	return s
}

// usageArgs makes every positional-argument error of cmd and its
// subcommands a usage error (exit 2), whatever validator produced it
// (cobra's own, such as cobra.NoArgs, included).
func usageArgs(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		usageArgs(c)
	}
	if cmd.Args == nil {
		return
	}
	validate := cmd.Args
	cmd.Args = func(c *cobra.Command, args []string) error {
		err := validate(c, args)
		var ue *usageError
		if err == nil || errors.As(err, &ue) {
			return err
		}
		return usagef(c, "%v", err)
	}
}
