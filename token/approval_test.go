package token_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/token"
)

func testApproval() token.Approval {
	return token.Approval{
		ID:          "ap_7x3k",
		CallDigest:  [32]byte{1, 2, 3},
		Session:     "s_test",
		Lineage:     bytes.Repeat([]byte{0xab}, 64),
		Approver:    "alice@acme.test",
		ApproverOrg: "acme",
		Reason:      "refund above 100 for order 7",
		IssuedAt:    t0,
		ExpiresAt:   t0.Add(10 * time.Minute),
	}
}

func signApproval(t *testing.T, k token.SigningKey, a token.Approval) string {
	t.Helper()
	s, err := token.SignApproval(k, a)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestApprovalRoundTrip(t *testing.T) {
	k := testKey(1)
	enc := signApproval(t, k, testApproval())
	got, err := token.VerifyApproval(enc, token.NewKeySet(k.Public()), t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	want := testApproval()
	want.MaxUses, want.KeyID = 1, k.ID // defaults SignApproval fills in
	if !reflect.DeepEqual(want, *got) {
		t.Fatalf("verified approval\n got %+v\nwant %+v", *got, want)
	}
	u, err := token.ParseApproval(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(want, u.UnsafeClaims()) {
		t.Fatalf("unverified claims\n got %+v\nwant %+v", u.UnsafeClaims(), want)
	}
}

func TestApprovalVerifyRefuses(t *testing.T) {
	k, other := testKey(1), testKey(2)
	enc := signApproval(t, k, testApproval())
	payload, sig, _ := strings.Cut(enc, ".")
	forged := signApproval(t, other, testApproval()) // right fields, untrusted key
	// A payload re-signed by another key but claiming k's key ID.
	otherPayload, otherSig, _ := strings.Cut(forged, ".")
	claimK := strings.Replace(mustDecode(t, otherPayload), `"key_id":`+itoa(other.ID), `"key_id":`+itoa(k.ID), 1)
	retired := k.Public()
	retired.NotAfter = t0

	for _, tc := range []struct {
		name string
		enc  string
		keys *token.KeySet
		now  time.Time
		want error
	}{
		{"valid", enc, token.NewKeySet(k.Public()), t0, nil},
		{"untrusted key", forged, token.NewKeySet(k.Public()), t0, token.ErrApprovalUnknownKey},
		{"signature of another key under this key's ID", b64(claimK) + "." + otherSig, token.NewKeySet(k.Public(), other.Public()), t0, token.ErrApprovalSignature},
		{"payload altered", b64(strings.Replace(mustDecode(t, payload), `"max_uses":1`, `"max_uses":9`, 1)) + "." + sig, token.NewKeySet(k.Public()), t0, token.ErrApprovalSignature},
		{"retired key", enc, token.NewKeySet(retired), t0.Add(time.Second), token.ErrApprovalUnknownKey},
		{"expired at the instant", enc, token.NewKeySet(k.Public()), t0.Add(10 * time.Minute), token.ErrApprovalExpired},
		{"expired", enc, token.NewKeySet(k.Public()), t0.Add(time.Hour), token.ErrApprovalExpired},
		{"issued in the future", enc, token.NewKeySet(k.Public()), t0.Add(-2 * time.Minute), token.ErrApprovalExpired},
		{"issued within the clock skew", enc, token.NewKeySet(k.Public()), t0.Add(-30 * time.Second), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := token.VerifyApproval(tc.enc, tc.keys, tc.now)
			if !errors.Is(err, tc.want) || (tc.want != nil && !errors.Is(err, token.ErrApproval)) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err != nil && errors.Is(err, token.ErrInvalid) {
				t.Fatalf("%v matches token.ErrInvalid: a bad approval says nothing about the token", err)
			}
		})
	}
}

func itoa(v uint32) string { return fmt.Sprint(v) }

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func mustDecode(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestParseApprovalStrict: one reading of the bytes. Every payload here is
// refused before any signature is checked.
func TestParseApprovalStrict(t *testing.T) {
	k := testKey(1)
	enc := signApproval(t, k, testApproval())
	p, sig, _ := strings.Cut(enc, ".")
	payload := mustDecode(t, p)
	with := func(old, new string) string {
		if !strings.Contains(payload, old) {
			t.Fatalf("payload %s has no %s", payload, old)
		}
		return b64(strings.Replace(payload, old, new, 1)) + "." + sig
	}
	for _, tc := range []struct{ name, enc string }{
		{"unknown field", with(`"v":1,`, `"v":1,"admin":true,`)},
		{"repeated field", with(`"v":1,`, `"v":1,"approver":"mallory",`)},
		{"field in another case", with(`"approver":`, `"Approver":`)},
		{"missing field", with(`"reason":"refund above 100 for order 7",`, ``)},
		{"version 2", with(`"v":1`, `"v":2`)},
		{"uppercase hex", b64(strings.Replace(payload, `"call_digest":"0102`, `"call_digest":"0A02`, 1)) + "." + sig},
		{"short digest", with(`"call_digest":"0102`, `"call_digest":"02`)},
		{"short lineage", with(`"lineage":"abab`, `"lineage":"ab`)},
		{"max_uses 0", with(`"max_uses":1`, `"max_uses":0`)},
		{"max_uses over the limit", with(`"max_uses":1`, `"max_uses":101`)},
		{"max_uses a string", with(`"max_uses":1`, `"max_uses":"1"`)},
		{"empty approver", with(`"approver":"alice@acme.test"`, `"approver":""`)},
		{"approver with a bidi override", with(`"approver":"alice@acme.test"`, `"approver":"alice\u202e@acme.test"`)},
		{"reason with a newline", with(`"reason":"refund`, `"reason":"\nrefund`)},
		{"expires before issued", with(fmt.Sprintf(`"expires_at":%d`, t0.Add(10*time.Minute).Unix()), `"expires_at":1`)},
		{"trailing data", b64(payload+` {}`) + "." + sig},
		{"not an object", b64(`[1]`) + "." + sig},
		{"null", b64(`null`) + "." + sig},
		{"padded base64", base64.URLEncoding.EncodeToString([]byte(payload)) + "." + sig},
		{"standard base64", strings.NewReplacer("-", "+", "_", "/").Replace(p) + "x." + sig},
		{"no signature", p},
		{"three parts", enc + ".x"},
		{"short signature", p + "." + sig[:20]},
		{"over the size limit", strings.Repeat("a", token.MaxApprovalEncodedBytes+1) + "." + sig},
		{"a token", mint(t, k).Token},
		{"empty", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := token.ParseApproval(tc.enc)
			if !errors.Is(err, token.ErrApprovalMalformed) {
				t.Fatalf("got %v, want ErrApprovalMalformed", err)
			}
		})
	}
}

func TestSignApprovalValidates(t *testing.T) {
	k := testKey(1)
	for _, tc := range []struct {
		name   string
		modify func(*token.Approval)
	}{
		{"no ID", func(a *token.Approval) { a.ID = "" }},
		{"no session", func(a *token.Approval) { a.Session = "" }},
		{"no approver", func(a *token.Approval) { a.Approver = "" }},
		{"no lineage", func(a *token.Approval) { a.Lineage = nil }},
		{"no expiry", func(a *token.Approval) { a.ExpiresAt = time.Time{} }},
		{"lives too long", func(a *token.Approval) { a.ExpiresAt = a.IssuedAt.Add(token.MaxApprovalTTL + time.Second) }},
		{"too many uses", func(a *token.Approval) { a.MaxUses = token.MaxApprovalUses + 1 }},
		{"reason too long", func(a *token.Approval) { a.Reason = strings.Repeat("x", token.MaxApprovalReasonBytes+1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := testApproval()
			tc.modify(&a)
			if _, err := token.SignApproval(k, a); !errors.Is(err, token.ErrApprovalMalformed) {
				t.Fatalf("got %v, want ErrApprovalMalformed", err)
			}
		})
	}
	// The largest approval the limits allow fits the encoded limit.
	a := testApproval()
	a.ID = strings.Repeat("i", token.MaxApprovalIDBytes)
	a.Session, a.Approver, a.ApproverOrg = strings.Repeat("s", token.MaxSubjectBytes), strings.Repeat("p", token.MaxSubjectBytes), strings.Repeat("o", token.MaxSubjectBytes)
	a.Reason = strings.Repeat("r", token.MaxApprovalReasonBytes)
	a.MaxUses = token.MaxApprovalUses
	enc := signApproval(t, k, a)
	if _, err := token.VerifyApproval(enc, token.NewKeySet(k.Public()), t0); err != nil {
		t.Fatalf("largest approval (%d bytes): %v", len(enc), err)
	}
}

// TestApprovalDomainSeparated: the root key signs approvals under their own
// domain, so an approval's signature verifies over nothing else the key
// signs (its bare payload, a feed page, an endorsement), and theirs never
// over an approval.
func TestApprovalDomainSeparated(t *testing.T) {
	k := testKey(1)
	enc := signApproval(t, k, testApproval())
	p, s, _ := strings.Cut(enc, ".")
	payload, sig := []byte(mustDecode(t, p)), []byte(mustDecode(t, s))
	if ed25519.Verify(k.Public().Key, payload, sig) {
		t.Fatal("the approval's signature verifies over its bare payload")
	}
	if !ed25519.Verify(k.Public().Key, append([]byte("mandate/approval/v1\x00"), payload...), sig) {
		t.Fatal("the approval's signature does not verify over the documented bytes")
	}
	page := token.FeedPage{After: 1, Next: 2, HeadHash: token.GenesisHash()}
	pageSig := page.Sign(k)
	if _, err := token.VerifyApproval(p+"."+base64.RawURLEncoding.EncodeToString(pageSig), token.NewKeySet(k.Public()), t0); !errors.Is(err, token.ErrApprovalSignature) {
		t.Fatalf("a feed page signature as an approval's: got %v, want ErrApprovalSignature", err)
	}
	e := token.Endorse(k, testKey(2).Public())
	if _, err := token.VerifyApproval(p+"."+base64.RawURLEncoding.EncodeToString(e.Signature), token.NewKeySet(k.Public()), t0); !errors.Is(err, token.ErrApprovalSignature) {
		t.Fatalf("an endorsement signature as an approval's: got %v, want ErrApprovalSignature", err)
	}
	// Nor is an approval a token.
	if _, err := token.ParseString(enc); !errors.Is(err, token.ErrInvalid) {
		t.Fatalf("an approval parsed as a token: %v", err)
	}
}

func FuzzParseApproval(f *testing.F) {
	k := testKey(1)
	enc, err := token.SignApproval(k, testApproval())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc)
	f.Add("")
	f.Add("e30.AAAA")
	f.Add(b64(`{"v":1,"v":1}`) + "." + strings.Repeat("A", 86))
	keys := token.NewKeySet(k.Public())
	f.Fuzz(func(t *testing.T, s string) {
		u, err := token.ParseApproval(s)
		if err != nil {
			if !errors.Is(err, token.ErrApprovalMalformed) {
				t.Fatalf("error %v does not match ErrApprovalMalformed", err)
			}
			return
		}
		c := u.UnsafeClaims()
		if err := c.Validate(); err != nil {
			t.Fatalf("parsed claims do not validate: %v", err)
		}
		if a, err := u.Verify(keys, t0); err == nil && s != enc {
			// Only the signed approval verifies; anything else is a forgery
			// the fuzzer found.
			t.Fatalf("a different approval verified: %q (%+v)", s, a)
		}
	})
}

func BenchmarkParseApproval(b *testing.B) {
	k := testKey(1)
	enc, err := token.SignApproval(k, testApproval())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := token.ParseApproval(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func TestNewApprovalID(t *testing.T) {
	a, b := token.NewApprovalID(), token.NewApprovalID()
	if a == b || !strings.HasPrefix(a, "ap_") || len(a) != 29 || len(a) > token.MaxApprovalIDBytes {
		t.Fatalf("IDs %q, %q", a, b)
	}
}
