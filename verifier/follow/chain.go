package follow

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/mandate-dev/mandate/token"
)

// errUnknownKey: a feed page is signed by a key the follower does not (yet)
// trust. The follower refreshes its keys once and checks again: the
// authority may have rotated since the last refresh.
var errUnknownKey = errors.New("signed by a key the follower does not trust")

// verifyPage checks a decoded /v1/revocations page for a request after
// `after` before anything of it is applied:
//
//   - each entry's hash_v1 is token.ChainHash of its fields and of the
//     previous hash: the previous entry's when they are consecutive, else
//     the prev_hash_v1 the authority sent (entries in between expired);
//   - a page that continues from after starts from held, the hash the
//     follower persisted with its position (when it has one): the log was
//     not rewritten under it;
//   - the last entry's hash is the signed head's when it is the head, and
//     an empty page at the follower's position names the hash it holds;
//   - the signature covers after, next, the head, every entry's sequence
//     number and hash, and the request's nonce, with a key reachable from
//     the trust anchor (key returns it), so no entry can be dropped,
//     altered or added, and an old answer cannot be replayed to keep the
//     follower "fresh".
//
// Errors wrap ErrTampered, or errUnknownKey when only the signer is
// unknown.
func verifyPage(after uint64, nonce []byte, b *batch, held []byte, key func(uint32) (ed25519.PublicKey, bool)) error {
	c := &b.chain
	headSeq := *c.HeadSeq
	if headSeq < b.next {
		return fmt.Errorf("%w: the signed head (seq %d) is below next (%d)", ErrTampered, headSeq, b.next)
	}
	prevSeq := after
	for i := range b.entries {
		e := &b.entries[i]
		if len(e.Hash) != token.ChainHashSize {
			return fmt.Errorf("%w: entry %d has no hash_v1", ErrTampered, e.Seq)
		}
		var ph []byte
		consecutive := i > 0 && e.Seq == prevSeq+1
		switch {
		case b.prevs[i] != nil:
			ph = b.prevs[i]
			if consecutive && !bytes.Equal(ph, b.entries[i-1].Hash) {
				return fmt.Errorf("%w: entry %d does not chain to entry %d", ErrTampered, e.Seq, prevSeq)
			}
		case consecutive:
			ph = b.entries[i-1].Hash
		case i == 0 && e.Seq == after+1 && held != nil:
			ph = held
		default:
			return fmt.Errorf("%w: entry %d comes without the hash of the entry before it", ErrTampered, e.Seq)
		}
		if i == 0 && e.Seq == after+1 && held != nil && !bytes.Equal(ph, held) {
			return fmt.Errorf("%w: entry %d does not continue the chain this follower holds at seq %d: the authority's log was rewritten, or this is another log; "+
				"if the authority's data folder was restored or replaced on purpose, reset the follower's store", ErrTampered, e.Seq, after)
		}
		if !bytes.Equal(e.Hash, token.ChainHash(ph, e.Seq, e.ID, e.ExpiresAt)) {
			return fmt.Errorf("%w: entry %d does not match its chain hash (altered on the way, or at the authority)", ErrTampered, e.Seq)
		}
		prevSeq = e.Seq
	}
	switch n := len(b.entries); {
	case n > 0 && b.entries[n-1].Seq == headSeq && !bytes.Equal(b.entries[n-1].Hash, c.headHash):
		return fmt.Errorf("%w: the last entry (%d) does not match the signed head", ErrTampered, headSeq)
	case n == 0 && headSeq == after && held != nil && !bytes.Equal(c.headHash, held):
		return fmt.Errorf("%w: the authority's head at seq %d is not the chain this follower holds: the authority's log was rewritten, or this is another log", ErrTampered, after)
	}
	pub, ok := key(*c.KeyID)
	if !ok {
		return fmt.Errorf("%w: the feed is %w (key %d)", ErrTampered, errUnknownKey, *c.KeyID)
	}
	p := token.FeedPage{After: after, Next: b.next, HeadSeq: headSeq, HeadHash: c.headHash, Entries: make([]token.FeedPageEntry, len(b.entries)), Nonce: nonce}
	for i, e := range b.entries {
		p.Entries[i] = token.FeedPageEntry{Seq: e.Seq, Hash: e.Hash}
	}
	if !p.Verify(pub, c.sig) {
		return fmt.Errorf("%w: the page's signature does not verify with key %d", ErrTampered, *c.KeyID)
	}
	return nil
}
