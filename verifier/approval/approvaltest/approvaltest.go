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

// Harness gives the suite what it needs of one Redeemer implementation.
type Harness struct {
	// NewRedeemer returns a fresh redeemer (one per subtest).
	NewRedeemer func(t *testing.T) approval.Redeemer
	// NewRedemption returns a redemption of a new approval with maxUses
	// uses, distinct from every other it returned, that the redeemer
	// accepts: for the in-memory redeemer any verified-looking approval
	// ([Unissued]); for the authority's, an approval it issued for a call
	// of a live token, with that token as Redemption.Token.
	NewRedemption func(t *testing.T, maxUses int) approval.Redemption
}

// Unissued is a Harness.NewRedemption for redeemers that trust what the
// verifier verified and keep no record of issued approvals (Memory).
func Unissued() func(t *testing.T, maxUses int) approval.Redemption {
	var n atomic.Int64
	return func(t *testing.T, maxUses int) approval.Redemption {
		a := NewApproval(fmt.Sprintf("ap_unissued_%d", n.Add(1)), 1, maxUses)
		return approval.Redemption{Approval: a, CallDigest: a.CallDigest, DecisionID: "d_test"}
	}
}

// RunRedeemerTests runs the conformance suite against the redeemers and
// approvals h makes.
func RunRedeemerTests(t *testing.T, h Harness) {
	ctx := context.Background()
	redeem := func(r approval.Redeemer, red approval.Redemption) error { return r.Redeem(ctx, red) }
	t.Run("single use", func(t *testing.T) {
		r := h.NewRedeemer(t)
		a := h.NewRedemption(t, 1)
		if err := redeem(r, a); err != nil {
			t.Fatalf("first use: %v", err)
		}
		if err := redeem(r, a); !errors.Is(err, approval.ErrUsedUp) {
			t.Fatalf("second use: got %v, want ErrUsedUp", err)
		}
	})
	t.Run("max uses", func(t *testing.T) {
		r := h.NewRedeemer(t)
		a := h.NewRedemption(t, 3)
		for i := range 3 {
			if err := redeem(r, a); err != nil {
				t.Fatalf("use %d: %v", i+1, err)
			}
		}
		if err := redeem(r, a); !errors.Is(err, approval.ErrUsedUp) {
			t.Fatalf("fourth use: got %v, want ErrUsedUp", err)
		}
	})
	t.Run("counted per approval", func(t *testing.T) {
		r := h.NewRedeemer(t)
		a, b := h.NewRedemption(t, 1), h.NewRedemption(t, 1)
		for _, x := range []approval.Redemption{a, b} {
			if err := redeem(r, x); err != nil {
				t.Fatalf("%s: %v", x.Approval.ID, err)
			}
		}
		if err := redeem(r, a); !errors.Is(err, approval.ErrUsedUp) {
			t.Fatalf("first approval again: got %v, want ErrUsedUp", err)
		}
	})
	t.Run("canceled context", func(t *testing.T) {
		r := h.NewRedeemer(t)
		a := h.NewRedemption(t, 1)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := r.Redeem(cctx, a); err == nil {
			t.Fatal("a canceled context redeemed")
		}
	})
	t.Run("racing redeemers", func(t *testing.T) {
		r := h.NewRedeemer(t)
		for _, uses := range []int{1, 3} {
			a := h.NewRedemption(t, uses)
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
