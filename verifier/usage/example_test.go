package usage_test

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"time"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/revocation"
	"github.com/mandate-dev/mandate/verifier/usage"
)

// A sub-agent may send two emails an hour; the tool server counts them at
// the authority's ledger, from a lease.
func Example() {
	dir, _ := os.MkdirTemp("", "mandate-example")
	defer os.RemoveAll(dir)
	a, _ := authority.Open(context.Background(), authority.Config{DataDir: dir, AdminTokenOutput: io.Discard})
	srv := httptest.NewServer(authority.NewHandler(a))
	defer func() { srv.Close(); a.Shutdown(); _ = a.Close() }()
	m, _ := a.Mint(context.Background(), authority.Principal{Admin: true}, authority.MintRequest{
		Agent: "support-bot", Org: "acme", TTL: time.Hour,
		Rights: []token.Right{{Service: "mail", Tool: "*", Operation: "*", Resource: ""}},
	})
	b, _ := attenuate.New(m.Token)
	sub, _ := b.DelegatedTo("mailer").LimitCalls("send_email", 2, time.Hour).Build()

	// The tool server.
	leaser, _ := usage.NewRemote(srv.URL, nil)
	enforcer, _ := usage.New(usage.Config{Leaser: leaser})
	defer enforcer.Close()
	v, _ := verifier.New(verifier.Config{Keys: a.KeySet(), Revocations: revocation.NewMemory(), Limits: enforcer})

	call := verifier.Request{Service: "mail", Tool: "send_email", Operation: "write"}
	for range 3 {
		d := v.Authorize(context.Background(), sub, call)
		if d.Allowed {
			fmt.Println("allowed")
		} else {
			fmt.Println(d.Kind())
		}
	}
	// Output:
	// allowed
	// allowed
	// limit_exceeded
}
