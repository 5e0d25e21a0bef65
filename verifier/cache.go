package verifier

import (
	"container/list"
	"crypto/sha256"
	"sync"

	"github.com/mandate-dev/mandate/token"
)

type cacheKey [sha256.Size]byte

// chainCache keeps verified signature chains, keyed by the SHA-256 of the
// token, in least-recently-used order. It saves only signature checks and
// parsing: revocation and Datalog run on every decision.
type chainCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *cacheEntry, front = most recent
	items map[cacheKey]*list.Element
}

type cacheEntry struct {
	key cacheKey
	tok *token.Verified
}

func newChainCache(max int) *chainCache {
	return &chainCache{max: max, order: list.New(), items: make(map[cacheKey]*list.Element, max)}
}

func (c *chainCache) get(k cacheKey) *token.Verified {
	if c.max <= 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return nil
	}
	c.order.MoveToFront(el)
	return el.Value.(*cacheEntry).tok
}

func (c *chainCache) put(k cacheKey, t *token.Verified) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		c.order.MoveToFront(el)
		return
	}
	c.items[k] = c.order.PushFront(&cacheEntry{key: k, tok: t})
	for c.order.Len() > c.max {
		old := c.order.Back()
		c.order.Remove(old)
		delete(c.items, old.Value.(*cacheEntry).key)
	}
}

func (c *chainCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
