// Command delegation tells mandate's whole story in one process, over real
// HTTP on 127.0.0.1, narrating each step:
//
//  1. An authority starts (in process, memory store) and a platform
//     backend registers with it as a client.
//  2. The platform mints a session token for an orchestrator agent.
//  3. A tool server starts; its verifier trusts the authority's published
//     keys and follows the authority's revocation feed (verifier/follow).
//  4. The orchestrator attenuates its token offline (package attenuate) for
//     two sub-agents: a reviewer, read-only on one repository, and a
//     refunder, limited to one tool with an amount of at most 500, and
//     needing a person's approval above 100.
//  5. The sub-agents call the tool server: allowed and denied calls, with
//     the verifier's reasons.
//  6. A refund of 300 stops for approval: the refunder asks the authority,
//     a person (an approver of acme) approves it through the API, and the
//     refunder's retry with the approval goes through, once.
//  7. The refunder's token is revoked by possession; its sibling and the
//     orchestrator keep working.
//  8. The whole session is revoked: every token of it stops working.
//
// Run it with:
//
//	go run ./examples/delegation
//
// It exits non-zero if any call does not end as narrated.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "delegation:", err)
		os.Exit(1)
	}
}

// run plays the story. It returns an error if a step fails or a call does
// not end as expected.
func run(ctx context.Context, out io.Writer) (err error) {
	s := &story{out: out}
	defer func() {
		if cerr := s.close(); err == nil {
			err = cerr
		}
	}()
	for _, step := range []func(context.Context) error{
		s.startAuthority,
		s.mintSession,
		s.startToolServer,
		s.delegate,
		s.callTools,
		s.approveRefund,
		s.revokeRefunder,
		s.revokeSession,
	} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	s.say("\nDone: every call ended as expected.")
	return nil
}
