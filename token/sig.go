package token

import (
	"crypto/ed25519"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// Signatures are checked with curve25519-voi rather than crypto/ed25519
// because it is faster (about 0.6 × a crypto/ed25519 verify on amd64 with
// AVX2; its key derivation for the proof, about 0.6 × crypto/ed25519's),
// under exactly crypto/ed25519's acceptance rules:
// voi.VerifyOptionsStdLib is the cofactorless equation [S]B = R + [k]A
// compared on R's encoding (so a non-canonical R never verifies), S must be
// canonical (below the group order), and A may be non-canonical or of small
// or mixed order, as crypto/ed25519 allows. TestEd25519Differential holds
// the two to the same answer on every edge case we know of. No batch
// equation is used: a batch is cofactored, and would accept signatures
// crypto/ed25519 rejects.

// stdlibRules are crypto/ed25519's acceptance rules.
var stdlibRules = &voi.Options{Verify: voi.VerifyOptionsStdLib}

// verifySig reports whether sig is pub's signature of msg under exactly the
// rules of crypto/ed25519.Verify. It never panics: a key of the wrong length
// does not verify.
func verifySig(pub, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	return voi.VerifyWithOptions(voi.PublicKey(pub), msg, sig, stdlibRules)
}

// expandedKey is a root public key with its point precomputed for
// verification; nil when the key is not a point on the curve (nothing
// verifies under it, as with crypto/ed25519).
func expandedKey(pub ed25519.PublicKey) *voi.ExpandedPublicKey {
	if len(pub) != ed25519.PublicKeySize {
		return nil
	}
	k, err := voi.NewExpandedPublicKey(voi.PublicKey(pub))
	if err != nil {
		return nil
	}
	return k
}

// verifyExpanded is verifySig with a precomputed key.
func verifyExpanded(k *voi.ExpandedPublicKey, msg, sig []byte) bool {
	if k == nil || len(sig) != ed25519.SignatureSize {
		return false
	}
	return voi.VerifyExpandedWithOptions(k, msg, sig, stdlibRules)
}

// publicFromSeed derives the public key of an RFC 8032 private key seed,
// as crypto/ed25519.NewKeyFromSeed does.
func publicFromSeed(seed []byte) []byte {
	if len(seed) != ed25519.SeedSize {
		return nil
	}
	return voi.NewKeyFromSeed(seed)[ed25519.SeedSize:]
}
