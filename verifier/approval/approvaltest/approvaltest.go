// Package approvaltest is the conformance suite of approval.Redeemer: every
// implementation (the in-memory one, the authority's) runs
// RunRedeemerTests.
package approvaltest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier/approval"
)

// NewApproval returns a verified-looking approval with the given ID, key ID
// and max uses, valid for an hour from now, for redeemer tests (redeemers
// trust what the verifier verified).
func NewApproval(id string, keyID uint32, maxUses int) *token.Approval {
	now := time.Now().Truncate(time.Second)
	return &token.Approval{
		ID: id, Session: "s_redeem", Lineage: make([]byte, 64), Approver: "alice@acme.test", ApproverOrg: "acme",
		IssuedAt: now, ExpiresAt: now.Add(time.Hour), MaxUses: maxUses, KeyID: keyID,
	}
}

// RunRedeemerTests runs the conformance suite against redeemers made by
// newRedeemer, one per subtest.
func RunRedeemerTests(t *testing.T, newRedeemer func(t *testing.T) approval.Redeemer) {
	ctx := context.Background()
	redeem := func(r approval.Redeemer, a *token.Approval) error {
		return r.Redeem(ctx, approval.Redemption{Approval: a, CallDigest: a.CallDigest, DecisionID: "d_test"})
	}
	t.Run("single use", func(t *testing.T) {
		r := newRedeemer(t)
		a := NewApproval("ap_single", 1, 1)
		if err := redeem(r, a); err != nil {
			t.Fatalf("first use: %v", err)
		}
		if err := redeem(r, a); !errors.Is(err, approval.ErrUsedUp) {
			t.Fatalf("second use: got %v, want ErrUsedUp", err)
		}
	})
	t.Run("max uses", func(t *testing.T) {
		r := newRedeemer(t)
		a := NewApproval("ap_three", 1, 3)
		for i := range 3 {
			if err := redeem(r, a); err != nil {
				t.Fatalf("use %d: %v", i+1, err)
			}
		}
		if err := redeem(r, a); !errors.Is(err, approval.ErrUsedUp) {
			t.Fatalf("fourth use: got %v, want ErrUsedUp", err)
		}
	})
	t.Run("counted per ID and key", func(t *testing.T) {
		r := newRedeemer(t)
		for _, a := range []*token.Approval{NewApproval("ap_a", 1, 1), NewApproval("ap_b", 1, 1), NewApproval("ap_a", 2, 1)} {
			if err := redeem(r, a); err != nil {
				t.Fatalf("%s (key %d): %v", a.ID, a.KeyID, err)
			}
		}
	})
	t.Run("canceled context", func(t *testing.T) {
		r := newRedeemer(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := r.Redeem(cctx, approval.Redemption{Approval: NewApproval("ap_ctx", 1, 1)}); err == nil {
			t.Fatal("a canceled context redeemed")
		}
	})
	t.Run("racing redeemers", func(t *testing.T) {
		r := newRedeemer(t)
		for _, uses := range []int{1, 3} {
			a := NewApproval(fmt.Sprintf("ap_race_%d", uses), 1, uses)
			var ok, used atomic.Int32
			var wg sync.WaitGroup
			for range 32 {
				wg.Go(func() {
					switch err := redeem(r, a); {
					case err == nil:
						ok.Add(1)
					case errors.Is(err, approval.ErrUsedUp):
						used.Add(1)
					default:
						t.Errorf("redeem: %v", err)
					}
				})
			}
			wg.Wait()
			if ok.Load() != int32(uses) || used.Load() != 32-int32(uses) {
				t.Fatalf("max_uses %d: %d redeemed, %d used up; want exactly %d redeemed", uses, ok.Load(), used.Load(), uses)
			}
		}
	})
}
