package token

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/biscuit-auth/biscuit-go/v2/pb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Appending a block with biscuit-go takes biscuit.Unmarshal of the whole
// token, which converts every block into biscuit-go's own form although
// Append needs none of them: it needs the symbol table (to number the new
// block's symbols) and the proof key (to sign it). AppendBase and Splice let
// package attenuate give biscuit-go exactly that, and ParseAppended reads
// the result back decoding only the new block.

// AppendBase returns a stand-in token for biscuit-go to append to: one block
// that states every symbol of u's blocks, in order, and u's proof. Its
// authority signature is zero: the stand-in is never verified, only
// appended to, and Splice keeps nothing of it but what biscuit-go added.
func (u *Unverified) AppendBase() ([]byte, error) {
	if u.Sealed() {
		return nil, ErrSealed
	}
	// The block is pb.Block{Symbols, Version} as proto.Marshal writes it.
	var block []byte
	for _, b := range u.blocks {
		for _, s := range b.Symbols {
			block = protowire.AppendString(protowire.AppendTag(block, 1, protowire.BytesType), s)
		}
	}
	block = protowire.AppendTag(block, 3, protowire.VarintType)
	block = protowire.AppendVarint(block, uint64(u.blocks[0].Version))
	last := u.signed[len(u.signed)-1]
	c := &pb.Biscuit{
		Authority: &pb.SignedBlock{Block: block, NextKey: last.NextKey, Signature: make([]byte, 64)},
		Proof:     u.c.Proof,
	}
	return appendContainer(make([]byte, 0, containerSize(c)), c), nil
}

// StandIn is AppendBase with the symbols outside the stand-in: its block
// states none, and symbols lists every symbol of u's blocks, in order,
// for biscuit-go's Unmarshaler (Unmarshaler{Symbols: symbols}), which then
// numbers new symbols exactly as it does after reading AppendBase's block
// (u's symbols never repeat one another or a default symbol: Parse refuses
// that), without decoding a string. symbols has no spare capacity, so an
// append by biscuit-go never writes into it.
func (u *Unverified) StandIn() (base []byte, symbols []string, err error) {
	if u.Sealed() {
		return nil, nil, ErrSealed
	}
	n := 0
	for _, b := range u.blocks {
		n += len(b.Symbols)
	}
	symbols = make([]string, 0, n)
	for _, b := range u.blocks {
		symbols = append(symbols, b.Symbols...)
	}
	block := protowire.AppendTag(nil, 3, protowire.VarintType)
	block = protowire.AppendVarint(block, uint64(u.blocks[0].Version))
	last := u.signed[len(u.signed)-1]
	c := &pb.Biscuit{
		Authority: &pb.SignedBlock{Block: block, NextKey: last.NextKey, Signature: make([]byte, 64)},
		Proof:     u.c.Proof,
	}
	return appendContainer(make([]byte, 0, containerSize(c)), c), symbols[:n:n], nil
}

// Splice takes what biscuit-go made of AppendBase's stand-in (blocks
// appended, possibly sealed) and returns u with those blocks and that proof:
// the token biscuit-go would have produced from u itself, with u's root key
// ID hint kept.
func (u *Unverified) Splice(appended []byte) ([]byte, error) {
	c, err := unmarshalContainer(appended)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(c.Blocks) == 0 || c.Proof == nil {
		return nil, errors.New("nothing was appended")
	}
	return proto.Marshal(u.spliced(c))
}

// spliced is the container of u with c's appended blocks and proof.
func (u *Unverified) spliced(c *pb.Biscuit) *pb.Biscuit {
	return &pb.Biscuit{
		RootKeyId: u.c.RootKeyId,
		Authority: u.c.Authority,
		Blocks:    append(append(make([]*pb.SignedBlock, 0, len(u.c.Blocks)+len(c.Blocks)), u.c.Blocks...), c.Blocks...),
		Proof:     c.Proof,
	}
}

// SpliceParse is Splice followed by ParseAppended of its result, with the
// same result and errors, without unmarshalling the spliced token again:
// the container is read from the message the bytes were marshalled from.
// A protobuf message survives Marshal then Unmarshal unchanged, unknown
// fields included (they are kept as raw bytes and written back as they
// came), so what CheckContainer and the block decoder see is the same as
// after Unmarshal (TestSpliceParseDifferential and FuzzSpliceParse hold
// the two paths to it).
func (u *Unverified) SpliceParse(appended []byte) (raw []byte, next *Unverified, spliceErr, parseErr error) {
	// A canonical container (canonicalContainer read it) spliced with u's
	// (which Parse accepted) is complete and has no unknown field, so it
	// is written directly, exactly as proto.Marshal writes it.
	c := canonicalContainer(appended)
	canonical := c != nil
	if !canonical {
		c = new(pb.Biscuit)
		if err := proto.Unmarshal(appended, c); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrMalformed, err), nil
		}
	}
	if len(c.Blocks) == 0 || c.Proof == nil {
		return nil, nil, errors.New("nothing was appended"), nil
	}
	out := u.spliced(c)
	if canonical {
		raw = appendContainer(make([]byte, 0, containerSize(out)), out)
	} else {
		var err error
		if raw, err = proto.Marshal(out); err != nil {
			return nil, nil, err, nil
		}
	}
	if len(raw) > MaxTokenBytes {
		return raw, nil, nil, fmt.Errorf("%w: %d bytes is over the %d-byte token limit", ErrTooLarge, len(raw), MaxTokenBytes)
	}
	// u's container passed CheckContainer when u was parsed, so out is
	// canonical when c is.
	next, err := parseMessage(raw, out, u, canonical)
	return raw, next, nil, err
}

// ParseAppended is Parse for next, a token made from u by appending blocks
// (and possibly sealing it). When next holds u's blocks byte for byte, only
// the new blocks are decoded; otherwise next is parsed from scratch. Either
// way the result, and every error, is Parse(next)'s.
func (u *Unverified) ParseAppended(next []byte) (*Unverified, error) { return parse(next, u) }

// extends reports whether signed starts with every block of prev, byte for
// byte, and has more. The container was checked for unknown fields, so a
// signed block is exactly its block, next key and signature.
func extends(signed, prev []*pb.SignedBlock) bool {
	if len(signed) <= len(prev) {
		return false
	}
	for i, p := range prev {
		s := signed[i]
		if !bytes.Equal(s.Block, p.Block) || !bytes.Equal(s.Signature, p.Signature) ||
			s.GetNextKey().GetAlgorithm() != p.GetNextKey().GetAlgorithm() ||
			!bytes.Equal(s.GetNextKey().GetKey(), p.GetNextKey().GetKey()) {
			return false
		}
	}
	return true
}
