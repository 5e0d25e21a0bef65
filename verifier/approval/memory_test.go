package approval_test

import (
	"context"
	"testing"

	"github.com/mandate-dev/mandate/verifier/approval"
	"github.com/mandate-dev/mandate/verifier/approval/approvaltest"
)

func TestMemoryRedeemer(t *testing.T) {
	approvaltest.RunRedeemerTests(t, approvaltest.Harness{
		NewRedeemer:   func(*testing.T) approval.Redeemer { return approval.NewMemory() },
		NewRedemption: approvaltest.Unissued(),
	})
}

// TestMemoryCountsPerKey: Memory counts uses per approval ID and signing
// key ID (IDs are the authority's, unique per key).
func TestMemoryCountsPerKey(t *testing.T) {
	m := approval.NewMemory()
	for _, a := range []*approval.Redemption{
		{Approval: approvaltest.NewApproval("ap_a", 1, 1)},
		{Approval: approvaltest.NewApproval("ap_a", 2, 1)},
	} {
		if err := m.Redeem(context.Background(), *a); err != nil {
			t.Fatalf("%s (key %d): %v", a.Approval.ID, a.Approval.KeyID, err)
		}
	}
}
