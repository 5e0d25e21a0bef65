package approvals

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mandate-dev/mandate/authority/kv"
)

// The room's keys in its kv namespace. Session names may hold any
// character, so they are hex in keys (no session's prefix is another's).
//
//	r/ID                  the request, as JSON (kept until Retain after it and its approval expired)
//	s/HEX(SESSION)/ID     the session's requests
//	l/REVOCATION-ID/ID    requests whose asking token holds that block
//	p/ID                  pending requests (dropped on decision, revocation or expiry)
//	q/HEX(SESSION)/N      pending slot N of a session (0 ≤ N < MaxPendingPerSession),
//	                      created atomically with its request: the cap holds under races
func keyReq(id string) string        { return "r/" + id }
func prefixSession(s string) string  { return "s/" + hex.EncodeToString([]byte(s)) + "/" }
func prefixLineage(id string) string { return "l/" + id + "/" }
func keyPending(id string) string    { return "p/" + id }
func prefixSlot(s string) string     { return "q/" + hex.EncodeToString([]byte(s)) + "/" }

func (r *Room) retainUntil(q *Request) time.Time {
	t := q.ExpiresAt
	if q.ApprovalExpiresAt.After(t) {
		t = q.ApprovalExpiresAt
	}
	return t.Add(r.cfg.Retain)
}

func storageErr(err error) error {
	if errIs(err, ErrNotFound, ErrBadRequest, ErrForbidden, ErrExpired, ErrDecided, ErrRevoked, ErrNotApproved, ErrUsedUp, ErrTooMany, ErrUnavailable) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return fmt.Errorf("%w: storage: %w", ErrUnavailable, err)
}

// create stores a new pending request in a free slot of its session, with
// its indexes, in one atomic batch.
func (r *Room) create(ctx context.Context, q *Request) error {
	val, err := json.Marshal(q)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if len(val) > kv.MaxValueLen {
		return fmt.Errorf("%w: the request is %d bytes stored, at most %d; send fewer or smaller arguments", ErrBadRequest, len(val), kv.MaxValueLen)
	}
	for range maxCASRetries {
		used := map[int]bool{}
		if err := r.cfg.KV.Scan(ctx, kv.ScanOptions{Prefix: prefixSlot(q.Session), KeysOnly: true}, func(e kv.Entry) bool {
			n, err := strconv.Atoi(strings.TrimPrefix(e.Key, prefixSlot(q.Session)))
			if err == nil {
				used[n] = true
			}
			return true
		}); err != nil {
			return storageErr(err)
		}
		slot := -1
		for n := range r.cfg.MaxPendingPerSession {
			if !used[n] {
				slot = n
				break
			}
		}
		if slot < 0 {
			return fmt.Errorf("%w: session %q has %d pending approval requests, the most it may have; wait for a decision (or for one to expire) before asking again", ErrTooMany, clip(q.Session), r.cfg.MaxPendingPerSession)
		}
		q.Slot = slot
		if val, err = json.Marshal(q); err != nil {
			return fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
		keep := r.retainUntil(q)
		ops := []kv.Op{
			kv.Create(prefixSlot(q.Session)+strconv.Itoa(slot), []byte(q.ID), q.ExpiresAt),
			kv.Create(keyReq(q.ID), val, keep),
			kv.Put(prefixSession(q.Session)+q.ID, nil, keep),
			kv.Put(keyPending(q.ID), nil, q.ExpiresAt),
		}
		for _, h := range q.Chain {
			ops = append(ops, kv.Put(prefixLineage(h.RevocationID)+q.ID, nil, keep))
		}
		_, err := r.cfg.KV.Apply(ctx, ops...)
		if errors.Is(err, kv.ErrConflict) {
			continue // another request took the slot
		}
		if err != nil {
			return storageErr(err)
		}
		return nil
	}
	return fmt.Errorf("%w: the session's pending slots stayed contended; retry", ErrUnavailable)
}

// get reads a request and its revision.
func (r *Room) get(ctx context.Context, id string) (Request, uint64, error) {
	if id == "" || len(id) > 64 || kv.CheckKey(keyReq(id)) != nil {
		return Request{}, 0, fmt.Errorf("%w: %q", ErrNotFound, clip(id))
	}
	e, err := r.cfg.KV.Get(ctx, keyReq(id))
	if errors.Is(err, kv.ErrNotFound) {
		return Request{}, 0, fmt.Errorf("%w: %q", ErrNotFound, clip(id))
	}
	if err != nil {
		return Request{}, 0, storageErr(err)
	}
	q, err := decode(e)
	return q, e.Rev, err
}

// update changes a request with compare-and-set: fn edits it (or refuses
// with an error) and returns extra operations for the same batch. The
// batch is durable when update returns nil.
func (r *Room) update(ctx context.Context, id string, fn func(q *Request) ([]kv.Op, error)) (Request, error) {
	for range maxCASRetries {
		q, rev, err := r.get(ctx, id)
		if err != nil {
			return Request{}, err
		}
		extra, err := fn(&q)
		if err != nil {
			return q, err
		}
		val, err := json.Marshal(&q)
		if err != nil {
			return Request{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		ops := append([]kv.Op{kv.Update(keyReq(id), val, rev, r.retainUntil(&q))}, extra...)
		_, err = r.cfg.KV.Apply(ctx, ops...)
		if errors.Is(err, kv.ErrConflict) {
			continue
		}
		if err != nil {
			return Request{}, storageErr(err)
		}
		r.notify()
		return q, nil
	}
	return Request{}, fmt.Errorf("%w: approval request %s stayed contended; retry", ErrUnavailable, id)
}

// closePending are the operations that free a pending request's slot and
// index (a no-op when they are gone).
func closePending(q *Request) []kv.Op {
	return []kv.Op{kv.Delete(keyPending(q.ID)), kv.Delete(prefixSlot(q.Session) + strconv.Itoa(q.Slot))}
}

// idsUnder lists the request IDs indexed under prefix (at most limit).
func (r *Room) idsUnder(ctx context.Context, prefix string, limit int) ([]string, error) {
	var ids []string
	err := r.cfg.KV.Scan(ctx, kv.ScanOptions{Prefix: prefix, KeysOnly: true}, func(e kv.Entry) bool {
		id := strings.TrimPrefix(e.Key, prefix)
		if i := strings.LastIndexByte(id, '/'); i >= 0 {
			id = id[i+1:]
		}
		ids = append(ids, id)
		return len(ids) < limit
	})
	if err != nil {
		return nil, storageErr(err)
	}
	return ids, nil
}
