package follow

import "time"

// Every size, count and time limit the follower enforces lives in this file.
// Everything that comes from the network is bounded before it is decoded, so
// a broken or hostile authority can make the follower fail (and so the
// verifier fail closed), never exhaust its memory or wedge it.
const (
	// MaxResponseBytes bounds one /v1/revocations response body. A 64-byte
	// revocation ID is 128 hex characters and one JSON entry about 200
	// bytes, so 8 MiB holds about 40,000 entries: far more than one
	// catch-up page needs.
	MaxResponseBytes = 8 << 20

	// MaxBatchEntries bounds the entries of one /v1/revocations response.
	// The authority must page its log in batches at most this long; a
	// longer batch is rejected whole and nothing of it is applied.
	MaxBatchEntries = 65536

	// MaxKeysResponseBytes bounds one /v1/keys response body.
	MaxKeysResponseBytes = 1 << 20

	// MaxKeys bounds the keys of one /v1/keys response. Rotation keeps an
	// old key only until its tokens expire, so a handful is normal.
	MaxKeys = 256

	// MaxEndorsements bounds the key endorsements of one /v1/keys
	// response: one per rotation the authority ever made, about 200 bytes
	// each, so a rotation a day for ten years fits in MaxKeysResponseBytes.
	MaxEndorsements = 4096

	// MaxErrorBytes bounds how much of an error response is read, and
	// MaxErrorText how much of its description is kept for logs and
	// errors.
	MaxErrorBytes = 64 << 10
	MaxErrorText  = 512

	// MaxCatchUpRounds bounds the requests one SyncOnce makes. At the
	// authority's page size it covers any realistic log; a follower that
	// is still behind after it reports so and can call SyncOnce again.
	MaxCatchUpRounds = 100_000

	// BodyTimeout bounds reading one /v1/revocations body once its
	// headers arrived (the wait for the headers is bounded by Wait+Grace):
	// MaxResponseBytes at 300 KB/s. Freshness does not depend on it; it
	// only frees a follower stuck on an authority that stalls mid-body.
	BodyTimeout = 30 * time.Second

	// KeysTimeout bounds one /v1/keys request, from dialling to the end
	// of the body.
	KeysTimeout = 10 * time.Second
)

// Defaults of [Config].
const (
	// DefaultMaxStaleness is the default [Config.MaxStaleness].
	DefaultMaxStaleness = 30 * time.Second
	// DefaultWait is the longest default [Config.Wait]; it is
	// MaxStaleness*2/5 when that is shorter (12s for the default bound).
	DefaultWait = 25 * time.Second
	// DefaultGrace is the longest default [Config.Grace].
	DefaultGrace = 3 * time.Second
	// DefaultKeyRefresh is the default [Config.KeyRefresh].
	DefaultKeyRefresh = time.Minute
	// DefaultMinBackoff and DefaultMaxBackoff bound the reconnection
	// delay: it doubles from the minimum after every consecutive failure,
	// up to the maximum, with jitter.
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 10 * time.Second
)
