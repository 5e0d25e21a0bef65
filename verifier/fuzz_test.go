package verifier

import (
	"context"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/token"
)

// FuzzAuthorize checks that no token, however mangled, panics the verifier,
// and that whatever it allows verifies under the trusted key and carries a
// right covering the request.
func FuzzAuthorize(f *testing.F) {
	a := newTestAuthority(f)
	good := a.mint(f, time.Hour)
	f.Add(good, "crm", "get_account", "read", "account:acme/42")
	f.Add(fourBlocks(f, a), "crm", "get_account", "read", "account:acme/42")
	f.Add(appendBlock(f, good, `check if tool($t), ["a", "b"].contains($t)`), "crm", "a", "read", "account:acme/1")
	f.Add(good[:len(good)/2], "crm", "get_account", "read", "account:acme/42")
	f.Add("", "", "", "", "")
	f.Add("AAAA", "crm", "*", "*", "")
	v := newVerifier(f, a)
	keys := a.keys()
	f.Fuzz(func(t *testing.T, tok, service, tool, op, resource string) {
		req := Request{Service: service, Tool: tool, Operation: op, Resource: resource}
		d := v.Authorize(context.Background(), tok, req)
		if !d.Allowed {
			if d.Err == nil || d.Reason == "" {
				t.Fatalf("deny without error or reason: %+v", d)
			}
			return
		}
		u, err := token.ParseString(tok)
		if err != nil {
			t.Fatalf("allowed a token that does not parse: %v", err)
		}
		vt, err := u.Verify(keys, time.Now())
		if err != nil {
			t.Fatalf("allowed a token that does not verify: %v", err)
		}
		covered := false
		for _, r := range vt.Rights() {
			covered = covered || r.Covers(service, tool, op, resource)
		}
		if !covered {
			t.Fatalf("allowed %+v without a covering right in %+v", req, vt.Rights())
		}
	})
}
