package approval_test

import (
	"testing"

	"github.com/mandate-dev/mandate/verifier/approval"
	"github.com/mandate-dev/mandate/verifier/approval/approvaltest"
)

func TestMemoryRedeemer(t *testing.T) {
	approvaltest.RunRedeemerTests(t, func(*testing.T) approval.Redeemer { return approval.NewMemory() })
}
