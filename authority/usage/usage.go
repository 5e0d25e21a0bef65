// Package usage is the authority's usage-limit ledger: for every limit a
// token declares (token.Limit) and every window of it, how much of the
// limit's budget has been handed out to verifiers in leases.
//
// # Leases
//
// A verifier does not ask the ledger about each call. It asks for a lease,
// a slice of a limit's remaining budget in the current window ([Ledger.Lease]),
// spends it locally, one call at a time, and asks again when it runs out,
// returning what it did not spend ([Ledger.Return], or a renewal that
// returns the old lease and grants a new one in one round trip). The ledger
// counts a lease's whole amount as used the moment it grants it, so the
// cap holds under any interleaving of verifiers: the sum of every lease
// ever granted in a window never exceeds the limit's maximum, and a
// verifier can spend no more than it was granted. A verifier that crashes
// loses its unspent lease: that budget is wasted for the window, never
// handed out twice. A returned lease goes back into the budget, once (the
// lease record is deleted in the same atomic batch).
//
// Lease sizes: the ledger grants what the verifier asks for (its Want,
// sized by the rate it observes), but at most half of what remains when
// that is more than the call needs, so that one verifier never takes the
// last of a limit that others are spending from too.
//
// Windows are fixed and decided by the ledger's clock (the authority's):
// window k of a limit with window W covers [k·W, (k+1)·W) from the Unix
// epoch. A lease belongs to the window it was granted in and tells the
// verifier how long that window still runs (ResetsIn); the verifier stops
// spending from it by then, measured from when it sent the request, so a
// verifier's clock never stretches a lease. A limit without a window has
// one window for the life of its block.
//
// # Storage
//
// The ledger keeps its state in one kv namespace (the authority's
// Store.Namespace("usage")), every change one conditional atomic batch
// (compare-and-set on the ledger entry's revision): several authority
// replicas on a replicated engine keep the cap too. Entries expire an hour
// after their window ends or their token expires.
//
//	l/SESSION/LIMIT_ID/WINDOW   the ledger of one limit in one window (JSON entry)
//	x/LEASE_ID                  an outstanding lease (JSON lease)
//
// The package knows nothing of HTTP or of tokens' signatures: the authority
// verifies the token and reads the limit from the signed block that
// declares it before it calls Lease.
package usage

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mandate-dev/mandate/authority/kv"
	"github.com/mandate-dev/mandate/token"
)

// Errors. Match them with errors.Is.
var (
	// ErrBadRequest: the request cannot be served as sent.
	ErrBadRequest = errors.New("usage: bad request")
	// ErrUnavailable: the ledger's storage failed or kept conflicting.
	ErrUnavailable = errors.New("usage: ledger unavailable")
)

// Retention is how long a ledger entry and its leases are kept after their
// window ends (or their token expires), for the session view.
const Retention = time.Hour

// MaxLeaseIDBytes bounds a lease ID in a request.
const MaxLeaseIDBytes = 64

// maxAttempts bounds compare-and-set retries of one change.
const maxAttempts = 64

// Ledger is the usage ledger. It is safe for concurrent use.
type Ledger struct {
	kv  kv.KV
	now func() time.Time
	// mu serializes this process's changes, so that its own requests do
	// not make each other retry; compare-and-set keeps the cap across
	// processes.
	mu sync.Mutex
}

// New returns a Ledger on store. now is its clock (nil: time.Now).
func New(store kv.KV, now func() time.Time) *Ledger {
	if now == nil {
		now = time.Now
	}
	return &Ledger{kv: store, now: now}
}

// Request asks for a lease. The caller (the authority) fills in the limit
// from the verified token's declaring block; nothing in it comes from the
// verifier but Need, Want and Renew.
type Request struct {
	Limit   token.DeclaredLimit
	Session string
	// Expires is the token's (authority block's) expiry: the ledger of a
	// limit without a window is kept until then.
	Expires time.Time
	// Need is the least that lets the verifier's call through (≥ 1): the
	// ledger grants nothing when less remains. Want is what the verifier
	// would like (at least Need).
	Need, Want int64
	// Renew, when set, is returned first (with RenewUnused unspent), in
	// the same round trip.
	Renew       string
	RenewUnused int64
}

// Lease is the ledger's answer.
type Lease struct {
	// ID identifies the lease for Return; "" when nothing was granted.
	ID string
	// Amount is the budget granted: 0 when less than Need remains.
	Amount int64
	// Window is the window's index (0 for a limit without one), ResetsIn
	// how long it still runs (0: it never ends) and ResetsAt when it ends.
	Window   int64
	ResetsIn time.Duration
	ResetsAt time.Time
	// Used is what the ledger has handed out in this window, this lease
	// included; Held what of it sits in leases not yet returned.
	Used, Held int64
}

// Usage is one limit's ledger in one window.
type Usage struct {
	LimitID string      `json:"limit_id"`
	Block   int         `json:"block"`
	Limit   token.Limit `json:"limit"`
	Window  int64       `json:"window"`
	// ResetsAt is when the window ends (zero: never).
	ResetsAt time.Time `json:"resets_at,omitzero"`
	// Used is what was handed out (spent or held); Spent what verifiers
	// reported spent when they returned leases; Held what open leases
	// hold; Leases how many are open.
	Used   int64 `json:"used"`
	Spent  int64 `json:"spent"`
	Held   int64 `json:"held"`
	Leases int   `json:"leases"`
	// Current: the window is the limit's current one.
	Current bool `json:"current"`
}

// entry is a stored ledger: its Used is what was granted in leases, net
// of returns (never above Limit.Max); Current is set when it is read.
type entry = Usage

// lease is a stored lease.
type lease struct {
	Ledger string `json:"ledger"` // the ledger entry's key
	Amount int64  `json:"amount"`
}

// window returns the index of the window now falls in, when it ends, and
// when the entry may be dropped.
func window(l token.Limit, now, tokenExpires time.Time) (idx int64, end, drop time.Time) {
	if l.Window <= 0 {
		if tokenExpires.IsZero() {
			tokenExpires = now.Add(token.MaxTTL)
		}
		return 0, time.Time{}, tokenExpires.Add(Retention)
	}
	w := int64(l.Window / time.Second)
	idx = now.Unix() / w
	end = time.Unix((idx+1)*w, 0).UTC()
	return idx, end, end.Add(Retention)
}

func ledgerPrefix(session string) string { return "l/" + url.PathEscape(session) + "/" }

func ledgerKey(session, limitID string, idx int64) string {
	return ledgerPrefix(session) + limitID + "/" + strconv.FormatInt(idx, 10)
}

// Lease grants a slice of the limit's remaining budget in the current
// window (after returning r.Renew, if set).
func (l *Ledger) Lease(ctx context.Context, r Request) (Lease, error) {
	if err := r.Limit.Validate(); err != nil {
		return Lease{}, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if r.Need < 1 || r.Need > r.Limit.Max {
		if r.Need > r.Limit.Max {
			// No window can ever hold it: answer as exhausted.
			return l.peek(ctx, r)
		}
		return Lease{}, fmt.Errorf("%w: need must be at least 1", ErrBadRequest)
	}
	if r.Want < r.Need {
		r.Want = r.Need
	}
	if r.Renew != "" {
		if err := l.Return(ctx, r.Renew, r.RenewUnused); err != nil {
			return Lease{}, err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for range maxAttempts {
		if err := ctx.Err(); err != nil {
			return Lease{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		now := l.now()
		idx, end, drop := window(r.Limit.Limit, now, r.Expires)
		key := ledgerKey(r.Session, r.Limit.ID, idx)
		e, rev, _, err := l.load(ctx, key)
		if err != nil {
			return Lease{}, err
		}
		if rev == 0 {
			e = entry{LimitID: r.Limit.ID, Block: r.Limit.Block, Limit: r.Limit.Limit, Window: idx, ResetsAt: end}
		}
		out := answer(e, idx, end, now)
		remaining := e.Limit.Max - e.Used
		if remaining < r.Need {
			return out, nil
		}
		grant := min(r.Want, remaining, max(r.Need, (remaining+1)/2))
		e.Used += grant
		e.Held += grant
		e.Leases++
		id := newLeaseID()
		ev, _ := json.Marshal(e)
		lv, _ := json.Marshal(lease{Ledger: key, Amount: grant})
		op := kv.Create(key, ev, drop)
		if rev != 0 {
			op = kv.Update(key, ev, rev, drop)
		}
		_, err = l.kv.Apply(ctx, op, kv.Create("x/"+id, lv, drop))
		if errors.Is(err, kv.ErrConflict) {
			continue
		}
		if err != nil {
			return Lease{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		out.ID, out.Amount, out.Used, out.Held = id, grant, e.Used, e.Held
		return out, nil
	}
	return Lease{}, fmt.Errorf("%w: the ledger kept changing under %d attempts; retry", ErrUnavailable, maxAttempts)
}

// peek answers a request that no window can satisfy with the ledger's
// state and no lease.
func (l *Ledger) peek(ctx context.Context, r Request) (Lease, error) {
	now := l.now()
	idx, end, _ := window(r.Limit.Limit, now, r.Expires)
	e, _, _, err := l.load(ctx, ledgerKey(r.Session, r.Limit.ID, idx))
	if err != nil {
		return Lease{}, err
	}
	return answer(e, idx, end, now), nil
}

// answer is a lease of nothing on ledger e in window idx, ending at end.
func answer(e entry, idx int64, end, now time.Time) Lease {
	out := Lease{Window: idx, ResetsAt: end, Used: e.Used, Held: e.Held}
	if !end.IsZero() {
		out.ResetsIn = end.Sub(now)
	}
	return out
}

// Return gives back unused of a lease's budget and records the rest as
// spent. Returning a lease that is unknown (already returned, or dropped
// with its window) does nothing, so a retried Return is harmless; unused
// is clamped to what the lease holds.
func (l *Ledger) Return(ctx context.Context, id string, unused int64) error {
	if id == "" || len(id) > MaxLeaseIDBytes || kv.CheckKey("x/"+id) != nil || strings.Contains(id, "/") {
		return fmt.Errorf("%w: malformed lease ID", ErrBadRequest)
	}
	if unused < 0 {
		return fmt.Errorf("%w: unused must not be negative", ErrBadRequest)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for range maxAttempts {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		le, err := l.kv.Get(ctx, "x/"+id)
		if errors.Is(err, kv.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		var ls lease
		if err := json.Unmarshal(le.Value, &ls); err != nil {
			return fmt.Errorf("%w: lease %s: %w", ErrUnavailable, id, kv.ErrCorrupt)
		}
		u := min(unused, ls.Amount)
		del := kv.Op{Key: "x/" + id, Delete: true, Match: kv.AtRev, Rev: le.Rev}
		e, rev, exp, err := l.load(ctx, ls.Ledger)
		if err != nil {
			return err
		}
		ops := []kv.Op{del}
		if rev != 0 {
			e.Used -= u
			e.Spent += ls.Amount - u
			e.Held -= ls.Amount
			e.Leases--
			ev, _ := json.Marshal(e)
			ops = append(ops, kv.Update(ls.Ledger, ev, rev, exp))
		}
		_, err = l.kv.Apply(ctx, ops...)
		if errors.Is(err, kv.ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return nil
	}
	return fmt.Errorf("%w: the ledger kept changing under %d attempts; retry", ErrUnavailable, maxAttempts)
}

// load reads a ledger entry, its revision (0 when there is none) and
// expiry.
func (l *Ledger) load(ctx context.Context, key string) (entry, uint64, time.Time, error) {
	var e entry
	got, err := l.kv.Get(ctx, key)
	if errors.Is(err, kv.ErrNotFound) {
		return e, 0, time.Time{}, nil
	}
	if err != nil {
		return e, 0, time.Time{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if err := json.Unmarshal(got.Value, &e); err != nil {
		return e, 0, time.Time{}, fmt.Errorf("%w: ledger %s: %w", ErrUnavailable, key, kv.ErrCorrupt)
	}
	return e, got.Rev, got.ExpiresAt, nil
}

// Session lists the ledgers of a session's limits (those whose windows
// ended under Retention ago included), by limit ID and window.
func (l *Ledger) Session(ctx context.Context, session string) ([]Usage, error) {
	now := l.now()
	var out []Usage
	var bad error
	err := l.kv.Scan(ctx, kv.ScanOptions{Prefix: ledgerPrefix(session)}, func(got kv.Entry) bool {
		var e entry
		if err := json.Unmarshal(got.Value, &e); err != nil {
			bad = fmt.Errorf("%w: ledger %s: %w", ErrUnavailable, got.Key, kv.ErrCorrupt)
			return false
		}
		idx, _, _ := window(e.Limit, now, time.Time{})
		e.Current = idx == e.Window
		out = append(out, e)
		return true
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		if !errors.Is(err, ErrUnavailable) {
			err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return nil, err
	}
	return out, nil
}

// Current returns the ledger of each given limit in its current window
// (zero usage for a limit nothing was leased from yet).
func (l *Ledger) Current(ctx context.Context, session string, limits []token.DeclaredLimit, expires time.Time) ([]Usage, error) {
	now := l.now()
	out := make([]Usage, 0, len(limits))
	for _, d := range limits {
		idx, end, _ := window(d.Limit, now, expires)
		e, _, _, err := l.load(ctx, ledgerKey(session, d.ID, idx))
		if err != nil {
			return nil, err
		}
		e.LimitID, e.Block, e.Limit, e.Window, e.ResetsAt, e.Current = d.ID, d.Block, d.Limit, idx, end, true
		out = append(out, e)
	}
	return out, nil
}

func newLeaseID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "le_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}
