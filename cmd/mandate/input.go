package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mandate-dev/mandate/token"
)

// errNoToken: the token argument is absent and stdin is a terminal.
var errNoToken = errors.New("no token")

// readToken returns the token given as the only positional argument, or read
// from stdin when the argument is "-" or absent. Every command that takes a
// token reads it through readToken or readTokenValue, so they all accept the
// same forms.
func readToken(cmd *cobra.Command, args []string) (string, error) {
	if len(args) == 1 {
		return readTokenValue(cmd, args[0], "")
	}
	return readTokenValue(cmd, "-", "")
}

// readTokenValue reads the token a command line gave as value: the token
// itself, or "-" for stdin. flag names the flag that gave it ("--token"),
// or "" for the positional argument. A value naming a regular file is
// refused (it is a file name, not a token), white space is trimmed, and a
// pasted "Bearer " or "Authorization: Bearer " prefix is dropped. A token
// longer than the limit is returned as read (one byte over), so that
// parsing reports it as too large.
func readTokenValue(cmd *cobra.Command, value, flag string) (string, error) {
	if value == "-" {
		return readStdinToken(cmd, flag)
	}
	if st, err := os.Stat(value); err == nil && st.Mode().IsRegular() {
		what := "the argument is the token itself"
		if flag != "" {
			what = flag + " takes the token itself"
		}
		return "", &usageError{fmt.Errorf("%q is a file, but %s; read the file on stdin: %s < %s", value, what, cmd.CommandPath(), value)}
	}
	return cleanToken(value), nil
}

// readStdinToken reads a token from stdin. flag names the flag that asked
// for it ("--token"), or "" for the positional argument.
func readStdinToken(cmd *cobra.Command, flag string) (string, error) {
	in := cmd.InOrStdin()
	if isTerminal(in) {
		where := "as the argument"
		if flag != "" {
			where = "as " + flag + " TOKEN"
		}
		return "", usagef(cmd, "%w: pass it %s or pipe it on stdin, e.g. \"mandate mint ... | %s\"", errNoToken, where, cmd.CommandPath())
	}
	// Read at most one line's worth over the limit (and room for a
	// pasted "Authorization: Bearer "): enough to tell that a token is
	// too large, without reading an unbounded stream.
	b, err := io.ReadAll(io.LimitReader(in, int64(token.MaxEncodedBytes)+2+int64(len("Authorization: Bearer "))))
	if err != nil {
		return "", fmt.Errorf("read token from stdin: %w", err)
	}
	s := cleanToken(string(b))
	if s == "" {
		return "", fmt.Errorf("%w on stdin: pipe a token in, e.g. \"mandate mint ... | %s\"", errNoToken, cmd.CommandPath())
	}
	return s, nil
}

// cleanToken trims white space and drops what is often pasted with a token
// copied from an HTTP request: "Bearer " and "Authorization: Bearer " (in
// any case). A token itself never holds a space.
func cleanToken(s string) string {
	s = strings.TrimSpace(s)
	if rest, ok := cutPrefixFold(s, "Authorization:"); ok {
		s = strings.TrimSpace(rest)
	}
	if rest, ok := cutPrefixFold(s, "Bearer"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
		s = strings.TrimSpace(rest)
	}
	return s
}

// cutPrefixFold is strings.CutPrefix, ignoring ASCII case.
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// isTerminal reports whether r is an interactive terminal, where waiting
// for a token would only look like a hang.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
