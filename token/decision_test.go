package token_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/token"
)

// A shipper trims what is too long, so that the authority never refuses a
// record for its size; what it cannot trim it leaves for validation.
func TestTrimDecisionFitsValidation(t *testing.T) {
	long := strings.Repeat("é", token.MaxDecisionText) // 2 bytes each
	r := token.DecisionRecord{
		ID: "d_1", Time: time.Now(), Allowed: false, Kind: "caveat_denied", Reason: long, CheckText: long + "\xff",
		Service: long, Resource: long, Session: long, ArgNames: make([]string, token.MaxDecisionArgs+5),
		DelegatedTo: []string{long}, Args: json.RawMessage(`{"x":"` + strings.Repeat("a", token.MaxDecisionArgsJSON) + `"}`),
	}
	for i := range r.ArgNames {
		r.ArgNames[i] = "a"
	}
	if err := token.ValidateDecision(&r); !errors.Is(err, token.ErrDecisionRecord) {
		t.Fatalf("untrimmed: %v", err)
	}
	token.TrimDecision(&r)
	if err := token.ValidateDecision(&r); err != nil {
		t.Fatalf("trimmed: %v", err)
	}
	if !strings.HasSuffix(r.Reason, "…") || r.Args != nil || len(r.ArgNames) != token.MaxDecisionArgs {
		t.Errorf("trimmed record: reason …%q, args %d bytes, %d arg names", r.Reason[len(r.Reason)-8:], len(r.Args), len(r.ArgNames))
	}
}
