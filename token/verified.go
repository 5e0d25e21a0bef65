package token

import (
	"crypto/ed25519"
	"encoding/hex"
	"time"

	"github.com/mandate-dev/mandate/internal/datalog"
)

// Verified is a token whose signature chain verified against a trusted root
// key. Only Verify creates one. Its authority facts can be trusted; the
// attenuation blocks are authentic but were written by token holders, so
// they can only ever restrict (the verifier evaluates them as checks).
type Verified struct {
	u         *Unverified
	keyID     uint32
	rootKey   ed25519.PublicKey
	idsHex    []string
	subject   Subject
	rights    []Right
	expiresAt time.Time
	prog      *datalog.Program
	// approvalStated: the authority block can prove approved facts itself
	// (see StatesApproval), found once here rather than on every decision.
	approvalStated bool
	limits         []DeclaredLimit
}

func newVerified(u *Unverified, root PublicKey) *Verified {
	s, rights, exp := subjectOf(u.blocks[0])
	ids := u.RevocationIDs()
	hexIDs := make([]string, len(ids))
	for i, id := range ids {
		hexIDs[i] = hex.EncodeToString(id)
	}
	return &Verified{u: u, keyID: root.ID, rootKey: root.Key, idsHex: hexIDs, subject: s, rights: rights, expiresAt: exp,
		prog: datalog.NewProgram(u.blocks), approvalStated: StatesApproval(u.blocks[0]), limits: declaredLimits(u)}
}

// AuthorityStatesApproval reports whether the authority block can prove
// approved facts itself, which would satisfy every approval caveat: mandate
// never mints such a token, and the verifier refuses it.
func (v *Verified) AuthorityStatesApproval() bool { return v.approvalStated }

// RevocationIDsHex returns the revocation IDs in hex, in block order. The
// slice is shared: do not modify it.
func (v *Verified) RevocationIDsHex() []string { return v.idsHex }

// RootKey is the root public key that verified the token.
func (v *Verified) RootKey() ed25519.PublicKey { return v.rootKey }

// KeyID is the ID of the root key that verified the token.
func (v *Verified) KeyID() uint32 { return v.keyID }

// Subject returns who the token was minted for.
func (v *Verified) Subject() Subject { return v.subject }

// Rights returns the rights of the authority block.
func (v *Verified) Rights() []Right { return v.rights }

// ExpiresAt is the authority block's expiry (zero if it states none): the
// only expiry anything that keeps state may rely on, such as how long a
// revocation is kept or whether the authority reports a token dead.
// Attenuation blocks may expire earlier; the verifier enforces those too.
func (v *Verified) ExpiresAt() time.Time { return v.expiresAt }

// EffectiveExpiry is the earliest expiry that every Biscuit verifier
// enforces: the authority block's, or an earlier one stated by an
// attenuation block in the form ExpiryOf recognises. A block that can
// produce a time fact itself (a fact or a rule head named time) satisfies
// its own expiry check under Biscuit scoping, so its stated expiry binds
// nobody and is ignored.
//
// Attenuation blocks are written by token holders: use EffectiveExpiry only
// to deny early with a clear reason, never to keep state (revocation
// retention, reporting a token dead). Use ExpiresAt for that.
func (v *Verified) EffectiveExpiry() time.Time {
	exp := v.expiresAt
	if v.u.blocks[0].Produces(FactTime) {
		// Never minted by mandate; an authority block that can
		// satisfy time checks makes every attenuation expiry moot.
		return exp
	}
	for _, b := range v.u.blocks[1:] {
		if b.Produces(FactTime) {
			continue
		}
		if t := ExpiryOf(b); !t.IsZero() && (exp.IsZero() || t.Before(exp)) {
			exp = t
		}
	}
	return exp
}

// RevocationIDs returns one revocation ID per block, in block order.
func (v *Verified) RevocationIDs() [][]byte { return v.u.RevocationIDs() }

// BlockCount returns the number of blocks.
func (v *Verified) BlockCount() int { return len(v.u.blocks) }

// Bytes returns the raw token. The slice is shared: do not modify it.
func (v *Verified) Bytes() []byte { return v.u.raw }

// Unverified returns the parsed token, for inspection.
func (v *Verified) Unverified() *Unverified { return v.u }

// Datalog returns the decoded blocks for evaluation by mandate's verifier.
func (v *Verified) Datalog() []*datalog.Block { return v.u.blocks }

// Program returns the decoded blocks prepared for evaluation, kept with the
// token so that a cached token is not prepared again.
func (v *Verified) Program() *datalog.Program { return v.prog }
