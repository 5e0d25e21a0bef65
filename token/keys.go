package token

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// PublicKeyPrefix is the optional algorithm prefix of a printed public key,
// as the Biscuit CLI and libraries write it.
const PublicKeyPrefix = "ed25519/"

// SigningKey is a root private key with its key ID. The ID travels in minted
// tokens as the root key ID hint.
type SigningKey struct {
	ID      uint32
	Private ed25519.PrivateKey
}

// NewSigningKey wraps a private key, deriving its ID with KeyID.
func NewSigningKey(priv ed25519.PrivateKey) SigningKey {
	return SigningKey{ID: KeyID(priv.Public().(ed25519.PublicKey)), Private: priv}
}

// Public returns the trusted-key form of k.
func (k SigningKey) Public() PublicKey {
	return PublicKey{ID: k.ID, Key: k.Private.Public().(ed25519.PublicKey)}
}

// PublicKey is a trusted root public key.
type PublicKey struct {
	ID  uint32
	Key ed25519.PublicKey
	// NotAfter, when set, is the instant after which no token signed by
	// this key can still be valid (the key was rotated out and its last
	// tokens have expired). The key is not trusted after it.
	NotAfter time.Time
}

// KeyID derives a stable key ID from a public key: the first four bytes of
// its SHA-256, big-endian.
func KeyID(pub ed25519.PublicKey) uint32 {
	sum := sha256.Sum256(pub)
	return binary.BigEndian.Uint32(sum[:4])
}

// GenerateKey returns a new random root key.
func GenerateKey() (SigningKey, error) {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return SigningKey{}, fmt.Errorf("generate ed25519 key: %w", err)
	}
	return NewSigningKey(priv), nil
}

// ParsePrivateKey reads an Ed25519 private key in either of two forms: PEM
// PKCS#8, as `openssl genpkey -algorithm ed25519` and `mandate keygen` write
// it, or hex (a 32-byte seed or the 64-byte private key, optionally
// prefixed "ed25519-private/" as the Biscuit CLI prints it).
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	text := strings.TrimSpace(string(data))
	if strings.HasPrefix(text, "-----BEGIN") {
		block, _ := pem.Decode([]byte(text))
		if block == nil {
			return nil, errors.New("private key: unreadable PEM")
		}
		if block.Type != "PRIVATE KEY" {
			return nil, fmt.Errorf("private key: PEM type %q, want \"PRIVATE KEY\" (PKCS#8, as `openssl genpkey -algorithm ed25519` writes)", block.Type)
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("private key: %w", err)
		}
		priv, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("private key: %T is not an Ed25519 key", k)
		}
		return priv, nil
	}
	text = strings.TrimPrefix(text, "ed25519-private/")
	raw, err := hex.DecodeString(text)
	if err != nil {
		return nil, errors.New("private key: neither PEM nor hex")
	}
	switch len(raw) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(raw), nil
	case ed25519.PrivateKeySize:
		priv := ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize])
		if !priv.Equal(ed25519.PrivateKey(raw)) {
			return nil, errors.New("private key: the public half does not match the seed")
		}
		return priv, nil
	}
	return nil, fmt.Errorf("private key: %d hex bytes, want 32 (seed) or 64", len(raw))
}

// MarshalPrivateKeyPEM encodes a private key as PEM PKCS#8.
func MarshalPrivateKeyPEM(priv ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePublicKey reads a public key as 64 hex characters, optionally
// prefixed "ed25519/".
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), PublicKeyPrefix)
	raw, err := hex.DecodeString(s)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, errors.New("public key: want 64 hex characters, optionally prefixed \"ed25519/\"")
	}
	return ed25519.PublicKey(raw), nil
}

// FormatPublicKey returns a public key as 64 hex characters.
func FormatPublicKey(pub ed25519.PublicKey) string { return hex.EncodeToString(pub) }

// KeySet is the set of root public keys a verifier trusts. It is safe for
// concurrent use; Set replaces the whole set atomically (key rotation).
// Readers load an immutable snapshot: deciding on several cores writes no
// shared memory here.
type KeySet struct {
	snap atomic.Pointer[keySnapshot]
}

type keySnapshot struct {
	keys []PublicKey
	// exp holds each key's point, precomputed for verification (nil for a
	// key that is not a point), index for index with keys.
	exp []*voi.ExpandedPublicKey
}

// NewKeySet returns a key set holding keys.
func NewKeySet(keys ...PublicKey) *KeySet {
	s := &KeySet{}
	s.Set(keys...)
	return s
}

func (s *KeySet) load() *keySnapshot {
	if p := s.snap.Load(); p != nil {
		return p
	}
	return &keySnapshot{}
}

// Set replaces the trusted keys.
func (s *KeySet) Set(keys ...PublicKey) {
	old := s.load()
	next := &keySnapshot{keys: make([]PublicKey, len(keys)), exp: make([]*voi.ExpandedPublicKey, len(keys))}
	copy(next.keys, keys)
	for i := range next.keys {
		// The point is computed from a private copy of the key, so a
		// caller changing its slice later cannot make the two disagree.
		next.keys[i].Key = slices.Clone(next.keys[i].Key)
		if j := slices.IndexFunc(old.keys, func(k PublicKey) bool { return k.Key.Equal(next.keys[i].Key) }); j >= 0 {
			next.exp[i] = old.exp[j] // precomputation is pure: reuse it across rotations
			continue
		}
		next.exp[i] = expandedKey(next.keys[i].Key)
	}
	s.snap.Store(next)
}

// Keys returns a copy of the trusted keys.
func (s *KeySet) Keys() []PublicKey {
	return slices.Clone(s.load().keys)
}

// candidate is a trusted key to try, with its precomputed point.
type candidate struct {
	PublicKey
	exp *voi.ExpandedPublicKey
}

// candidates returns the keys to try for a token, the hinted key first, and
// only keys still valid at now.
func (s *KeySet) candidates(hint *uint32, now time.Time, buf []candidate) []candidate {
	snap := s.load()
	out := buf[:0]
	if hint != nil {
		for i, k := range snap.keys {
			if k.ID == *hint && usable(k, now) {
				out = append(out, candidate{k, snap.exp[i]})
			}
		}
	}
	for i, k := range snap.keys {
		if (hint == nil || k.ID != *hint) && usable(k, now) {
			out = append(out, candidate{k, snap.exp[i]})
		}
	}
	return out
}

func usable(k PublicKey, now time.Time) bool {
	return len(k.Key) == ed25519.PublicKeySize && (k.NotAfter.IsZero() || !now.After(k.NotAfter))
}

// Trusted reports whether pub is in the set and usable at now. Verifiers
// call it on cached chains so that removing a key takes effect at once.
func (s *KeySet) Trusted(pub ed25519.PublicKey, now time.Time) bool {
	for _, k := range s.load().keys {
		if k.Key.Equal(pub) && usable(k, now) {
			return true
		}
	}
	return false
}
