package token

import (
	"encoding/json"
	"testing"

	"github.com/mandate-dev/mandate/internal/strictjson"
)

// FuzzApprovalPayloadDifferential: whatever decodeApprovalPayload accepts,
// encoding/json reads the same way and strictjson finds unambiguous.
func FuzzApprovalPayloadDifferential(f *testing.F) {
	f.Add([]byte(`{"v":1,"id":"ap_1","call_digest":"00","session":"s","lineage":"ab","approver":"a","approver_org":"","reason":"x \u003c y \ud83d\ude00","issued_at":1,"expires_at":2,"max_uses":1,"key_id":4294967295}`))
	f.Add([]byte(` { "key_id" : 0 , "v":-0,"id":"","call_digest":"","session":"","lineage":"","approver":"","approver_org":"","reason":"\"","issued_at":-1,"expires_at":9223372036854775807,"max_uses":0} `))
	f.Add([]byte(`{"v":1,"V":1}`))
	f.Fuzz(func(t *testing.T, p []byte) {
		got, err := decodeApprovalPayload(p)
		if err != nil {
			return
		}
		if err := strictjson.Check(p, 1); err != nil {
			t.Fatalf("accepted %q, which strictjson refuses: %v", p, err)
		}
		var want approvalWire
		if err := json.Unmarshal(p, &want); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", p, err)
		}
		if got != want {
			t.Fatalf("%q: read %+v, encoding/json reads %+v", p, got, want)
		}
	})
}
