// Package usage enforces, at a tool server, the usage limits that tokens
// declare (token.Limit): "at most 20 send_email calls per hour", "refunds
// summing to at most 1,000". A tool server that honours limits imports it
// and sets an [Enforcer] as verifier.Config.Limits; one that does not never
// pulls it in, and denies every token that declares a limit (the
// declaration is a check only an enforcing verifier satisfies).
//
// # How a call is counted
//
//  1. The verifier evaluates the token with a limit_ok fact for each limit
//     it declares; only a call the token allows reaches the Enforcer
//     ([Enforcer.Spend]).
//  2. The Enforcer takes the call's amount (1, or the summed argument) from
//     the lease it holds for each limit that applies, all limits or none,
//     under the limits' locks: the count and the decision are one step, so
//     64 concurrent calls under a limit of 10 allow exactly 10.
//  3. When a lease cannot cover the call, the Enforcer asks its [Leaser]
//     for a new one in the same step, returning what is left of the old.
//     The authority's ledger ([Remote], package authority/usage) counts a
//     lease as used when it grants it, so every verifier of the authority
//     together never exceeds a limit; a verifier that crashes wastes its
//     unspent lease, never more.
//
// Leases grow with the rate the Enforcer observes (doubling while each
// lasts less than Config.LeaseTarget, halving when one lasts far longer),
// so a steady stream costs one round trip per many calls, and the
// Enforcer returns a lease it has not used for Config.IdleReturn, so that
// budget it holds idle goes back to the verifiers that need it.
//
// # Windows and clocks
//
// The authority's clock decides a limit's windows (fixed windows, aligned
// to the Unix epoch). A lease says how long its window still runs; the
// Enforcer stops spending from it that long after it asked for it, by its
// own clock, and never later: it remembers the latest time it has seen, so
// a clock that moves backwards cannot stretch a lease.
//
// # Where people go wrong
//
//   - Without the authority reachable, a limit is decided from the leases
//     held: when one runs out the call is denied (temporarily_unavailable),
//     never counted on trust.
//   - A verifier without an authority counts with a ledger of its own
//     (package authority/usage/offline, on a local Badger database, as
//     "mandate verify --usage-dir" does): at this verifier only, every
//     other verifier has its own count. Decisions say so ("counted at this
//     verifier only").
//   - Call Close when the tool server stops: it returns the leases held, so
//     that their budget is not wasted.
package usage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
)

// Leaser hands out leases on limits' budgets: the authority's ledger over
// HTTP ([Remote]) or a ledger of this process for a verifier without an
// authority (package authority/usage/offline).
//
// Contract: the sum of the Amounts of every lease granted for one limit in
// one window, minus what Return gave back, never exceeds the limit's
// maximum, across every caller and crash; Return of a lease gives its
// unused budget back at most once. Both are safe for concurrent use.
type Leaser interface {
	// Lease grants a slice of the limit's remaining budget in its current
	// window, after returning r.Renew. A Lease with Amount 0 means less
	// than r.Need remains. An error means the Leaser could not answer;
	// r.Renew may or may not have been returned.
	Lease(ctx context.Context, r LeaseRequest) (Lease, error)
	// Return gives back unused of a lease's budget.
	Return(ctx context.Context, leaseID string, unused int64) error
}

// LeaseRequest asks for a lease.
type LeaseRequest struct {
	// Token is the verified token whose block declares Limit: the
	// authority verifies it again and reads the limit from it.
	Token *token.Verified
	Limit *token.DeclaredLimit
	// Need is the least that lets the call through; Want what the
	// Enforcer would like.
	Need, Want int64
	// Renew is a lease to return first, with RenewUnused left.
	Renew       string
	RenewUnused int64
}

// Lease is a Leaser's answer.
type Lease struct {
	ID     string
	Amount int64
	// ResetsIn is how long the lease's window still runs (0: the life of
	// the block); ResetsAt when it ends, on the Leaser's clock.
	ResetsIn time.Duration
	ResetsAt time.Time
	// Used is the limit's count in the window (leases included), Held
	// what other leases hold of it.
	Used, Held int64
	// Local: the Leaser counts for this verifier only.
	Local bool
}

// Defaults of Config.
const (
	DefaultMinLease    = 4
	DefaultMaxLease    = 1 << 16
	DefaultLeaseTarget = time.Second
	DefaultIdleReturn  = 5 * time.Second
	// DefaultTimeout bounds one round trip to the Leaser.
	DefaultTimeout = 2 * time.Second
)

// Config configures an Enforcer.
type Config struct {
	// Leaser is required: NewRemote(authority URL) for every verifier of
	// an authority; a ledger of this process (authority/usage/offline) for
	// a verifier without one.
	Leaser Leaser
	// MinLease and MaxLease bound the calls (or, for a sum, the amount in
	// units of the call that asked) one lease asks for.
	MinLease, MaxLease int64
	// LeaseTarget is how long a lease should last on a steady stream.
	LeaseTarget time.Duration
	// IdleReturn: a lease not used for this long is returned (negative:
	// never; leases are then returned by Close only).
	IdleReturn time.Duration
	// Timeout bounds each round trip to the Leaser.
	Timeout time.Duration
	// Now is the Enforcer's clock (default time.Now); the verifier's Now
	// is used for calls, this one for returning idle leases.
	Now func() time.Time
}

// Enforcer implements verifier.LimitEnforcer. It is safe for concurrent
// use; Close stops it.
type Enforcer struct {
	cfg    Config
	limits sync.Map // limit ID → *state
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
	// RoundTrips counts the calls to the Leaser (leases and returns).
	RoundTrips countAtomic
}

var _ verifier.LimitEnforcer = (*Enforcer)(nil)

// state is what the Enforcer holds of one limit. mu is held while a call
// is counted, including any round trip to the Leaser it needs.
type state struct {
	mu   sync.Mutex
	decl *token.DeclaredLimit
	tok  *token.Verified // the latest token seen with the limit

	lease     string
	remaining int64
	deadline  time.Time // zero: none
	granted   time.Time
	want      int64
	seen      time.Time // latest clock reading
	lastUse   time.Time
	idleSince time.Time // on the Enforcer's own clock
	local     bool
	dead      bool // forgotten by the janitor: look the limit up again
}

// New returns an Enforcer and starts its idle-lease janitor.
func New(cfg Config) (*Enforcer, error) {
	if cfg.Leaser == nil {
		return nil, errors.New("usage: Config.Leaser is required (NewRemote(authority URL))")
	}
	if cfg.MinLease <= 0 {
		cfg.MinLease = DefaultMinLease
	}
	if cfg.MaxLease <= 0 {
		cfg.MaxLease = DefaultMaxLease
	}
	cfg.MaxLease = max(cfg.MaxLease, cfg.MinLease)
	if cfg.LeaseTarget <= 0 {
		cfg.LeaseTarget = DefaultLeaseTarget
	}
	if cfg.IdleReturn == 0 {
		cfg.IdleReturn = DefaultIdleReturn
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	e := &Enforcer{cfg: cfg, stop: make(chan struct{}), done: make(chan struct{})}
	if cfg.IdleReturn > 0 {
		go e.janitor()
	} else {
		close(e.done)
	}
	return e, nil
}

// Spend implements verifier.LimitEnforcer.
func (e *Enforcer) Spend(ctx context.Context, c *verifier.LimitCall) error {
	var buf [token.MaxLimitsPerToken]*state
	states := e.lock(buf[:0], c)
	defer func() {
		for _, st := range states {
			st.mu.Unlock()
		}
	}()
	for i, st := range states {
		st.tok = c.Token
		if err := e.ensure(ctx, st, c.Amounts[i], c.Now); err != nil {
			return err
		}
		if st.local {
			c.Local = true
		}
	}
	for i, st := range states {
		st.remaining -= c.Amounts[i]
		st.lastUse = st.seen
		st.idleSince = time.Time{}
	}
	return nil
}

// lock locks the states of c's limits. The limits of any token come in
// block order, and a limit's block precedes every block below it in every
// token that holds it, so two calls always lock shared limits in the same
// order. A state the janitor forgot in the meantime is looked up again.
func (e *Enforcer) lock(states []*state, c *verifier.LimitCall) []*state {
	for {
		states = states[:0]
		dead := false
		for _, l := range c.Limits {
			st := e.state(l, c.Token)
			st.mu.Lock()
			states = append(states, st)
			dead = dead || st.dead
		}
		if !dead {
			return states
		}
		for _, st := range states {
			st.mu.Unlock()
		}
	}
}

func (e *Enforcer) state(l *token.DeclaredLimit, vt *token.Verified) *state {
	if st, ok := e.limits.Load(l.ID); ok {
		return st.(*state)
	}
	st, _ := e.limits.LoadOrStore(l.ID, &state{decl: l, tok: vt})
	return st.(*state)
}

// ensure makes st's lease cover need at now, asking the Leaser when it
// does not. st.mu is held.
func (e *Enforcer) ensure(ctx context.Context, st *state, need int64, now time.Time) error {
	if now.Before(st.seen) {
		now = st.seen // the clock went back: never stretch a lease
	}
	st.seen = now
	live := st.lease != "" && (st.deadline.IsZero() || now.Before(st.deadline))
	if live && st.remaining >= need {
		return nil
	}
	if need == 0 && !live {
		// A zero amount counts nothing; it needs no lease, only a limit
		// the token declares.
		return nil
	}
	// Size the next lease by how fast the last one went.
	switch {
	case st.want == 0:
		st.want = e.cfg.MinLease * max(need, 1)
	case live && now.Sub(st.granted) < e.cfg.LeaseTarget:
		st.want *= 2
	case now.Sub(st.granted) > 4*e.cfg.LeaseTarget:
		st.want /= 2
	}
	st.want = min(max(st.want, e.cfg.MinLease, need), max(e.cfg.MaxLease, need))
	r := LeaseRequest{Token: st.tok, Limit: st.decl, Need: need, Want: st.want, Renew: st.lease, RenewUnused: max(st.remaining, 0)}
	// Whatever happens now, the old lease is gone: the Leaser may have
	// taken it back even if its answer is lost, and spending from it then
	// would overspend.
	st.lease, st.remaining, st.deadline = "", 0, time.Time{}
	rctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	e.RoundTrips.add(1)
	l, err := e.cfg.Leaser.Lease(rctx, r)
	if err != nil {
		return fmt.Errorf("usage limit %s of block %d: no lease: %w", st.decl.Limit, st.decl.Block, err)
	}
	st.local = l.Local
	if l.Amount < need || l.ID == "" {
		if l.ID != "" {
			// A Leaser that granted too little: give it back.
			_ = e.cfg.Leaser.Return(rctx, l.ID, l.Amount)
		}
		resets := l.ResetsAt
		if resets.IsZero() && l.ResetsIn > 0 {
			resets = now.Add(l.ResetsIn)
		}
		return &verifier.LimitExceededError{Limit: *st.decl, Used: l.Used, Need: need, ResetsAt: resets, Local: l.Local, Held: l.Held}
	}
	st.lease, st.remaining, st.granted = l.ID, l.Amount, now
	if l.ResetsIn > 0 {
		// Measured from when the request was sent: never after the
		// window's end on the Leaser's clock.
		st.deadline = now.Add(l.ResetsIn)
	}
	return nil
}

// janitor returns idle leases.
func (e *Enforcer) janitor() {
	defer close(e.done)
	// Check often enough to return a lease within about IdleReturn, and
	// at least every second (for clocks that are not the wall clock).
	t := time.NewTicker(min(max(e.cfg.IdleReturn/4, 10*time.Millisecond), time.Second))
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			e.returnIdle(false)
		}
	}
}

// returnIdle returns the leases idle for IdleReturn (all of them with all
// set). A lease whose return fails is dropped all the same: its budget is
// wasted, never spent twice.
func (e *Enforcer) returnIdle(all bool) {
	now := e.cfg.Now()
	e.limits.Range(func(k, v any) bool {
		st := v.(*state)
		if !all && !st.mu.TryLock() {
			return true // in use
		}
		if all {
			st.mu.Lock()
		}
		defer st.mu.Unlock()
		if st.lease == "" {
			if !all && !st.lastUse.IsZero() && st.idleSince.IsZero() {
				st.idleSince = now
			} else if !all && !st.idleSince.IsZero() && now.Sub(st.idleSince) >= e.cfg.IdleReturn {
				// Forget a limit idle without a lease, so that the map
				// holds only the limits in use. A call that loaded the
				// state just before makes a lease of its own: still
				// counted at the authority, so still exact.
				st.dead = true
				e.limits.Delete(k)
			}
			return true
		}
		if !all {
			if st.idleSince.IsZero() {
				st.idleSince = now
				return true
			}
			if now.Sub(st.idleSince) < e.cfg.IdleReturn {
				return true
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), e.cfg.Timeout)
		_ = e.cfg.Leaser.Return(ctx, st.lease, st.remaining)
		cancel()
		e.RoundTrips.add(1)
		st.lease, st.remaining, st.deadline, st.idleSince = "", 0, time.Time{}, time.Time{}
		if all {
			st.dead = true
			e.limits.Delete(k)
		}
		return true
	})
}

// Close stops the janitor and returns every lease held. Calls counted
// after Close get new leases (which a later Close returns).
func (e *Enforcer) Close() error {
	e.once.Do(func() { close(e.stop) })
	<-e.done
	e.returnIdle(true)
	return nil
}

// Holding reports the budget this Enforcer holds unspent for a limit.
func (e *Enforcer) Holding(limitID string) int64 {
	v, ok := e.limits.Load(limitID)
	if !ok {
		return 0
	}
	st := v.(*state)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.lease == "" {
		return 0
	}
	return st.remaining
}
