package token

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/biscuit-auth/biscuit-go/v2/pb"
	"google.golang.org/protobuf/proto"

	"github.com/mandate-dev/mandate/internal/datalog"
)

// Unverified is a token decoded under mandate's limits whose signatures have
// not been checked. Nothing it says can be trusted: its accessors that expose
// content are prefixed Unsafe. Call Verify to obtain a *Verified.
type Unverified struct {
	raw    []byte
	c      *pb.Biscuit
	signed []*pb.SignedBlock // authority first
	blocks []*datalog.Block
}

// ParseString decodes base64 (see Decode) and parses the token.
func ParseString(s string) (*Unverified, error) {
	raw, err := Decode(s)
	if err != nil {
		return nil, err
	}
	return parseOwned(raw, nil, true)
}

// Parse decodes a raw token, enforcing every limit in limits.go and refusing
// any format newer than Biscuit v3. It checks no signature.
func Parse(raw []byte) (*Unverified, error) { return parse(raw, nil) }

// parse is Parse. When prev is given and raw holds prev's blocks byte for
// byte followed by new ones, prev's decoded blocks are reused and only the
// new blocks are decoded: decoding is a function of a block's bytes and the
// symbols before it, so the result is the same as decoding them all.
func parse(raw []byte, prev *Unverified) (*Unverified, error) { return parseOwned(raw, prev, false) }

// parseOwned is parse; owned says that raw is the token's own copy (made
// by ParseString), which the container may alias instead of copying it.
func parseOwned(raw []byte, prev *Unverified, owned bool) (*Unverified, error) {
	if len(raw) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: %d bytes is over the %d-byte token limit", ErrTooLarge, len(raw), MaxTokenBytes)
	}
	read := canonicalContainer
	if owned {
		read = canonicalOwned
	}
	if c := read(raw); c != nil {
		return parseMessage(raw, c, prev, true)
	}
	c := new(pb.Biscuit)
	if err := proto.Unmarshal(raw, c); err != nil {
		return nil, fmt.Errorf("%w: not a Biscuit token (%v)", ErrMalformed, err)
	}
	return parseMessage(raw, c, prev, false)
}

// parseMessage is parse after the container was unmarshalled: c is what
// proto.Unmarshal made of raw (or the message raw was marshalled from, see
// SpliceParse). canonical says that c is in canonical form
// (canonicalContainer), where CheckContainer has nothing to find: no
// unknown field, Ed25519 keys only (the container differential test and
// FuzzContainer hold it to that).
func parseMessage(raw []byte, c *pb.Biscuit, prev *Unverified, canonical bool) (*Unverified, error) {
	if !canonical {
		if err := datalog.CheckContainer(c); err != nil {
			return nil, classify(blockError(c, err))
		}
	}
	if c.Authority == nil || c.Proof == nil {
		return nil, fmt.Errorf("%w: missing authority block or proof", ErrMalformed)
	}
	if n := 1 + len(c.Blocks); n > MaxBlocks {
		return nil, fmt.Errorf("%w: %d blocks is over the limit of %d", ErrTooLarge, n, MaxBlocks)
	}
	u := &Unverified{raw: raw, c: c}
	u.signed = make([]*pb.SignedBlock, 0, 1+len(c.Blocks))
	u.signed = append(u.signed, c.Authority)
	u.signed = append(u.signed, c.Blocks...)
	u.blocks = make([]*datalog.Block, len(u.signed))
	syms := datalog.NewSymbolTable(64)
	start := 0
	if prev != nil && extends(u.signed, prev.signed) {
		start = copy(u.blocks, prev.blocks)
		for _, b := range prev.blocks {
			syms.ExtendAccepted(b.Symbols) // Extend accepted them when prev was parsed
		}
	}
	var arena datalog.Arena // the new blocks share their storage
	for i, sb := range u.signed[start:] {
		i += start
		if alg := sb.GetNextKey().GetAlgorithm(); alg != pb.PublicKey_Ed25519 {
			return nil, fmt.Errorf("%w: block %d: key algorithm %d (such as P-256 from newer Biscuit libraries) is not Ed25519, the only algorithm of Biscuit v3 that mandate verifies", ErrUnsupported, i, alg)
		}
		if err := checkSignedBlock(sb); err != nil {
			return nil, fmt.Errorf("%w: block %d: %v", ErrMalformed, i, err)
		}
		b, err := datalog.DecodeBytesIn(sb.Block, &syms, &decodeLimits, &arena)
		if err != nil {
			return nil, fmt.Errorf("block %d: %w", i, classify(err))
		}
		u.blocks[i] = b
	}
	if err := checkLimits(u.blocks, start); err != nil {
		return nil, err
	}
	if proof := c.Proof.GetNextSecret(); proof != nil && len(proof) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: proof secret has %d bytes", ErrMalformed, len(proof))
	}
	if sig := c.Proof.GetFinalSignature(); sig != nil && len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: final signature has %d bytes", ErrMalformed, len(sig))
	}
	if c.Proof.GetNextSecret() == nil && c.Proof.GetFinalSignature() == nil {
		return nil, fmt.Errorf("%w: token has no proof", ErrMalformed)
	}
	return u, nil
}

func checkSignedBlock(sb *pb.SignedBlock) error {
	if sb.NextKey == nil {
		return errors.New("missing next key")
	}
	if sb.NextKey.GetAlgorithm() != pb.PublicKey_Ed25519 {
		return fmt.Errorf("key algorithm %v is not Ed25519", sb.NextKey.GetAlgorithm())
	}
	if len(sb.NextKey.Key) != ed25519.PublicKeySize {
		return fmt.Errorf("next key has %d bytes", len(sb.NextKey.Key))
	}
	if len(sb.Signature) != ed25519.SignatureSize {
		return fmt.Errorf("signature has %d bytes", len(sb.Signature))
	}
	return nil
}

// classify maps decoder errors onto this package's error tree.
func classify(err error) error {
	var lim *datalog.LimitError
	var uns *datalog.UnsupportedError
	var re *datalog.RegexError
	switch {
	case errors.As(err, &re):
		return fmt.Errorf("%w: %w", ErrUnsupported, err)
	case errors.Is(err, datalog.ErrSymbolOverlap):
		return fmt.Errorf("%w: %w", ErrSymbolOverlap, err)
	case errors.As(err, &uns):
		return fmt.Errorf("%w: %w", ErrUnsupported, err)
	case errors.As(err, &lim):
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}

// Bytes returns the raw token. The slice is shared: do not modify it.
func (u *Unverified) Bytes() []byte { return u.raw }

// BlockCount returns the number of blocks, the authority block included.
func (u *Unverified) BlockCount() int { return len(u.signed) }

// RevocationIDs returns one revocation ID per block, in block order: the
// block's signature, as in every Biscuit implementation.
func (u *Unverified) RevocationIDs() [][]byte {
	ids := make([][]byte, len(u.signed))
	for i, sb := range u.signed {
		ids[i] = sb.Signature
	}
	return ids
}

// RootKeyIDHint returns the root key ID the token claims, if any. It is a
// hint for choosing a key, nothing more.
func (u *Unverified) RootKeyIDHint() (uint32, bool) {
	if u.c.RootKeyId == nil {
		return 0, false
	}
	return *u.c.RootKeyId, true
}

// Sealed reports whether the token was sealed (no block can be appended).
func (u *Unverified) Sealed() bool { return u.c.Proof.GetFinalSignature() != nil }

// UnsafeBlocks returns the decoded blocks. Their content is unauthenticated.
func (u *Unverified) UnsafeBlocks() []*datalog.Block { return u.blocks }

// Verify checks the signature chain against the trusted root keys at now
// and returns the verified token. The root key ID hint picks the key to try
// first; without a hint (biscuit-go drops it on append) every trusted key is
// tried, so the hint is never needed for correctness.
func (u *Unverified) Verify(keys *KeySet, now time.Time) (*Verified, error) {
	var buf [4]candidate
	var hint *uint32
	if id, ok := u.RootKeyIDHint(); ok {
		hint = &id
	}
	cands := keys.candidates(hint, now, buf[:])
	if len(cands) == 0 {
		return nil, fmt.Errorf("%w: no trusted root keys are configured", ErrUnknownKey)
	}
	auth := u.signed[0]
	var root *PublicKey
	var msgBuf [4 << 10]byte // typical blocks are signed without allocating
	msg := signedPayload(msgBuf[:0], auth)
	for i := range cands {
		if verifyExpanded(cands[i].exp, msg, auth.Signature) {
			root = &cands[i].PublicKey
			break
		}
	}
	if root == nil {
		if hint != nil {
			return nil, fmt.Errorf("%w: no trusted key verifies the authority block (token names key ID %d)", ErrUnknownKey, *hint)
		}
		return nil, fmt.Errorf("%w: no trusted key verifies the authority block", ErrUnknownKey)
	}
	prev := ed25519.PublicKey(auth.NextKey.Key)
	for i, sb := range u.signed[1:] {
		msg = signedPayload(msg[:0], sb)
		if !verifySig(prev, msg, sb.Signature) {
			return nil, fmt.Errorf("%w: block %d signature does not verify", ErrSignature, i+1)
		}
		prev = sb.NextKey.Key
	}
	last := u.signed[len(u.signed)-1]
	if secret := u.c.Proof.GetNextSecret(); secret != nil {
		if !bytes.Equal(publicFromSeed(secret), prev) {
			return nil, fmt.Errorf("%w: proof does not match the last block's key", ErrSignature)
		}
	} else {
		msg = append(signedPayload(msg[:0], last), last.Signature...)
		if !verifySig(prev, msg, u.c.Proof.GetFinalSignature()) {
			return nil, fmt.Errorf("%w: seal signature does not verify", ErrSignature)
		}
	}
	return newVerified(u, *root), nil
}

// signedPayload is block || algorithm (little-endian u32) || next key, the
// message of a Biscuit v3 block signature.
func signedPayload(buf []byte, sb *pb.SignedBlock) []byte {
	msg := append(buf, sb.Block...)
	msg = binary.LittleEndian.AppendUint32(msg, uint32(sb.NextKey.GetAlgorithm()))
	return append(msg, sb.NextKey.Key...)
}

// blockError prefers, to err (an unknown field of the token container),
// the error of the first block that uses a newer format: Biscuit 3.3 signs
// every version 6 block with a newer signature version, which says less to
// the token's author than the block's own version and feature.
func blockError(c *pb.Biscuit, err error) error {
	if uns := (*datalog.UnsupportedError)(nil); errors.As(err, &uns) && uns.Feature == datalog.FeatureP256 {
		return err // no block of such a token can be verified at all
	}
	var syms datalog.SymbolTable
	signed := append([]*pb.SignedBlock{c.GetAuthority()}, c.GetBlocks()...)
	for i, sb := range signed {
		if i == MaxBlocks || sb == nil {
			break
		}
		_, berr := datalog.DecodeBytes(sb.GetBlock(), &syms, &decodeLimits)
		var uns *datalog.UnsupportedError
		if errors.As(berr, &uns) {
			return fmt.Errorf("block %d: %w", i, berr)
		}
		if berr != nil {
			break
		}
	}
	return err
}
