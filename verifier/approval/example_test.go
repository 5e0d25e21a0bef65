package approval_test

import (
	"context"
	"fmt"
	"time"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/approval"
)

// A sub-agent's refunds above 100 stop for a person; the retry with the
// person's approval goes through, once.
func Example() {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	key, _ := token.GenerateKey()
	m, _ := token.Mint(key, token.MintRequest{
		Subject: token.Subject{Agent: "support-bot", Org: "acme", Session: "s_demo"},
		Rights:  []token.Right{{Service: "billing", Tool: "refund", Operation: "write", Resource: "order:acme/"}},
		TTL:     time.Hour, Now: now,
	})
	b, _ := attenuate.New(m.Token, attenuate.WithClock(func() time.Time { return now }))
	sub, _ := b.DelegatedTo("refunder").RequireApproval("refund", attenuate.Above("amount", 100)).Build()

	// The tool server: approvals are checked offline and redeemed (here in
	// memory; in production at the authority).
	checker, _ := approval.New(approval.Config{Redeemer: approval.NewMemory()})
	v, _ := verifier.New(verifier.Config{Keys: token.NewKeySet(key.Public()), InsecureNoRevocation: true,
		Now: func() time.Time { return now }, Approvals: checker})

	call := verifier.Request{Service: "billing", Tool: "refund", Operation: "write", Resource: "order:acme/7",
		Args: map[string]any{"amount": 500}}
	d := v.Authorize(context.Background(), sub, call)
	fmt.Println(d.Allowed, d.Kind(), len(d.CallDigest))

	// The authority, once alice approves: an approval of this call, for
	// this session and the sub-agent's token (its last block).
	u, _ := token.ParseString(sub)
	ids := u.RevocationIDs()
	digest, _ := token.CallDigest(token.Call{Service: call.Service, Tool: call.Tool, Operation: call.Operation, Resource: call.Resource, Args: call.Args})
	call.Approval, _ = token.SignApproval(key, token.Approval{ID: "ap_1", CallDigest: digest, Session: "s_demo",
		Lineage: ids[len(ids)-1], Approver: "alice@acme.test", ApproverOrg: "acme", IssuedAt: now, ExpiresAt: now.Add(10 * time.Minute)})

	d = v.Authorize(context.Background(), sub, call)
	fmt.Println(d.Allowed, d.Reason)
	d = v.Authorize(context.Background(), sub, call)
	fmt.Println(d.Allowed, d.Kind())
	// Output:
	// false approval_required 64
	// true allowed with approval ap_1 by alice@acme.test
	// false approval_invalid
}
