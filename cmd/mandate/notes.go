package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mandate-dev/mandate/token"
)

// noteLaterExpiry tells the user, on stderr, when an expiry they asked for
// (flag, at) is later than the one the token already has: attenuation can
// only narrow, so the new token still expires at the earlier time.
func noteLaterExpiry(cmd *cobra.Command, tok string, flag string, at time.Time) {
	u, err := token.ParseString(tok)
	if err != nil {
		return
	}
	in := token.Inspect(u)
	if in.ExpiresAt == nil {
		return
	}
	current, err := time.Parse(time.RFC3339, *in.ExpiresAt)
	if err != nil || !current.Before(at.Truncate(time.Second)) {
		return
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "mandate: note: %s would end at %s, after the token's own expiry at %s; attenuation cannot extend a token, so it still expires at %s\n",
		flag, at.UTC().Truncate(time.Second).Format(time.RFC3339), *in.ExpiresAt, *in.ExpiresAt)
}

// shellWord returns s as one word a POSIX shell reads back as s: as is
// when it holds only characters that need no quoting, otherwise in single
// quotes. Commands printed for the user to run go through it.
func shellWord(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-./:@%+=,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
