package decisions

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"time"
)

// The decision log is tamper-evident. Every stored decision carries a hash
// that chains it to the decision before it, and the authority signs the
// head of the chain with its active root key, every SignInterval and on
// demand (every export ends with a freshly signed head):
//
//	h_0 = 32 zero bytes
//	h_n = SHA-256("mandate/decision-log/v1\x00" ‖ h_{n-1} ‖ n (8 bytes) ‖ SHA-256(record_n))
//	head signature = Ed25519(root key, "mandate/decision-head/v1\x00" ‖ n (8 bytes) ‖ h_n ‖ signed_at (8 bytes, Unix nanoseconds))
//
// record_n is the exact bytes of the stored record (compact JSON of
// received_at, verifier and decision), as exports carry them. Integers are
// big-endian. Changing a record changes its hash; removing, reordering or
// inserting one breaks the chain; and a chain that ends at a signed head
// cannot be extended or rewritten without the root key.

// HashSize is the size of a chain hash.
const HashSize = sha256.Size

var (
	chainDomain = []byte("mandate/decision-log/v1\x00")
	headDomain  = []byte("mandate/decision-head/v1\x00")
)

// ChainHash returns h_seq for the record bytes, chained to prev (h_{seq-1}).
func ChainHash(prev []byte, seq uint64, record []byte) []byte {
	rh := sha256.Sum256(record)
	h := sha256.New()
	h.Write(chainDomain)
	h.Write(prev)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seq)
	h.Write(b[:])
	h.Write(rh[:])
	return h.Sum(nil)
}

// Head is a signed statement of the chain's head: decision Seq has hash
// Hash, at SignedAt.
type Head struct {
	Seq       uint64    `json:"seq"`
	Hash      Hex       `json:"hash"`
	SignedAt  time.Time `json:"signed_at"`
	KeyID     uint32    `json:"key_id"`
	Signature Hex       `json:"signature"`
}

// SigningBytes are the bytes the root key signs.
func (h *Head) SigningBytes() []byte {
	b := make([]byte, 0, len(headDomain)+8+HashSize+8)
	b = append(b, headDomain...)
	b = binary.BigEndian.AppendUint64(b, h.Seq)
	hash := h.Hash
	if len(hash) != HashSize {
		hash = make([]byte, HashSize) // never signed: Verify refuses it
	}
	b = append(b, hash...)
	return binary.BigEndian.AppendUint64(b, uint64(h.SignedAt.UnixNano()))
}

// Verify checks the head's signature against pub.
func (h *Head) Verify(pub ed25519.PublicKey) bool {
	return len(pub) == ed25519.PublicKeySize && len(h.Hash) == HashSize &&
		len(h.Signature) == ed25519.SignatureSize && ed25519.Verify(pub, h.SigningBytes(), h.Signature)
}
