package verifier

import (
	"crypto/sha256"
	"sync"
	"sync/atomic"

	"github.com/mandate-dev/mandate/token"
)

type cacheKey [sha256.Size]byte

// chainCache keeps verified signature chains, keyed by the SHA-256 of the
// token. It saves only signature checks and parsing: revocation and Datalog
// run on every decision.
//
// A hit writes no shared memory (sync.Map reads are lock-free; the
// recently-used flag is only set when clear), so that decisions on several
// cores do not contend on it. Eviction is CLOCK (second chance), an
// approximation of least recently used, under a mutex taken only by put.
type chainCache struct {
	max   int
	items sync.Map // cacheKey → *cacheEntry; changed only under mu

	mu   sync.Mutex
	ring []*cacheEntry // up to max entries; hand sweeps it on eviction
	hand int
}

type cacheEntry struct {
	key  cacheKey
	tok  *token.Verified
	used atomic.Bool // referenced since the hand last passed
}

func newChainCache(max int) *chainCache {
	c := &chainCache{max: max}
	if max > 0 {
		c.ring = make([]*cacheEntry, 0, min(max, 1024))
	}
	return c
}

func (c *chainCache) get(k cacheKey) *token.Verified {
	if c.max <= 0 {
		return nil
	}
	v, ok := c.items.Load(k)
	if !ok {
		return nil
	}
	e := v.(*cacheEntry)
	if !e.used.Load() {
		e.used.Store(true)
	}
	return e.tok
}

func (c *chainCache) put(k cacheKey, t *token.Verified) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.items.Load(k); ok {
		v.(*cacheEntry).used.Store(true)
		return
	}
	e := &cacheEntry{key: k, tok: t}
	if len(c.ring) < c.max {
		c.ring = append(c.ring, e)
		c.items.Store(k, e)
		return
	}
	// Give every recently used entry a second chance; evict the first
	// that has none. Two sweeps at most: the first clears every flag.
	for c.ring[c.hand].used.Load() {
		c.ring[c.hand].used.Store(false)
		c.hand = (c.hand + 1) % len(c.ring)
	}
	c.items.Delete(c.ring[c.hand].key)
	c.ring[c.hand] = e
	c.items.Store(k, e)
	c.hand = (c.hand + 1) % len(c.ring)
}

func (c *chainCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.ring)
}
