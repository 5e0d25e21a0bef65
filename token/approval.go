package token

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// An approval is a person's signed consent to exactly one tool call of one
// session's delegation chain. The authority signs it with a root key (the
// keys verifiers already trust) once an approver decides; the agent
// presents it with its token when it retries the call; the verifier checks
// it offline ([UnverifiedApproval.Verify], then binding it to the call,
// session and lineage) and only then adds the fact
//
//	approved($approver, $approver_org)
//
// that approval caveats ([ApprovalRequirement]) ask for. An approval is
// never a capability: it names a call, it grants nothing, and a verifier
// reads it only together with a token that allows the call.
//
// The encoded form is two URL-safe base64 parts (no padding) joined by a
// dot: the payload, a JSON object, and its Ed25519 signature:
//
//	signature = Ed25519(root key, "mandate/approval/v1\x00" ‖ payload bytes)
//
// The domain separator keeps an approval from ever reading as a Biscuit
// block (whose signed bytes are a protobuf), a revocation feed page or a
// key endorsement, which the same keys sign under their own domains. The
// signature covers the payload's exact bytes, so nothing is
// re-canonicalized. The payload holds exactly these keys, each once, in
// any order; any other key, a repeated key or a key in another case is
// refused:
//
//	{"v":1,                      the format version
//	 "id":"ap_…",                the approval ID (what redemption counts)
//	 "call_digest":"…",          CallDigest of the approved call, 64 lowercase hex
//	 "session":"s_…",            the session of the requesting token
//	 "lineage":"…",              revocation ID of the requesting token's last
//	                             block, 128 lowercase hex: that token and any
//	                             token attenuated from it carry the block; a
//	                             sibling's token does not
//	 "approver":"alice@acme.test",
//	 "approver_org":"acme",      may be ""
//	 "reason":"…",               may be ""
//	 "issued_at":1795000000,     Unix seconds
//	 "expires_at":1795000600,    Unix seconds; valid while now < expires_at
//	 "max_uses":1,               1..MaxApprovalUses
//	 "key_id":123456}            KeyID of the signing root key
type Approval struct {
	ID          string
	CallDigest  [CallDigestSize]byte
	Session     string
	Lineage     []byte
	Approver    string
	ApproverOrg string
	Reason      string
	IssuedAt    time.Time
	ExpiresAt   time.Time
	// MaxUses is how many calls the approval may decide (across every
	// verifier: redemption at the authority counts them). Zero means
	// one when signing.
	MaxUses int
	// KeyID is set by SignApproval.
	KeyID uint32
}

// NewApprovalID returns a random approval ID, "ap_" and 26 base32
// characters.
func NewApprovalID() string { return "ap_" + NewSessionID()[2:] }

// ErrApproval is the root of every reason an approval is unusable. It does
// not match ErrInvalid: a bad approval says nothing about the token it came
// with.
var ErrApproval = errors.New("invalid approval")

var (
	// ErrApprovalMalformed: not an approval (bad encoding, unknown or
	// repeated fields, a field out of range, over a size limit).
	ErrApprovalMalformed = fmt.Errorf("%w: malformed", ErrApproval)
	// ErrApprovalSignature: the signature does not verify.
	ErrApprovalSignature = fmt.Errorf("%w: bad signature", ErrApproval)
	// ErrApprovalUnknownKey: the signing key is not trusted (now).
	ErrApprovalUnknownKey = fmt.Errorf("%w: unknown key", ErrApproval)
	// ErrApprovalExpired: the approval's expiry has passed, or it was
	// issued in the future.
	ErrApprovalExpired = fmt.Errorf("%w: expired", ErrApproval)
)

var approvalDomain = []byte("mandate/approval/v1\x00")

// approvalVersion is the payload's "v".
const approvalVersion = 1

type approvalWire struct {
	V           int    `json:"v"`
	ID          string `json:"id"`
	CallDigest  string `json:"call_digest"`
	Session     string `json:"session"`
	Lineage     string `json:"lineage"`
	Approver    string `json:"approver"`
	ApproverOrg string `json:"approver_org"`
	Reason      string `json:"reason"`
	IssuedAt    int64  `json:"issued_at"`
	ExpiresAt   int64  `json:"expires_at"`
	MaxUses     int    `json:"max_uses"`
	KeyID       uint32 `json:"key_id"`
}

// Validate checks an approval's fields (not its signature).
func (a *Approval) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrApprovalMalformed, fmt.Sprintf(format, args...))
	}
	for _, f := range [...]struct {
		what, v  string
		max      int
		required bool
	}{
		{"id", a.ID, MaxApprovalIDBytes, true},
		{"session", a.Session, MaxSubjectBytes, true},
		{"approver", a.Approver, MaxSubjectBytes, true},
		{"approver_org", a.ApproverOrg, MaxSubjectBytes, false},
	} {
		switch {
		case f.required && f.v == "":
			return bad("%s is required", f.what)
		case len(f.v) > f.max:
			return bad("%s is over %d bytes", f.what, f.max)
		case !utf8.ValidString(f.v):
			return bad("%s is not UTF-8", f.what)
		}
		if err := CheckNameRunes(f.v); err != nil {
			return bad("%s %v", f.what, err)
		}
	}
	switch {
	case len(a.Reason) > MaxApprovalReasonBytes:
		return bad("reason is over %d bytes", MaxApprovalReasonBytes)
	case !utf8.ValidString(a.Reason) || strings.IndexFunc(a.Reason, unicode.IsControl) >= 0:
		return bad("reason is not UTF-8 text without control characters")
	case len(a.Lineage) != ed25519.SignatureSize:
		return bad("lineage is %d bytes, want a %d-byte revocation ID", len(a.Lineage), ed25519.SignatureSize)
	case a.IssuedAt.IsZero() || a.ExpiresAt.IsZero():
		return bad("issued_at and expires_at are required")
	case !a.ExpiresAt.After(a.IssuedAt):
		return bad("expires_at is not after issued_at")
	case a.ExpiresAt.Sub(a.IssuedAt) > MaxApprovalTTL:
		return bad("lifetime %s is over the maximum of %s", a.ExpiresAt.Sub(a.IssuedAt), MaxApprovalTTL)
	case a.MaxUses < 1 || a.MaxUses > MaxApprovalUses:
		return bad("max_uses %d is outside 1..%d", a.MaxUses, MaxApprovalUses)
	}
	return nil
}

// SignApproval signs a with k and returns the encoded approval. It sets
// KeyID to k's, MaxUses to 1 when zero, and truncates the instants to the
// second (the payload carries Unix seconds).
func SignApproval(k SigningKey, a Approval) (string, error) {
	if len(k.Private) != ed25519.PrivateKeySize {
		return "", errors.New("approval: no signing key")
	}
	if a.MaxUses == 0 {
		a.MaxUses = 1
	}
	a.KeyID = k.ID
	a.IssuedAt = a.IssuedAt.Truncate(time.Second)
	a.ExpiresAt = a.ExpiresAt.Truncate(time.Second)
	if err := a.Validate(); err != nil {
		return "", err
	}
	payload, err := json.Marshal(approvalWire{
		V: approvalVersion, ID: a.ID, CallDigest: hex.EncodeToString(a.CallDigest[:]),
		Session: a.Session, Lineage: hex.EncodeToString(a.Lineage),
		Approver: a.Approver, ApproverOrg: a.ApproverOrg, Reason: a.Reason,
		IssuedAt: a.IssuedAt.Unix(), ExpiresAt: a.ExpiresAt.Unix(), MaxUses: a.MaxUses, KeyID: a.KeyID,
	})
	if err != nil {
		return "", fmt.Errorf("approval: %w", err)
	}
	if len(payload) > MaxApprovalPayloadBytes {
		return "", fmt.Errorf("%w: payload of %d bytes is over %d", ErrApprovalMalformed, len(payload), MaxApprovalPayloadBytes)
	}
	sig := ed25519.Sign(k.Private, approvalSigningBytes(payload))
	enc := base64.RawURLEncoding
	return enc.EncodeToString(payload) + "." + enc.EncodeToString(sig), nil
}

func approvalSigningBytes(payload []byte) []byte {
	b := make([]byte, 0, len(approvalDomain)+len(payload))
	return append(append(b, approvalDomain...), payload...)
}

// UnverifiedApproval is a decoded approval whose signature has not been
// checked: nothing read from it may decide anything.
type UnverifiedApproval struct {
	payload, sig []byte
	claims       Approval
}

// UnsafeClaims returns the approval's fields, unverified: anyone can write
// an approval that claims any approver.
func (u *UnverifiedApproval) UnsafeClaims() Approval { return u.claims }

// ParseApproval decodes an encoded approval strictly, under the size
// limits, without checking its signature. Errors match ErrApprovalMalformed.
func ParseApproval(s string) (*UnverifiedApproval, error) {
	bad := func(format string, args ...any) (*UnverifiedApproval, error) {
		return nil, fmt.Errorf("%w: %s", ErrApprovalMalformed, fmt.Sprintf(format, args...))
	}
	if len(s) > MaxApprovalEncodedBytes {
		return bad("%d bytes is over the %d-byte limit", len(s), MaxApprovalEncodedBytes)
	}
	p, sg, ok := strings.Cut(s, ".")
	if !ok || strings.Contains(sg, ".") {
		return bad("want two base64 parts joined by one dot")
	}
	enc := base64.RawURLEncoding.Strict()
	payload, err := enc.DecodeString(p)
	if err != nil {
		return bad("payload: %v", err)
	}
	sig, err := enc.DecodeString(sg)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return bad("signature: want %d bytes of unpadded URL-safe base64", ed25519.SignatureSize)
	}
	w, err := decodeApprovalPayload(payload)
	if err != nil {
		return bad("payload: %v", err)
	}
	if w.V != approvalVersion {
		return bad("version %d, want %d", w.V, approvalVersion)
	}
	a := Approval{
		ID: w.ID, Session: w.Session, Approver: w.Approver, ApproverOrg: w.ApproverOrg, Reason: w.Reason,
		IssuedAt: time.Unix(w.IssuedAt, 0).UTC(), ExpiresAt: time.Unix(w.ExpiresAt, 0).UTC(),
		MaxUses: w.MaxUses, KeyID: w.KeyID,
	}
	digest, err := lowerHex(w.CallDigest, CallDigestSize)
	if err != nil {
		return bad("call_digest: %v", err)
	}
	copy(a.CallDigest[:], digest)
	if a.Lineage, err = lowerHex(w.Lineage, ed25519.SignatureSize); err != nil {
		return bad("lineage: %v", err)
	}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return &UnverifiedApproval{payload: payload, sig: sig, claims: a}, nil
}

// lowerHex decodes exactly n bytes of lowercase hex: one spelling per value.
func lowerHex(s string, n int) ([]byte, error) {
	if len(s) != 2*n {
		return nil, fmt.Errorf("want %d lowercase hex characters", 2*n)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return nil, fmt.Errorf("want %d lowercase hex characters", 2*n)
		}
	}
	return hex.DecodeString(s)
}

// Verify checks the approval's signature against the trusted key its
// key_id names, and its validity at now (issued no later than
// MaxApprovalClockSkew after now, now before expires_at). It does not bind
// the approval to a call, a session or a lineage: the verifier does that
// (package verifier/approval).
func (u *UnverifiedApproval) Verify(keys *KeySet, now time.Time) (*Approval, error) {
	a := u.claims
	pub, ok := keys.byID(a.KeyID, now)
	if !ok {
		return nil, fmt.Errorf("%w: key %d is not a trusted root key", ErrApprovalUnknownKey, a.KeyID)
	}
	if !verifyExpanded(pub, approvalSigningBytes(u.payload), u.sig) {
		return nil, fmt.Errorf("%w: approval %s", ErrApprovalSignature, a.ID)
	}
	switch {
	case !now.Before(a.ExpiresAt):
		return nil, fmt.Errorf("%w: approval %s expired at %s (now %s)", ErrApprovalExpired, a.ID,
			a.ExpiresAt.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case a.IssuedAt.After(now.Add(MaxApprovalClockSkew)):
		return nil, fmt.Errorf("%w: approval %s is issued at %s, in the future (now %s)", ErrApprovalExpired, a.ID,
			a.IssuedAt.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return &a, nil
}

// VerifyApproval is ParseApproval then Verify.
func VerifyApproval(s string, keys *KeySet, now time.Time) (*Approval, error) {
	u, err := ParseApproval(s)
	if err != nil {
		return nil, err
	}
	return u.Verify(keys, now)
}

// byID returns the key with ID id, with its precomputed point, if it is
// trusted at now.
func (s *KeySet) byID(id uint32, now time.Time) (*voi.ExpandedPublicKey, bool) {
	snap := s.load()
	for i, k := range snap.keys {
		if k.ID == id && usable(k, now) && snap.exp[i] != nil {
			return snap.exp[i], true
		}
	}
	return nil, false
}
