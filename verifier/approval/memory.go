package approval

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Memory is an in-memory Redeemer for tests and a single process: uses are
// counted in this process only and lost when it exits. It forgets an
// approval once it has expired (it can never be used again anyway).
type Memory struct {
	mu   sync.Mutex
	now  func() time.Time
	used map[memKey]*memEntry
}

type memKey struct {
	keyID uint32
	id    string
}

type memEntry struct {
	used    int
	expires time.Time
}

// memSweep is the map size above which Redeem drops expired entries.
const memSweep = 4096

// NewMemory returns an empty Memory redeemer.
func NewMemory() *Memory { return &Memory{now: time.Now, used: map[memKey]*memEntry{}} }

// Redeem spends one use of r.Approval.
func (m *Memory) Redeem(ctx context.Context, r Redemption) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	a := r.Approval
	if a == nil {
		return fmt.Errorf("approval: redeem: no approval")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if len(m.used) >= memSweep {
		for k, e := range m.used {
			if now.After(e.expires) {
				delete(m.used, k)
			}
		}
	}
	k := memKey{a.KeyID, a.ID}
	e := m.used[k]
	if e == nil {
		e = &memEntry{expires: a.ExpiresAt}
		m.used[k] = e
	}
	if e.used >= a.MaxUses {
		return fmt.Errorf("approval %s: %w (%d of %d uses)", a.ID, ErrUsedUp, e.used, a.MaxUses)
	}
	e.used++
	return nil
}
