package verifier

import (
	"sync"
	"testing"

	"github.com/mandate-dev/mandate/token"
)

// TestChainCacheBoundAndSecondChance: the cache never holds more than its
// bound, and an entry hit since the hand last passed survives an eviction
// that takes an idle one.
func TestChainCacheBoundAndSecondChance(t *testing.T) {
	c := newChainCache(4)
	key := func(i byte) cacheKey { return cacheKey{i} }
	toks := make([]*token.Verified, 10)
	for i := range toks {
		toks[i] = new(token.Verified)
	}
	for i := range 4 {
		c.put(key(byte(i)), toks[i])
	}
	// New entries start unreferenced: the hand evicts the oldest, 0.
	c.put(key(4), toks[4])
	if n := c.len(); n != 4 {
		t.Fatalf("len %d, want 4", n)
	}
	if c.get(key(0)) != nil || c.get(key(2)) != toks[2] {
		t.Fatal("put on a full cache did not evict the oldest idle entry")
	}
	for i := 5; i < 10; i++ {
		c.put(key(byte(i)), toks[i])
		c.get(key(2)) // keep 2 hot
		if n := c.len(); n > 4 {
			t.Fatalf("len %d over the bound 4", n)
		}
	}
	if c.get(key(2)) != toks[2] {
		t.Error("the hot entry was evicted")
	}
	if c.get(key(9)) != toks[9] {
		t.Error("the newest entry is missing")
	}
}

// TestChainCacheConcurrent runs gets and puts from several goroutines (for
// the race detector) and checks the bound.
func TestChainCacheConcurrent(t *testing.T) {
	c := newChainCache(16)
	tok := new(token.Verified)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				k := cacheKey{byte(g), byte(i % 40)}
				if c.get(k) == nil {
					c.put(k, tok)
				}
			}
		}()
	}
	wg.Wait()
	if n := c.len(); n > 16 {
		t.Fatalf("len %d over the bound 16", n)
	}
}
