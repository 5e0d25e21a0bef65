package authority

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"
)

// The group-commit writer.
//
// Every write of the authority (a minted token's record, a revocation) goes
// through one goroutine. It takes the first queued write, adds whatever
// else is already queued (up to MaxBatch), commits them all in ONE storage
// transaction with ONE fsync, publishes new revocations to the in-memory
// log, and only then releases the callers: an HTTP response is sent only
// once its write is durable. Under load, batches grow by themselves, so the
// cost of an fsync is shared by every request that arrived while the
// previous one ran: mint throughput is bounded by CPU, not by the disk,
// and nothing acknowledged is lost in a crash (a token's record included,
// so revoking its session after a restart still revokes it).
//
// One writer also gives the in-memory log its order: entries are published
// in sequence order, so a follower reading "after N" can never skip an
// entry that commits later with a smaller sequence number.

// writeOp is one caller's write.
type writeOp struct {
	mint *MintOp
	revs []RevokeOp
	sel  *selector // resolved by the writer; committed alone
	done chan struct{}
	err  error
}

// selector revokes every token matching an index value, resolved inside
// the writer so that no write interleaves between finding the tokens and
// revoking them.
type selector struct {
	by    TokenIndex
	value string
	// clientID restricts the tokens to those a client minted; empty for
	// the admin (every token).
	clientID string
	// markSession also marks the session revoked (by == BySession), so
	// that no token can be minted into it afterwards.
	markSession bool
	tokens      int // output: tokens matched
}

// submit queues op and waits until it is committed or ctx ends. A write
// whose caller went away may still commit; every write is idempotent or
// harmless when its response is lost.
func (a *Authority) submit(ctx context.Context, op *writeOp) error {
	op.done = make(chan struct{})
	a.sendMu.RLock()
	if a.queueClosed {
		a.sendMu.RUnlock()
		return ErrClosed
	}
	select {
	case a.queue <- op:
		a.sendMu.RUnlock()
	case <-ctx.Done():
		a.sendMu.RUnlock()
		return ctx.Err()
	}
	select {
	case <-op.done:
		return op.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *Authority) writer() {
	defer a.writerWG.Done()
	batch := make([]*writeOp, 0, MaxBatch)
	for op := range a.queue {
		if op.sel != nil {
			a.commitSelector(op)
			continue
		}
		batch = append(batch[:0], op)
		var next *writeOp
	drain:
		for len(batch) < MaxBatch {
			select {
			case o, ok := <-a.queue:
				if !ok {
					break drain
				}
				if o.sel != nil {
					next = o
					break drain
				}
				batch = append(batch, o)
			default:
				break drain
			}
		}
		a.commit(batch)
		clear(batch)
		if next != nil {
			a.commitSelector(next)
		}
	}
}

// commit applies a batch of plain writes in one transaction.
func (a *Authority) commit(ops []*writeOp) {
	b := &Batch{Now: a.now()}
	for _, op := range ops {
		if op.mint != nil {
			b.Mints = append(b.Mints, *op.mint)
		}
		b.Revocations = append(b.Revocations, op.revs...)
	}
	err := a.apply(b)
	mi, ri := 0, 0
	for _, op := range ops {
		switch {
		case err != nil:
			op.err = err
		default:
			if op.mint != nil {
				*op.mint = b.Mints[mi]
				mi++
			}
			n := copy(op.revs, b.Revocations[ri:ri+len(op.revs)])
			ri += n
		}
		close(op.done)
	}
}

// commitSelector resolves a selector and revokes what it matches, in
// chunks of MaxBatch revocations (a session is marked revoked in the first
// chunk).
func (a *Authority) commitSelector(op *writeOp) {
	defer close(op.done)
	sel := op.sel
	ctx := context.Background()
	now := a.now()
	var revs []RevokeOp
	err := a.store.Tokens(ctx, sel.by, sel.value, func(t TokenRecord) bool {
		if sel.clientID != "" && t.ClientID != sel.clientID {
			return true
		}
		sel.tokens++
		if expired(t.ExpiresAt, now) {
			return true // nothing left to revoke
		}
		revs = append(revs, RevokeOp{ID: t.RevocationID, ExpiresAt: t.ExpiresAt, Session: t.Session})
		return true
	})
	if err != nil {
		op.err = fmt.Errorf("%w: storage: %w", ErrUnavailable, err)
		return
	}
	if sel.markSession {
		b := &Batch{Now: now, SessionRevocations: []SessionRevokeOp{{Session: sel.value}}}
		n := min(len(revs), MaxBatch)
		b.Revocations = revs[:n]
		if err := a.apply(b); err != nil {
			op.err = err
			return
		}
		if err := b.SessionRevocations[0].Err; err != nil {
			op.err = err
			return
		}
		op.revs = append(op.revs, b.Revocations...)
		revs = revs[n:]
	}
	for len(revs) > 0 {
		n := min(len(revs), MaxBatch)
		b := &Batch{Now: now, Revocations: revs[:n]}
		if err := a.apply(b); err != nil {
			op.err = err
			return
		}
		op.revs = append(op.revs, b.Revocations...)
		revs = revs[n:]
	}
}

// apply commits a batch and publishes its new revocations.
func (a *Authority) apply(b *Batch) error {
	if err := a.store.Apply(context.Background(), b); err != nil {
		a.log.Error().Err(err).Msg("storage write failed")
		// The outcome of a failed commit can be ambiguous: re-read the
		// log's tail so that the in-memory copy misses nothing that did
		// reach the disk.
		a.resync()
		return fmt.Errorf("%w: storage write failed: %w", ErrUnavailable, err)
	}
	a.stats.Batches.Add(1)
	if a.replicated {
		// Other replicas may have appended entries before this
		// batch's: read the tail in order, this batch's included.
		a.resync()
		return nil
	}
	var created []LogEntry
	for _, r := range b.Revocations {
		if r.Created {
			created = append(created, r.Entry)
		}
	}
	a.publish(created)
	return nil
}

// publish appends committed entries (in sequence order) to the in-memory
// log and wakes the feed's waiters.
func (a *Authority) publish(entries []LogEntry) {
	if len(entries) == 0 {
		return
	}
	a.logMu.Lock()
	added := 0
	for _, e := range entries {
		if e.Seq <= a.lastSeq {
			continue // already published (resync)
		}
		// The store chained the entry to the head we serve; check it
		// before anyone is told about it.
		head := &LogEntry{Seq: a.lastSeq, Hash: a.head}
		if err := checkLink(head, &e, e.Seq); err != nil {
			a.logMu.Unlock()
			a.markCorrupt(err)
			return
		}
		e.ID = bytes.Clone(e.ID)
		ep := &e
		a.entries = append(a.entries, ep)
		a.byID[string(e.ID)] = ep
		a.lastSeq, a.head = e.Seq, e.Hash
		added++
	}
	if added > 0 {
		close(a.changed)
		a.changed = make(chan struct{})
	}
	a.logMu.Unlock()
	a.stats.Revocations.Add(uint64(added))
}

func (a *Authority) resync() {
	a.logMu.RLock()
	after := a.lastSeq
	a.logMu.RUnlock()
	var tail []LogEntry
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := a.store.Revocations(ctx, after, func(e LogEntry) bool {
		tail = append(tail, e)
		return true
	})
	if err != nil && !errors.Is(err, ErrClosed) {
		a.log.Error().Err(err).Msg("re-reading the revocation log failed")
	}
	a.publish(tail)
}
