package revocation

// MaxIDLen is the longest revocation ID a [Store] accepts, in bytes.
//
// A Biscuit revocation ID is the block's signature: 64 bytes for Ed25519,
// the only algorithm biscuit-go v2.2.0 signs with. 128 bytes leaves room for
// longer signature schemes (a DER-encoded P-256 signature is at most 72 bytes)
// while keeping every key, and so the memory and disk cost of one entry,
// bounded. Anything longer is not a revocation ID and is rejected with
// [ErrInvalidEntry].
const MaxIDLen = 128
