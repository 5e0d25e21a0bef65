// Command mandate is the command-line interface of mandate, a
// capability-token authority for AI agents: it creates keys, mints,
// attenuates, inspects, verifies and revokes tokens, runs the authority
// ("mandate authority serve") and a narrated demo ("mandate demo").
//
// Run "mandate --help" for the commands and "mandate COMMAND --help" for
// each command's flags and examples.
//
// Exit codes: 0 success (for verify: allowed), 1 failure (for verify:
// denied), 2 usage error.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
