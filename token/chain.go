package token

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// The revocation log is tamper-evident: every entry carries a hash that
// chains it to the entry before it, and every answer of the authority's feed
// is signed with its active root key. The authority and every follower
// compute these bytes with the functions below, so they live here, in the
// vocabulary both share.
//
//	h_0 = 32 zero bytes (GenesisHash)
//	h_n = SHA-256("mandate/revocation-log/v1\x00" ‖ h_{n-1} ‖ n (8 bytes)
//	              ‖ len(id) (2 bytes) ‖ id ‖ has_expiry (1 byte) ‖ expiry (8 bytes, Unix seconds))
//
// All integers are big-endian. The expiry is hashed to the second, as the
// feed publishes it (RFC 3339).

// ChainHashSize is the size of a revocation log chain hash.
const ChainHashSize = sha256.Size

var chainDomain = []byte("mandate/revocation-log/v1\x00")

// GenesisHash returns h_0, the chain hash "before" the first entry.
func GenesisHash() []byte { return make([]byte, ChainHashSize) }

// ChainHash returns h_seq: the hash of the log entry (seq, id, expiresAt)
// chained to prev, the hash of entry seq-1 (GenesisHash for seq 1). A zero
// expiresAt means the entry never expires.
func ChainHash(prev []byte, seq uint64, id []byte, expiresAt time.Time) []byte {
	h := sha256.New()
	var buf [8]byte
	h.Write(chainDomain)
	h.Write(prev)
	binary.BigEndian.PutUint64(buf[:], seq)
	h.Write(buf[:])
	binary.BigEndian.PutUint16(buf[:2], uint16(len(id)))
	h.Write(buf[:2])
	h.Write(id)
	if expiresAt.IsZero() {
		h.Write([]byte{0})
		binary.BigEndian.PutUint64(buf[:], 0)
	} else {
		h.Write([]byte{1})
		binary.BigEndian.PutUint64(buf[:], uint64(expiresAt.Unix()))
	}
	h.Write(buf[:])
	return h.Sum(nil)
}

// FeedPage is what the authority signs for every answer of its revocation
// feed (GET /v1/revocations): the page of entries with a sequence number in
// (After, Next] that it still holds, each with its chain hash, and the head
// of its whole log. Because the list of sequence numbers is signed, a
// page cannot lose an entry on the way; because each entry's hash covers its
// fields (and is chained), no entry can be altered; because After is signed,
// a page cannot be replayed to a follower that asked for an earlier
// position. A follower that holds h_After checks that the page continues its
// chain; one that starts mid-chain (early entries expired) takes the first
// entry's PrevHash from the answer, which the signed hashes authenticate.
type FeedPage struct {
	After, Next uint64
	// HeadSeq and HeadHash are the last sequence number of the log and its
	// chain hash (0 and GenesisHash for an empty log).
	HeadSeq  uint64
	HeadHash []byte
	Entries  []FeedPageEntry
	// Nonce is the follower's request nonce (at most MaxFeedNonce
	// bytes), echoed under the signature: a signed page then answers
	// that request only, so a man in the middle cannot keep a follower
	// "fresh" by replaying an old answer while withholding new
	// revocations. Empty when the request carried none.
	Nonce []byte
}

// MaxFeedNonce bounds FeedPage.Nonce.
const MaxFeedNonce = 32

// FeedPageEntry is one entry of a signed page: its sequence number and
// chain hash.
type FeedPageEntry struct {
	Seq  uint64
	Hash []byte
}

var feedDomain = []byte("mandate/revocation-feed/v1\x00")

// SigningBytes returns the bytes that are signed: a domain separator, then
// After, Next, HeadSeq, HeadHash, the number of entries and each entry's
// sequence number and hash, then the nonce's length (1 byte) and the
// nonce.
func (p *FeedPage) SigningBytes() []byte {
	b := make([]byte, 0, len(feedDomain)+3*8+ChainHashSize+4+len(p.Entries)*(8+ChainHashSize)+1+len(p.Nonce))
	b = append(b, feedDomain...)
	b = binary.BigEndian.AppendUint64(b, p.After)
	b = binary.BigEndian.AppendUint64(b, p.Next)
	b = binary.BigEndian.AppendUint64(b, p.HeadSeq)
	b = append(b, fixedHash(p.HeadHash)...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(p.Entries)))
	for _, e := range p.Entries {
		b = binary.BigEndian.AppendUint64(b, e.Seq)
		b = append(b, fixedHash(e.Hash)...)
	}
	n := p.Nonce[:min(len(p.Nonce), MaxFeedNonce)]
	b = append(b, byte(len(n)))
	return append(b, n...)
}

// fixedHash returns h if it is ChainHashSize bytes, else that many zero
// bytes followed by nothing that could be confused with a real hash (a
// wrong-size hash never verifies: the signer never signs one).
func fixedHash(h []byte) []byte {
	if len(h) == ChainHashSize {
		return h
	}
	z := make([]byte, ChainHashSize)
	z[0] = 0xff
	return z
}

// Sign signs the page with k.
func (p *FeedPage) Sign(k SigningKey) []byte {
	return ed25519.Sign(k.Private, p.SigningBytes())
}

// Verify checks sig over the page against pub.
func (p *FeedPage) Verify(pub ed25519.PublicKey, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	for _, e := range p.Entries {
		if len(e.Hash) != ChainHashSize {
			return false
		}
	}
	if len(p.HeadHash) != ChainHashSize || len(p.Nonce) > MaxFeedNonce {
		return false
	}
	return ed25519.Verify(pub, p.SigningBytes(), sig)
}

// Key endorsements make key rotation verifiable from a pinned key: when the
// authority rotates, the key that was active signs the new one. A verifier
// configured with one trusted key (its trust anchor) accepts another only
// through a chain of endorsements from it.
//
//	signature = Ed25519(signer, "mandate/key-endorsement/v1\x00" ‖ key ID (4 bytes) ‖ public key (32 bytes))

var endorseDomain = []byte("mandate/key-endorsement/v1\x00")

// Endorsement is a signed statement by the key SignerID that Key is a root
// key of the same authority.
type Endorsement struct {
	Key       PublicKey // ID and Key; NotAfter is not endorsed
	SignerID  uint32
	Signature []byte
}

func endorsementBytes(k PublicKey) []byte {
	b := append([]byte(nil), endorseDomain...)
	b = binary.BigEndian.AppendUint32(b, k.ID)
	return append(b, k.Key...)
}

// Endorse returns signer's endorsement of k.
func Endorse(signer SigningKey, k PublicKey) Endorsement {
	k.NotAfter = time.Time{}
	return Endorsement{Key: k, SignerID: signer.ID, Signature: ed25519.Sign(signer.Private, endorsementBytes(k))}
}

// Verify checks the endorsement's signature against the signer's public key
// (whose ID must be SignerID), and that Key's ID is derived from its bytes.
func (e Endorsement) Verify(signer ed25519.PublicKey) error {
	switch {
	case len(signer) != ed25519.PublicKeySize || KeyID(signer) != e.SignerID:
		return fmt.Errorf("endorsement of key %d: the signer is not key %d", e.Key.ID, e.SignerID)
	case len(e.Key.Key) != ed25519.PublicKeySize || KeyID(e.Key.Key) != e.Key.ID:
		return fmt.Errorf("endorsement of key %d: the key ID does not match the public key", e.Key.ID)
	case len(e.Signature) != ed25519.SignatureSize || !ed25519.Verify(signer, endorsementBytes(e.Key), e.Signature):
		return fmt.Errorf("endorsement of key %d by key %d: %w", e.Key.ID, e.SignerID, ErrBadEndorsement)
	}
	return nil
}

// ErrBadEndorsement is wrapped by the error of an endorsement whose
// signature does not verify.
var ErrBadEndorsement = errors.New("signature does not verify")

// EndorsedKeys returns the public keys reachable from anchors through
// endorsements: the anchors themselves, every key endorsed by one of them,
// every key endorsed by those, and so on. Endorsements that do not verify, or
// whose signer is not reachable, are ignored. The result maps key IDs to
// keys.
func EndorsedKeys(anchors []PublicKey, endorsements []Endorsement) map[uint32]ed25519.PublicKey {
	trusted := make(map[uint32]ed25519.PublicKey, len(anchors)+len(endorsements))
	for _, a := range anchors {
		if len(a.Key) == ed25519.PublicKeySize {
			trusted[KeyID(a.Key)] = a.Key
		}
	}
	used := make([]bool, len(endorsements))
	for progress := true; progress; {
		progress = false
		for i, e := range endorsements {
			if used[i] {
				continue
			}
			signer, ok := trusted[e.SignerID]
			if !ok {
				continue
			}
			used[i] = true
			if e.Verify(signer) != nil {
				continue
			}
			if _, ok := trusted[e.Key.ID]; !ok {
				trusted[e.Key.ID] = e.Key.Key
				progress = true
			}
		}
	}
	return trusted
}
