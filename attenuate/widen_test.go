package attenuate_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
)

// Invariant 6: nothing appended can widen what the authority granted. Each
// attempt appends a block a token holder could write with any Biscuit
// library (not only this package), and no request outside the authority's
// grant becomes allowed.
func TestAppendedBlocksCannotWiden(t *testing.T) {
	a := newAuthority(t)
	narrow := a.mint(t, token.Right{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/42"})
	outside := []struct {
		name string
		at   time.Duration
		req  verifier.Request
	}{
		{"other tool", 0, verifier.Request{Service: "crm", Tool: "delete_account", Operation: "write", Resource: "account:acme/42"}},
		{"other operation", 0, verifier.Request{Service: "crm", Tool: "get_account", Operation: "write", Resource: "account:acme/42"}},
		{"other service", 0, refund(10)},
		{"other resource", 0, verifier.Request{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:other/1"}},
		{"after the authority's expiry", 2 * time.Hour, getAccount42},
	}
	attempts := []struct {
		name string
		src  string // appended with biscuit-go, bypassing this package
		add  func(*attenuate.Builder)
	}{
		{name: "right facts", src: `right("crm", "*", "*", ""); right("billing", "refund", "write", "account:acme/"); right("crm", "get_account", "read", "")`},
		{name: "rule deriving any right", src: `right($s, $t, $o, $r) <- service($s), tool($t), operation($o), resource($r)`},
		{name: "rule deriving a write right", src: `right("crm", $t, "write", "") <- tool($t)`},
		{name: "facts shadowing the request", src: `tool("get_account"); operation("read"); service("crm"); resource("account:acme/42"); time(2026-11-22T10:00:00Z)`},
		{name: "rules deriving request facts", src: `tool("get_account") <- tool($t); time(2026-11-22T10:00:00Z) <- time($t); resource("account:acme/42") <- resource($r)`},
		{name: "authority-looking facts", src: `agent("admin"); session("s_other"); user("root@evil.test"); org("evil")`},
		{name: "a check that always passes", src: `check if true`},
		{name: "raw check true through the builder", add: func(b *attenuate.Builder) { b.Check("check if true") }},
		{name: "the widest caveats the builder offers", add: func(b *attenuate.Builder) {
			b.Services("crm", "billing").Tools("get_account", "delete_account", "refund").
				Operations("read", "write").ResourcePrefix("account:acme/").TTL(1000*time.Hour).
				ArgMin("refund", "amount", -1<<62)
		}},
	}
	for _, at := range attempts {
		t.Run(at.name, func(t *testing.T) {
			var tok string
			if at.add != nil {
				tok = build(t, narrow, at.add)
			} else {
				tok = appendRaw(t, narrow, at.src)
			}
			for _, o := range outside {
				v := a.verifier(t, t0.Add(o.at))
				d := v.Authorize(context.Background(), tok, o.req)
				if d.Allowed {
					t.Errorf("%s: allowed by the appended block", o.name)
				}
				// A caveat of the appended block that denies as well is
				// reported instead of the missing right (no grant lifts
				// it): that narrows, it does not widen.
				caveat := errors.Is(d.Err, verifier.ErrCheckFailed) && d.FailedCheck != nil && d.FailedCheck.Block == 1
				if !errors.Is(d.Err, verifier.ErrNoRight) && !errors.Is(d.Err, token.ErrExpired) && !caveat {
					t.Errorf("%s: denied with %v, want the authority's own reason (no right, or expired) or a caveat of the appended block", o.name, d.Err)
				}
			}
			d := a.authorize(t, tok, getAccount42)
			if !d.Allowed {
				t.Errorf("the granted request is denied: %s", d.Reason)
			}
			if d.Agent != "orchestrator" || d.Session == "s_other" || d.Org != "acme" || d.User != "alice@acme.test" {
				t.Errorf("decision subject = %q %q %q %q, want the authority's", d.Agent, d.Session, d.User, d.Org)
			}
		})
	}
}

// A later block cannot satisfy or switch off an earlier block's checks:
// each block's facts and rules are visible to its own checks only, and the
// request facts come from the verifier.
func TestLaterBlocksCannotLiftEarlierCaveats(t *testing.T) {
	a := newAuthority(t)
	narrowed := build(t, a.mint(t), func(b *attenuate.Builder) {
		b.Tools("list_invoices", "refund").
			ResourcePrefix("account:acme/42").
			ArgMax("refund", "amount", 10).
			ExpiresAt(t0.Add(time.Minute))
	})
	list420 := listInvoices
	list420.Resource = "account:acme/420"
	shadows := []string{
		`tool("list_invoices"); resource("account:acme/42"); arg("amount", 1); time(2026-11-22T10:00:00Z)`,
		`tool("list_invoices") <- tool($t); resource("account:acme/42") <- resource($r); arg("amount", 1) <- arg($n, $v); time(2026-11-22T10:00:00Z) <- time($t)`,
		`check if true`,
	}
	calls := []struct {
		name string
		at   time.Duration
		req  verifier.Request
	}{
		{"tool outside block 1", 0, getAccount42},
		{"resource outside block 1", 0, list420},
		{"amount over block 1's bound", 0, refund(11)},
		{"amount missing", 0, refund(nil)},
		{"after block 1's expiry", 2 * time.Minute, listInvoices},
	}
	for i, src := range shadows {
		tok := appendRaw(t, narrowed, src)
		for _, c := range calls {
			t.Run(fmt.Sprintf("shadow %d/%s", i, c.name), func(t *testing.T) {
				d := a.verifier(t, t0.Add(c.at)).Authorize(context.Background(), tok, c.req)
				if d.Allowed {
					t.Fatal("a later block lifted an earlier caveat")
				}
				if d.FailedCheck == nil || d.FailedCheck.Block != 1 {
					t.Errorf("failed check = %+v, want block 1", d.FailedCheck)
				}
			})
		}
		// The shadowing block changes nothing for a request block 1 allows.
		if d := a.authorize(t, tok, listInvoices); !d.Allowed {
			t.Errorf("shadow %d: an allowed request is now denied: %s", i, d.Reason)
		}
	}
	// Nor can a block move the authority's expiry.
	expired := appendRaw(t, a.mint(t), `time(2026-11-22T10:00:00Z); check if true`)
	d := a.verifier(t, t0.Add(2*time.Hour)).Authorize(context.Background(), expired, getAccount42)
	if d.Allowed || !errors.Is(d.Err, token.ErrExpired) {
		t.Errorf("expired token: allowed %v, err %v; want token.ErrExpired", d.Allowed, d.Err)
	}
}

// A property over many requests and caveat sets: whatever an attenuated
// token allows, the token it came from allows too.
func TestAttenuationNeverWidens(t *testing.T) {
	a := newAuthority(t)
	orig := a.mint(t,
		token.Right{Service: "crm", Tool: "*", Operation: "read", Resource: "account:acme/"},
		token.Right{Service: "billing", Tool: "refund", Operation: "write", Resource: "account:acme/42"},
	)
	caveats := map[string]func(*attenuate.Builder){
		"tools":       func(b *attenuate.Builder) { b.Tools("get_account", "refund", "delete_account") },
		"operations":  func(b *attenuate.Builder) { b.Operations("read", "write", "admin") },
		"services":    func(b *attenuate.Builder) { b.Services("crm", "billing", "hr") },
		"resource":    func(b *attenuate.Builder) { b.Resource("account:acme/42") },
		"prefix":      func(b *attenuate.Builder) { b.ResourcePrefix("account:acme/42") },
		"wide prefix": func(b *attenuate.Builder) { b.ResourcePrefix("account:acme/") },
		"arg bounds":  func(b *attenuate.Builder) { b.ArgMax("refund", "amount", 100).ArgMin("refund", "amount", 1) },
		"one of":      func(b *attenuate.Builder) { b.ArgOneOf("refund", "reason", "duplicate", "fraud") },
		"ttl":         func(b *attenuate.Builder) { b.TTL(30 * time.Minute) },
		"late expiry": func(b *attenuate.Builder) { b.ExpiresAt(t0.Add(100 * time.Hour)) },
		"everything": func(b *attenuate.Builder) {
			b.Tools("get_account", "refund").ResourcePrefix("account:acme").ArgMax("refund", "amount", 1000).
				TTL(2 * time.Hour).DelegatedTo("x").Check("check if true")
		},
	}
	var reqs []verifier.Request
	for _, svc := range []string{"crm", "billing", "hr"} {
		for _, tool := range []string{"get_account", "refund", "delete_account"} {
			for _, op := range []string{"read", "write"} {
				for _, res := range []string{"account:acme/42", "account:acme/420", "account:acme/42/x", "account:other/1"} {
					for _, args := range []map[string]any{nil, {"amount": 50}, {"amount": 5000, "reason": "fraud"}, {"amount": "50"}, {"reason": []string{"fraud", "other"}}} {
						reqs = append(reqs, verifier.Request{Service: svc, Tool: tool, Operation: op, Resource: res, Args: args})
					}
				}
			}
		}
	}
	times := []time.Duration{0, 45 * time.Minute, 3 * time.Hour}
	for name, add := range caveats {
		tok := build(t, orig, add)
		allowedBefore, allowedAfter := 0, 0
		for _, at := range times {
			// A caching verifier: the property is about Datalog, and the
			// cache keeps this test fast under -race.
			v, err := verifier.New(verifier.Config{Keys: token.NewKeySet(a.key.Public()), InsecureNoRevocation: true, Now: clockAt(t0.Add(at))})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range reqs {
				before := v.Authorize(context.Background(), orig, r).Allowed
				after := v.Authorize(context.Background(), tok, r)
				if after.Allowed && !before {
					t.Errorf("%s: %+v at +%s allowed after attenuation only", name, r, at)
				}
				if before {
					allowedBefore++
				}
				if after.Allowed {
					allowedAfter++
				}
			}
		}
		if allowedBefore == 0 {
			t.Fatalf("%s: the original token allows nothing; the property is vacuous", name)
		}
		t.Logf("%s: %d of %d requests allowed before, %d after", name, allowedBefore, len(reqs)*len(times), allowedAfter)
	}
}
