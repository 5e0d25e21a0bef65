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
// from stdin when the argument is "-" or absent. It trims white space. A
// token longer than the limit is returned as read (one byte over), so that
// parsing reports it as too large.
func readToken(cmd *cobra.Command, args []string) (string, error) {
	if len(args) == 1 && args[0] != "-" {
		if st, err := os.Stat(args[0]); err == nil && st.Mode().IsRegular() {
			return "", &usageError{fmt.Errorf("%q is a file, but the argument is the token itself; read the file on stdin: %s < %s", args[0], cmd.CommandPath(), args[0])}
		}
		return strings.TrimSpace(args[0]), nil
	}
	return readStdinToken(cmd, "")
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
	// Read at most one line's worth over the limit: enough to tell that a
	// token is too large, without reading an unbounded stream.
	b, err := io.ReadAll(io.LimitReader(in, int64(token.MaxEncodedBytes)+2))
	if err != nil {
		return "", fmt.Errorf("read token from stdin: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%w on stdin: pipe a token in, e.g. \"mandate mint ... | %s\"", errNoToken, cmd.CommandPath())
	}
	return s, nil
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
