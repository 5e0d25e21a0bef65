package approvals_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mandate-dev/mandate/authority/approvals"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/approval"
	"github.com/mandate-dev/mandate/verifier/approval/approvaltest"
)

// newRedemption asks for and approves a new call of tok (orders numbered
// by n), and returns the redemption a verifier would send.
func (e *env) newRedemption(t *testing.T, tok string, n int, maxUses int) approval.Redemption {
	t.Helper()
	call := refund(fmt.Sprint(n), 1000+n)
	q := e.ask(tok, call, maxUses)
	enc := e.approve(e.alice, q.ID)
	u, err := token.ParseApproval(enc)
	if err != nil {
		t.Fatal(err)
	}
	a, err := u.Verify(e.a.KeySet(), e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return approval.Redemption{Approval: a, Encoded: enc, CallDigest: a.CallDigest, DecisionID: "d_conformance", Token: tok}
}

// TestAuthorityRedeemerConformance runs the Redeemer conformance suite
// against AuthorityRedeemer over a real authority on 127.0.0.1.
func TestAuthorityRedeemerConformance(t *testing.T) {
	e := newEnv(t, approvals.Config{MaxPendingPerSession: 64})
	var n atomic.Int64
	tok := e.refunder(e.mint("s_conformance"))
	approvaltest.RunRedeemerTests(t, approvaltest.Harness{
		NewRedeemer: func(t *testing.T) approval.Redeemer {
			r, err := approval.NewAuthorityRedeemer(e.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			return r
		},
		NewRedemption: func(t *testing.T, maxUses int) approval.Redemption {
			return e.newRedemption(t, tok, int(n.Add(1)), maxUses)
		},
	})
}

// TestRedeemRefusals: the authority redeems only for a live token of the
// approval's session and lineage, for the call the approval binds.
func TestRedeemRefusals(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, approvals.Config{})
	parent := e.mint("s_redeem")
	tok := e.refunder(parent)
	sibling := e.refunder(parent)
	other := e.refunder(e.mint("s_redeem_other"))
	red := e.newRedemption(t, tok, 1, 1)
	r, err := approval.NewAuthorityRedeemer(e.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		edit func(*approval.Redemption)
	}{
		{"no token", func(r *approval.Redemption) { r.Token = "" }},
		{"a sibling's token", func(r *approval.Redemption) { r.Token = sibling }},
		{"another session's token", func(r *approval.Redemption) { r.Token = other }},
		{"the parent's token", func(r *approval.Redemption) { r.Token = parent }},
		{"another call", func(r *approval.Redemption) { r.CallDigest[0] ^= 1 }},
		{"a forged signature", func(r *approval.Redemption) { r.Encoded = flip(r.Encoded, len(r.Encoded)-10) }},
	} {
		bad := red
		c.edit(&bad)
		if err := r.Redeem(ctx, bad); err == nil {
			t.Errorf("%s: redeemed", c.name)
		}
	}
	// None of those spent the use.
	if err := r.Redeem(ctx, red); err != nil {
		t.Fatalf("the rightful redemption: %v", err)
	}
	// A person or the admin token is no redeemer.
	body := approval.RedeemRequest{Approval: red.Encoded, CallDigest: hex.EncodeToString(red.CallDigest[:])}
	for _, cred := range []string{adminToken, e.alice} {
		if st, m := e.do("POST", "/v1/approvals/"+red.Approval.ID+"/redeem", cred, body, nil); st != http.StatusForbidden {
			t.Errorf("redeem with a principal's credential: %d %v", st, m)
		}
	}
}

// TestRaceVerifiers: many verifiers, each with its own HTTP client (so
// its own connections) to the authority on 127.0.0.1, race to use one
// approval with max_uses N: exactly N calls are allowed.
func TestRaceVerifiers(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, approvals.Config{})
	tok := e.refunder(e.mint("s_race"))
	const verifiers, callsEach = 8, 4
	for _, uses := range []int{1, 5} {
		call := refund(fmt.Sprint(uses), 2000+uses)
		q := e.ask(tok, call, uses)
		ap := e.approve(e.bob, q.ID)
		var allowed, usedUp atomic.Int32
		var wg sync.WaitGroup
		for range verifiers {
			v := e.verifier(&http.Client{Transport: &http.Transport{}})
			for range callsEach {
				wg.Go(func() {
					r := vreq(call)
					r.Approval = ap
					d := v.Authorize(ctx, tok, r)
					switch {
					case d.Allowed:
						allowed.Add(1)
					case d.Kind() == verifier.KindApprovalInvalid:
						usedUp.Add(1)
					default:
						t.Errorf("unexpected decision: %s", d.Reason)
					}
				})
			}
		}
		wg.Wait()
		if allowed.Load() != int32(uses) || usedUp.Load() != verifiers*callsEach-int32(uses) {
			t.Fatalf("max_uses %d: %d allowed, %d used up, of %d calls", uses, allowed.Load(), usedUp.Load(), verifiers*callsEach)
		}
		var got approvals.Request
		if e.do("GET", "/v1/approvals/"+q.ID, adminToken, nil, &got); len(got.Uses) != uses {
			t.Fatalf("the authority recorded %d uses, want %d", len(got.Uses), uses)
		}
	}
}

// flip changes the base64 character at i.
func flip(s string, i int) string {
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	return s[:i] + string(c) + s[i+1:]
}
