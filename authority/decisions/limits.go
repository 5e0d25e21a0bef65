package decisions

import "time"

// Every size, count and time limit of the decision log, with why.
const (
	// MaxBatch is the most decisions one POST /v1/decisions may carry:
	// enough for a verifier to ship 20,000 decisions a second in 20
	// requests, small enough that a batch is one storage transaction
	// (entry and index keys, under kv.MaxBatch operations).
	MaxBatch = 1000
	// MaxBatchBytes bounds an ingest body: MaxBatch records of a few
	// hundred bytes, with room for argument values (each record is
	// bounded by token.ValidateDecision).
	MaxBatchBytes = 4 << 20
	// maxGroup is the most decisions the writer commits at once, across
	// the batches waiting for it (each takes at most opsPerDecision
	// operations of one kv.Apply).
	maxGroup = 1500
	// opsPerDecision is the entry plus its time, session, agent and org
	// index keys.
	opsPerDecision = 5

	// DefaultRetention keeps decisions this long after the authority
	// received them.
	DefaultRetention = 30 * 24 * time.Hour
	// DefaultSignInterval is how often the head of the chain is signed
	// when it moved.
	DefaultSignInterval = time.Minute

	// DefaultLimit and MaxLimit bound a page of GET /v1/decisions.
	DefaultLimit = 100
	MaxLimit     = 1000
	// maxScanFactor bounds the index rows one query reads, as a multiple
	// of its limit, when filters (allowed, a second field, the reader's
	// org scope) skip rows: a sparse filter returns a short page with a
	// cursor rather than scanning the whole log.
	maxScanFactor = 20

	// DefaultMaxSubscribers bounds the live streams held at once.
	DefaultMaxSubscribers = 64
	// subscriberBuffer is the events a live stream may fall behind by
	// before it is ended (the console reconnects).
	subscriberBuffer = 1024

	// maxCursor bounds a query cursor (an index key, base64).
	maxCursor = 2048
)
