package token

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/biscuit-auth/biscuit-go/v2"
)

// MintRequest describes a session token.
type MintRequest struct {
	Subject Subject // Agent is required; an empty Session gets a new ID
	Rights  []Right // at least one, at most MaxRightsPerToken
	TTL     time.Duration
	// RequireApproval lists tools whose calls always need a person's
	// approval, at most MaxApprovalRequirements: each becomes a check of
	// the authority block (see ApprovalRequirement).
	RequireApproval []ApprovalRequirement
	// Audience, when set, binds the token to one resource server (the
	// RFC 8707 resource indicator, such as "https://crm.example.com/mcp"):
	// the authority block gets AudienceCheck(Audience), which only a
	// verifier that states audience(its own identifier) can pass. A
	// verifier that knows nothing of audiences states no such fact, so the
	// token fails closed there.
	Audience string
	// Limits are usage limits of the authority block, at most
	// MaxLimitsPerToken: every call of the session, by the token and every
	// token derived from it, counts against them (see Limit).
	Limits []Limit
	// Now is the minting instant; zero means time.Now().
	Now time.Time
}

// Minted is a freshly minted token.
type Minted struct {
	Token         string   // URL-safe base64, as agents send it
	Raw           []byte   // the same token, raw
	Subject       Subject  // with the session ID filled in
	Rights        []Right  // deduplicated
	RevocationIDs [][]byte // one per block (one: the authority block)
	ExpiresAt     time.Time
	KeyID         uint32
}

// ErrBadRequest is the root of mint request validation errors.
var ErrBadRequest = errors.New("invalid mint request")

// Validate checks a mint request without minting.
func (r *MintRequest) Validate() error {
	if r.Subject.Agent == "" {
		return fmt.Errorf("%w: agent is required", ErrBadRequest)
	}
	for _, f := range [][2]string{{"agent", r.Subject.Agent}, {"user", r.Subject.User}, {"org", r.Subject.Org}, {"session", r.Subject.Session}} {
		if err := checkName(f[0], f[1], MaxSubjectBytes); err != nil {
			return err
		}
	}
	if len(r.Rights) == 0 {
		return fmt.Errorf("%w: at least one right is required", ErrBadRequest)
	}
	if len(r.Rights) > MaxRightsPerToken {
		return fmt.Errorf("%w: %d rights is over the limit of %d", ErrBadRequest, len(r.Rights), MaxRightsPerToken)
	}
	for i, rt := range r.Rights {
		for _, f := range [][2]string{{"service", rt.Service}, {"tool", rt.Tool}, {"operation", rt.Operation}} {
			if f[1] == "" {
				return fmt.Errorf("%w: right %d: %s is required (use \"*\" for any tool or operation)", ErrBadRequest, i, f[0])
			}
			if err := checkName(fmt.Sprintf("right %d: %s", i, f[0]), f[1], MaxStringBytes); err != nil {
				return err
			}
		}
		if rt.Service == Wildcard {
			return fmt.Errorf("%w: right %d: service cannot be \"*\"", ErrBadRequest, i)
		}
		if err := checkName(fmt.Sprintf("right %d: resource", i), rt.Resource, MaxStringBytes); err != nil {
			return err
		}
		if err := CheckResource(rt.Resource); err != nil {
			return fmt.Errorf("%w: right %d: resource %q: %w", ErrBadRequest, i, rt.Resource, err)
		}
	}
	if err := checkName("audience", r.Audience, MaxStringBytes); err != nil {
		return err
	}
	if len(r.RequireApproval) > MaxApprovalRequirements {
		return fmt.Errorf("%w: %d approval requirements is over the limit of %d", ErrBadRequest, len(r.RequireApproval), MaxApprovalRequirements)
	}
	for i := range r.RequireApproval {
		if err := r.RequireApproval[i].Validate(); err != nil {
			return fmt.Errorf("approval requirement %d: %w", i+1, err)
		}
	}
	if len(r.Limits) > MaxLimitsPerToken {
		return fmt.Errorf("%w: %d usage limits is over the limit of %d", ErrBadRequest, len(r.Limits), MaxLimitsPerToken)
	}
	for i := range r.Limits {
		if err := r.Limits[i].Validate(); err != nil {
			return fmt.Errorf("usage limit %d: %w", i+1, err)
		}
		for _, o := range r.Limits[:i] {
			if o == r.Limits[i] {
				return fmt.Errorf("%w: usage limit %s is stated twice", ErrBadRequest, o)
			}
		}
	}
	if r.TTL <= 0 {
		return fmt.Errorf("%w: ttl must be positive", ErrBadRequest)
	}
	if r.TTL > MaxTTL {
		return fmt.Errorf("%w: ttl %s is over the maximum of %s", ErrBadRequest, r.TTL, MaxTTL)
	}
	return nil
}

// checkName refuses strings that are too long, not UTF-8, or hold control,
// format or separator characters (UnsafeNameRune), which would let a name
// forge lines in logs or look like another name.
func checkName(what, v string, max int) error {
	if len(v) > max {
		return fmt.Errorf("%w: %s is over %d bytes", ErrBadRequest, what, max)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("%w: %s is not UTF-8", ErrBadRequest, what)
	}
	if err := CheckNameRunes(v); err != nil {
		return fmt.Errorf("%w: %s %w", ErrBadRequest, what, err)
	}
	return nil
}

// NewSessionID returns a random session ID, "s_" and 26 base32 characters.
func NewSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "s_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// Mint signs a session token with the authority's key: the subject facts,
// one right fact per right, and an expiry check. The token carries key's ID
// as its root key ID hint. The authority's HTTP API and the CLI's offline
// mint both call this function.
func Mint(key SigningKey, req MintRequest) (*Minted, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if len(key.Private) == 0 {
		return nil, errors.New("mint: no signing key")
	}
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	subject := req.Subject
	if subject.Session == "" {
		subject.Session = NewSessionID()
	}
	// Biscuit dates have one-second resolution; round down so a token
	// never lives longer than asked.
	exp := now.Add(req.TTL).UTC().Truncate(time.Second)

	b := biscuit.NewBuilder(key.Private)
	add := func(name, v string) error {
		if v == "" {
			return nil
		}
		return b.AddAuthorityFact(fact(name, biscuit.String(v)))
	}
	for _, kv := range [][2]string{{FactSession, subject.Session}, {FactAgent, subject.Agent}, {FactUser, subject.User}, {FactOrg, subject.Org}} {
		if err := add(kv[0], kv[1]); err != nil {
			return nil, fmt.Errorf("mint: %w", err)
		}
	}
	rights := dedupeRights(req.Rights)
	for _, r := range rights {
		f := fact(FactRight, biscuit.String(r.Service), biscuit.String(r.Tool), biscuit.String(r.Operation), biscuit.String(r.Resource))
		if err := b.AddAuthorityFact(f); err != nil {
			return nil, fmt.Errorf("mint: %w", err)
		}
	}
	if err := b.AddAuthorityCheck(ExpiryCheck(exp)); err != nil {
		return nil, fmt.Errorf("mint: %w", err)
	}
	if req.Audience != "" {
		if err := b.AddAuthorityCheck(AudienceCheck(req.Audience)); err != nil {
			return nil, fmt.Errorf("mint: %w", err)
		}
	}
	for _, ar := range req.RequireApproval {
		c, err := ar.Check()
		if err == nil {
			err = b.AddAuthorityCheck(c)
		}
		if err != nil {
			return nil, fmt.Errorf("mint: %w", err)
		}
	}
	for _, l := range req.Limits {
		c, err := l.Check()
		if err == nil {
			err = b.AddAuthorityCheck(c)
		}
		if err != nil {
			return nil, fmt.Errorf("mint: %w", err)
		}
	}
	tok, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("mint: %w", err)
	}
	raw, err := tok.Serialize()
	if err != nil {
		return nil, fmt.Errorf("mint: %w", err)
	}
	raw = WithRootKeyID(raw, key.ID)
	return &Minted{
		Token:         Encode(raw),
		Raw:           raw,
		Subject:       subject,
		Rights:        rights,
		RevocationIDs: tok.RevocationIds(),
		ExpiresAt:     exp,
		KeyID:         key.ID,
	}, nil
}

func dedupeRights(in []Right) []Right {
	out := make([]Right, 0, len(in))
	seen := make(map[Right]bool, len(in))
	for _, r := range in {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

func fact(name string, terms ...biscuit.Term) biscuit.Fact {
	return biscuit.Fact{Predicate: biscuit.Predicate{Name: name, IDs: terms}}
}

// ExpiryCheck returns `check if time($time), $time <= t`.
func ExpiryCheck(t time.Time) biscuit.Check {
	return biscuit.Check{Queries: []biscuit.Rule{{
		Head: biscuit.Predicate{Name: "query"},
		Body: []biscuit.Predicate{{Name: FactTime, IDs: []biscuit.Term{biscuit.Variable("time")}}},
		Expressions: []biscuit.Expression{{
			biscuit.Value{Term: biscuit.Variable("time")},
			biscuit.Value{Term: biscuit.Date(t.UTC().Truncate(time.Second))},
			biscuit.BinaryLessOrEqual,
		}},
	}}}
}

// AudienceCheck returns `check if audience($aud), $aud == aud`: the token
// is only good at the resource server whose verifier states the request
// fact audience(aud). Only the authority block's own facts and the
// verifier's request facts are in scope of an authority check, and the
// authority block never states audience, so an attenuation block cannot
// satisfy it.
func AudienceCheck(aud string) biscuit.Check {
	return biscuit.Check{Queries: []biscuit.Rule{{
		Head: biscuit.Predicate{Name: "query"},
		Body: []biscuit.Predicate{{Name: FactAudience, IDs: []biscuit.Term{biscuit.Variable("aud")}}},
		Expressions: []biscuit.Expression{{
			biscuit.Value{Term: biscuit.Variable("aud")},
			biscuit.Value{Term: biscuit.String(aud)},
			biscuit.BinaryEqual,
		}},
	}}}
}

// WithRootKeyID sets the root key ID hint of a serialized token that has
// none. Protobuf fields may come in any order, so the field is prepended
// without re-encoding the token; biscuit-go has no API for it.
func WithRootKeyID(raw []byte, id uint32) []byte {
	out := make([]byte, 0, len(raw)+6)
	out = append(out, 0x08) // field 1, varint
	for v := id; ; v >>= 7 {
		if v < 0x80 {
			out = append(out, byte(v))
			break
		}
		out = append(out, byte(v)|0x80)
	}
	return append(out, raw...)
}
