package usage

import "sync/atomic"

// countAtomic is a counter safe for concurrent use.
type countAtomic struct{ n atomic.Int64 }

func (c *countAtomic) add(d int64) { c.n.Add(d) }

// Load returns the count.
func (c *countAtomic) Load() int64 { return c.n.Load() }
