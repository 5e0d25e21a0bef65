package attenuate_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
)

// An orchestrator holding a billing token delegates refunds on one account,
// up to 500, for ten minutes, to a sub-agent, offline; a tool server's
// verifier then decides the sub-agent's calls.
func Example() {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }

	// The authority minted this token for the orchestrator.
	key, _ := token.GenerateKey()
	minted, _ := token.Mint(key, token.MintRequest{
		Subject: token.Subject{Agent: "orchestrator", User: "alice@acme.test", Org: "acme"},
		Rights:  []token.Right{{Service: "billing", Tool: "*", Operation: "*", Resource: "account:acme/"}},
		TTL:     time.Hour,
		Now:     now,
	})

	// The orchestrator narrows it for the sub-agent: no key, no network.
	b, err := attenuate.New(minted.Token, attenuate.WithClock(clock))
	if err != nil {
		log.Fatal(err)
	}
	sub, err := b.Tools("list_invoices", "refund").
		ResourcePrefix("account:acme/42").
		ArgMax("refund", "amount", 500).
		TTL(10 * time.Minute).
		DelegatedTo("refund-helper").
		Build()
	if err != nil {
		log.Fatal(err)
	}

	// A tool server decides each call the sub-agent makes with it.
	v, _ := verifier.New(verifier.Config{Keys: token.NewKeySet(key.Public()), InsecureNoRevocation: true, Now: clock})
	calls := []verifier.Request{
		{Service: "billing", Tool: "refund", Operation: "write", Resource: "account:acme/42", Args: map[string]any{"amount": 200}},
		{Service: "billing", Tool: "refund", Operation: "write", Resource: "account:acme/42", Args: map[string]any{"amount": 900}},
		{Service: "billing", Tool: "list_invoices", Operation: "read", Resource: "account:acme/420"},
		{Service: "billing", Tool: "close_account", Operation: "write", Resource: "account:acme/42"},
	}
	for _, c := range calls {
		d := v.Authorize(context.Background(), sub, c)
		if d.Allowed {
			fmt.Printf("%s %s %v: allowed\n", c.Tool, c.Resource, c.Args)
			continue
		}
		fmt.Printf("%s %s %v: denied by %s\n", c.Tool, c.Resource, c.Args, d.FailedCheck.Text)
	}
	// Output:
	// refund account:acme/42 map[amount:200]: allowed
	// refund account:acme/42 map[amount:900]: denied by check if tool($t), !($t == "refund") or tool("refund"), arg("amount", $a), $a <= 500
	// list_invoices account:acme/420 map[]: denied by check if resource($r), $r == "account:acme/42" || $r.starts_with("account:acme/42/")
	// close_account account:acme/42 map[]: denied by check if tool($t), ["list_invoices", "refund"].contains($t)
}
