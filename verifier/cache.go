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
// Eviction is CLOCK (second chance), an approximation of least recently
// used in which a hit only sets a flag under the read lock: decisions on
// several cores that hit the cache do not serialize on it, as they would if
// every hit moved an entry in a list under an exclusive lock.
type chainCache struct {
	mu    sync.RWMutex
	max   int
	ring  []*cacheEntry // up to max entries; hand sweeps it on eviction
	hand  int
	items map[cacheKey]*cacheEntry
}

type cacheEntry struct {
	key  cacheKey
	tok  *token.Verified
	used atomic.Bool // referenced since the hand last passed
}

func newChainCache(max int) *chainCache {
	if max <= 0 {
		return &chainCache{max: max}
	}
	return &chainCache{max: max, ring: make([]*cacheEntry, 0, min(max, 1024)), items: make(map[cacheKey]*cacheEntry, min(max, 1024))}
}

func (c *chainCache) get(k cacheKey) *token.Verified {
	if c.max <= 0 {
		return nil
	}
	c.mu.RLock()
	e, ok := c.items[k]
	c.mu.RUnlock()
	if !ok {
		return nil
	}
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
	if e, ok := c.items[k]; ok {
		e.used.Store(true)
		return
	}
	e := &cacheEntry{key: k, tok: t}
	if len(c.ring) < c.max {
		c.ring = append(c.ring, e)
		c.items[k] = e
		return
	}
	// Give every recently used entry a second chance; evict the first
	// that has none. Two sweeps at most: the first clears every flag.
	for c.ring[c.hand].used.Load() {
		c.ring[c.hand].used.Store(false)
		c.hand = (c.hand + 1) % len(c.ring)
	}
	delete(c.items, c.ring[c.hand].key)
	c.ring[c.hand] = e
	c.items[k] = e
	c.hand = (c.hand + 1) % len(c.ring)
}

func (c *chainCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.items)
}
