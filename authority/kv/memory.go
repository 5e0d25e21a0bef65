package kv

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Memory is a KV held in memory, for tests and demos: nothing survives the
// process. It is safe for concurrent use.
type Memory struct {
	mu   sync.RWMutex
	now  func() time.Time
	data map[string]Entry
	last uint64
}

// NewMemory returns an empty Memory. now is its clock (nil: time.Now).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, data: map[string]Entry{}}
}

// Get implements KV.
func (m *Memory) Get(ctx context.Context, key string) (Entry, error) {
	if err := ctx.Err(); err != nil {
		return Entry{}, err
	}
	if err := CheckKey(key); err != nil {
		return Entry{}, err
	}
	m.mu.RLock()
	e, ok := m.data[key]
	m.mu.RUnlock()
	if !ok || !live(e.ExpiresAt, m.now()) {
		return Entry{}, fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	e.Value = slices.Clone(e.Value)
	return e, nil
}

// Apply implements KV.
func (m *Memory) Apply(ctx context.Context, ops ...Op) ([]uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := CheckOps(ops); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for i := range ops {
		op := &ops[i]
		cur, ok := m.data[op.Key]
		if ok && !live(cur.ExpiresAt, now) {
			ok = false
		}
		if err := matches(op, ok, cur.Rev); err != nil {
			return nil, err
		}
	}
	revs := make([]uint64, len(ops))
	for i := range ops {
		op := &ops[i]
		if op.Delete {
			delete(m.data, op.Key)
			continue
		}
		prev := m.data[op.Key].Rev
		r := NextRev(max(prev, m.last), now)
		m.last = r
		m.data[op.Key] = Entry{Key: op.Key, Value: slices.Clone(op.Value), Rev: r, ExpiresAt: op.ExpiresAt}
		revs[i] = r
	}
	return revs, nil
}

// matches checks op's precondition against the key's current state.
func matches(op *Op, exists bool, rev uint64) error {
	switch op.Match {
	case Absent:
		if exists {
			return fmt.Errorf("%w: %q exists", ErrConflict, op.Key)
		}
	case AtRev:
		if !exists {
			return fmt.Errorf("%w: %q no longer exists", ErrConflict, op.Key)
		}
		if rev != op.Rev {
			return fmt.Errorf("%w: %q changed (revision %d, expected %d)", ErrConflict, op.Key, rev, op.Rev)
		}
	}
	return nil
}

// Scan implements KV.
func (m *Memory) Scan(ctx context.Context, o ScanOptions, fn func(Entry) bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := m.now()
	m.mu.RLock()
	var es []Entry
	for k, e := range m.data {
		if !strings.HasPrefix(k, o.Prefix) || !live(e.ExpiresAt, now) {
			continue
		}
		if o.Start != "" && ((!o.Reverse && k < o.Start) || (o.Reverse && k > o.Start)) {
			continue
		}
		if o.KeysOnly {
			e.Value = nil
		} else {
			e.Value = slices.Clone(e.Value)
		}
		es = append(es, e)
	}
	m.mu.RUnlock()
	slices.SortFunc(es, func(a, b Entry) int { return strings.Compare(a.Key, b.Key) })
	if o.Reverse {
		slices.Reverse(es)
	}
	for _, e := range es {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !fn(e) {
			return nil
		}
	}
	return nil
}

// MemoryProvider hands out Memory namespaces that live as long as it does.
type MemoryProvider struct {
	mu  sync.Mutex
	now func() time.Time
	ns  map[string]*Memory
}

// NewMemoryProvider returns an empty MemoryProvider (now nil: time.Now).
func NewMemoryProvider(now func() time.Time) *MemoryProvider {
	return &MemoryProvider{now: now, ns: map[string]*Memory{}}
}

// Namespace implements Provider: the same name gives the same Memory.
func (p *MemoryProvider) Namespace(name string) KV {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.ns[name]
	if m == nil {
		m = NewMemory(p.now)
		p.ns[name] = m
	}
	return m
}
