package authority

import (
	"time"

	"github.com/mandate-dev/mandate/token"
)

// Every size, count and time limit of the authority lives in this file, with
// the reason for its value. Token limits live in package token (limits.go).
const (
	// MaxBodyBytes bounds a request body. The largest legitimate body is a
	// mint request with token.MaxRightsPerToken rights of a few hundred
	// bytes each, or a revocation carrying one token (at most
	// token.MaxEncodedBytes, about 16 KiB): 64 KiB covers both with room.
	MaxBodyBytes = 64 << 10

	// DefaultMaxWait caps the wait of a long-poll on the revocation feed.
	// Followers reconnect at once, so a longer wait saves little and holds
	// a connection (and a proxy's idle timer) for longer.
	DefaultMaxWait = 30 * time.Second

	// MaxFeedPage bounds the entries of one feed response. A follower that
	// is far behind pages through the log with "next".
	MaxFeedPage = 1000

	// MaxListed bounds the entries listed in one revocation response and
	// the tokens listed in one session view. Totals are always exact.
	MaxListed = 1000

	// RetentionGrace keeps a revocation, token or session record this long
	// after its expiry before storage forgets it. A verifier whose clock
	// lags the authority's can still accept a token shortly after its
	// expiry; keeping the revocation in the log for a while longer lets a
	// follower that starts from scratch during that window still learn it.
	RetentionGrace = 5 * time.Minute

	// UnknownIDTTL is how long a revocation of an ID the authority did not
	// mint is kept: the longest any token can live, so that every token
	// the ID could belong to has expired when the entry does.
	UnknownIDTTL = token.MaxTTL

	// MaxBatch bounds the writes committed in one storage transaction by
	// the group-commit writer. One fsync per batch is what makes minting
	// fast; 256 small records stay far below Badger's transaction size
	// limit.
	MaxBatch = 256

	// WriteQueue bounds the writes waiting for the group-commit writer.
	// When it is full, callers wait (backpressure) until their context
	// ends.
	WriteQueue = 4096

	// MaxClientIDBytes bounds a client ID.
	MaxClientIDBytes = 64

	// MaxCeilingEntries bounds each list of a client's ceiling.
	MaxCeilingEntries = 64

	// MinAdminTokenBytes is the shortest admin token accepted from
	// MANDATE_ADMIN_TOKEN. Admin tokens are stored as a fast SHA-256 hash,
	// which is only safe for high-entropy secrets: 24 characters of
	// base64 is 144 bits. Generate one with `openssl rand -base64 32`.
	MinAdminTokenBytes = 24

	// MaxCredentialBytes bounds a bearer credential before it is hashed.
	MaxCredentialBytes = 512

	// MaxRevocationIDBytes bounds a revocation ID (raw bytes). Ed25519
	// block signatures are 64 bytes; this matches the verifier stores'
	// limit.
	MaxRevocationIDBytes = 128

	// DefaultPruneInterval is how often expired revocations are dropped
	// from the in-memory log.
	DefaultPruneInterval = time.Minute

	// ShutdownTimeout bounds a graceful shutdown: in-flight requests get
	// this long to finish before connections are closed.
	ShutdownTimeout = 10 * time.Second

	// KeyRetention is how long a rotated-out key keeps verifying: the
	// longest a token it signed can live.
	KeyRetention = token.MaxTTL

	// DefaultMaxLongPolls caps the feed long-polls held at once (see
	// longpoll.go). Each holds a connection and a goroutine for up to
	// MaxWait; 2,048 serves a large fleet of verifiers (one follower per
	// tool-server process) while keeping most descriptors for other routes.
	// Serve lowers it to half the connections the descriptor limit allows.
	DefaultMaxLongPolls = 2048

	// DefaultMaxLongPollsPerClient caps the long-polls one client (an IP
	// address, or an IPv6 /64) holds at once. A host runs one follower per
	// verifier process: 64 covers a host, or a small fleet behind one NAT.
	// Followers over the cap are answered at once and stay fresh, at the
	// cost of asking again every 100ms: raise Config.MaxLongPollsPerClient
	// (and MaxConnsPerClient) when a large fleet shares one address.
	DefaultMaxLongPollsPerClient = 64

	// DefaultMaxConnsPerClient caps the connections one client holds open
	// on the listener of Serve: enough for a backend's mint connection pool
	// and its followers, small enough that one host cannot take the
	// descriptors every other client needs.
	DefaultMaxConnsPerClient = 512

	// FDReserve is the number of file descriptors Serve keeps out of the
	// connection budget, for storage (Badger's tables and value logs), logs
	// and the listener: connections get the rest of RLIMIT_NOFILE.
	FDReserve = 256

	// ReadHeaderTimeout bounds reading a request's headers (a few hundred
	// bytes): a client that trickles them (slowloris) loses its connection.
	ReadHeaderTimeout = 5 * time.Second

	// ReadTimeout bounds reading a whole request; bodies are at most
	// MaxBodyBytes.
	ReadTimeout = 30 * time.Second

	// IdleTimeout closes keep-alive connections idle this long. An idle
	// connection holds a file descriptor; followers ask again as soon as a
	// long-poll returns and mint clients reuse connections within seconds,
	// so 30 seconds costs them nothing.
	IdleTimeout = 30 * time.Second

	// RefuseLinger bounds the time a connection refused over a connection
	// cap is kept to deliver its 503 (see refuse in longpoll.go).
	RefuseLinger = 250 * time.Millisecond
	// FeedSignatureCache bounds how many signed feed pages are remembered:
	// followers at the same position share one signature.
	FeedSignatureCache = 1024
)
