package token_test

import (
	"encoding/hex"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/biscuit-auth/biscuit-go/v2/pb"

	"github.com/mandate-dev/mandate/token"
)

func inspectJSON(t *testing.T, in *token.Inspection) map[string]any {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestInspect(t *testing.T) {
	key := testKey(1)
	raw := fourBlocks(t, key)
	u, err := token.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	in := token.Inspect(u)
	got := inspectJSON(t, in)
	ids := make([]any, 4)
	for i, id := range u.RevocationIDs() {
		ids[i] = hex.EncodeToString(id)
	}
	want := map[string]any{
		"verified":             false,
		"key_id":               nil,
		"root_key_id":          nil, // biscuit-go dropped the hint on append
		"sealed":               false,
		"block_versions":       []any{3.0, 3.0, 3.0, 3.0},
		"revocation_ids":       ids,
		"expires_at":           "2026-11-22T10:05:00Z",
		"authority_expires_at": "2026-11-22T10:15:00Z",
		"subject":              map[string]any{"agent": "support-bot", "user": "alice@acme.test", "org": "acme", "session": "s_test"},
		"rights": []any{
			map[string]any{"service": "crm", "tool": "get_account", "operation": "read", "resource": "account:acme/42"},
			map[string]any{"service": "billing", "tool": "*", "operation": "*", "resource": "invoice:acme/"},
		},
		"limits": []any{},
	}
	blocks := got["blocks"]
	delete(got, "blocks")
	if diff := diff(want, got); diff != "" {
		t.Errorf("Inspect JSON %s", diff)
	}
	bs, _ := blocks.([]any)
	if len(bs) != 4 {
		t.Fatalf("blocks = %v", blocks)
	}
	b0 := bs[0].(map[string]any)
	if b0["index"] != 0.0 || b0["version"] != 3.0 || b0["revocation_id"] != ids[0] || b0["expires_at"] != "2026-11-22T10:15:00Z" {
		t.Errorf("block 0 = %v", b0)
	}
	wantFacts := []any{`session("s_test")`, `agent("support-bot")`, `user("alice@acme.test")`, `org("acme")`,
		`right("crm", "get_account", "read", "account:acme/42")`, `right("billing", "*", "*", "invoice:acme/")`}
	if diff := diff(wantFacts, b0["facts"]); diff != "" {
		t.Errorf("block 0 facts %s", diff)
	}
	if diff := diff([]any{"check if time($time), $time <= 2026-11-22T10:15:00Z"}, b0["checks"]); diff != "" {
		t.Errorf("block 0 checks %s", diff)
	}
	if diff := diff([]any{}, b0["rules"]); diff != "" {
		t.Errorf("block 0 rules %s", diff)
	}
	b1 := bs[1].(map[string]any)
	wantB1 := map[string]any{
		"index":         1.0,
		"version":       3.0,
		"context":       "sub-agent 1",
		"revocation_id": ids[1],
		"facts":         []any{`delegated_to("planner")`},
		"rules":         []any{},
		"checks":        []any{`check if tool($t), ["get_account", "list_invoices"].contains($t)`},
	}
	syms, _ := b1["symbols"].([]any)
	if !slices.Contains(syms, any("planner")) || !slices.Contains(syms, any("list_invoices")) {
		t.Errorf("block 1 symbols = %v, want the strings it added", syms)
	}
	delete(b1, "symbols")
	if diff := diff(wantB1, b1); diff != "" {
		t.Errorf("block 1 %s", diff)
	}
	b3 := bs[3].(map[string]any)
	if b3["expires_at"] != "2026-11-22T10:05:00Z" {
		t.Errorf("block 3 expires_at = %v", b3["expires_at"])
	}
	if _, ok := bs[2].(map[string]any)["expires_at"]; ok {
		t.Errorf("block 2 states no expiry but has expires_at")
	}

	text := in.Text()
	t.Logf("Text():\n%s", text)
	for _, s := range []string{
		"UNVERIFIED",
		"block 0 (authority)",
		"block 3 (attenuation)",
		`check if tool($t), ["get_account", "list_invoices"].contains($t);`,
		`check if resource($r), $r.starts_with("account:acme/42");`,
		`right("billing", "*", "*", "invoice:acme/");`,
		"2026-11-22T10:05:00Z (earliest of all blocks)",
		"sub-agent 1",
		"(claimed)",
		ids[3].(string),
	} {
		if !strings.Contains(text, s) {
			t.Errorf("Text() lacks %q", s)
		}
	}
	if !strings.HasPrefix(text, "UNVERIFIED") {
		t.Error("Text() of an unverified token does not start with the UNVERIFIED banner")
	}
}

func TestInspectVerified(t *testing.T) {
	key := testKey(1)
	m := mint(t, key)
	u, err := token.Parse(seal(t, m.Raw))
	if err != nil {
		t.Fatal(err)
	}
	v, err := u.Verify(token.NewKeySet(testKey(2).Public(), key.Public()), t0)
	if err != nil {
		t.Fatal(err)
	}
	in := token.InspectVerified(v)
	got := inspectJSON(t, in)
	if got["verified"] != true || got["key_id"] != float64(key.ID) || got["sealed"] != true {
		t.Errorf("verified/key_id/sealed = %v/%v/%v", got["verified"], got["key_id"], got["sealed"])
	}
	text := in.Text()
	if strings.Contains(text, "UNVERIFIED") || strings.Contains(text, "(claimed)") || !strings.HasPrefix(text, "VERIFIED") {
		t.Errorf("Text() of a verified token:\n%s", text)
	}
	if !strings.Contains(text, hex.EncodeToString(m.RevocationIDs[0])) || !strings.Contains(text, "sealed") {
		t.Errorf("Text() lacks the revocation ID or seal:\n%s", text)
	}

	// A freshly minted token carries its root key ID hint.
	u, err = token.Parse(m.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if got := inspectJSON(t, token.Inspect(u)); got["root_key_id"] != float64(key.ID) {
		t.Errorf("root_key_id = %v, want %d", got["root_key_id"], key.ID)
	}

	if token.Inspect(nil) != nil || token.InspectVerified(nil) != nil || (*token.Inspection)(nil).Text() != "" {
		t.Error("nil inputs must give nil and empty text")
	}
}

// Strings in a token are attacker-controlled: Text escapes everything a
// terminal would interpret, so no token can forge or hide output lines, and
// JSON stays valid for any content, including dates no RFC 3339 year fits.
func TestInspectHostileContent(t *testing.T) {
	key := testKey(1)
	hostile := []string{"agent", "evil\x1b[2J\nblock 9 (authority)", "\u202eobat", "v\r"}
	auth := &pb.Block{
		Symbols: hostile,
		Version: u32(3),
		Context: proto_String("ctx\nUNVERIFIED\x07"),
		FactsV2: []*pb.FactV2{pbFact(sym0, pbStr(sym0+1)), pbFact(sym0+2, pbStr(sym0+1))},
		ChecksV2: []*pb.CheckV2{{Queries: []*pb.RuleV2{{
			Head: pbPred(27),
			Body: []*pb.PredicateV2{pbPred(5, pbVar(sym0+3))}, // default symbol "time"
			Expressions: []*pb.ExpressionV2{{Ops: []*pb.Op{
				pbValue(pbVar(sym0 + 3)),
				pbValue(&pb.TermV2{Content: &pb.TermV2_Date{Date: 1 << 62}}),
				pbBinary(pb.OpBinary_LessOrEqual),
			}}},
		}}}},
	}
	raw := chain{root: key.Private, blocks: [][]byte{marshal(t, auth)}}.build(t)
	u, err := token.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	in := token.Inspect(u)
	if _, err := json.Marshal(in); err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	if in.ExpiresAt == nil || in.Subject.Agent != hostile[1] {
		t.Fatalf("ExpiresAt = %v, agent = %q", in.ExpiresAt, in.Subject.Agent)
	}
	text := in.Text()
	t.Logf("Text():\n%s", text)
	for _, bad := range []string{"\x1b", "\u202e", "\r", "\x07"} {
		if strings.Contains(text, bad) {
			t.Errorf("Text() contains %q", bad)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if line == "UNVERIFIED" || strings.HasPrefix(line, "block 9") {
			t.Errorf("a token forged the output line %q", line)
		}
	}
	if n := strings.Count(text, "\nblock "); n != 1 {
		t.Errorf("Text() shows %d block headers, want 1", n)
	}
}

func proto_String(s string) *string { return &s }

// diff returns "" when want and got are deeply equal, else both, as JSON.
func diff(want, got any) string {
	if reflect.DeepEqual(want, got) {
		return ""
	}
	w, _ := json.MarshalIndent(want, "", "  ")
	g, _ := json.MarshalIndent(got, "", "  ")
	return "\nwant: " + string(w) + "\ngot:  " + string(g)
}
