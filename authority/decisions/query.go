package decisions

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mandate-dev/mandate/authority/kv"
)

// Scope is what a reader may see of the log: the authorization hook of
// every read (Query, Subscribe, Export). The authority builds it from the
// request's credentials: the admin sees All; a console account will see the
// orgs its roles name. The zero Scope sees nothing.
type Scope struct {
	// All sees every decision (the admin).
	All bool
	// Orgs are the orgs whose decisions the reader sees when not All.
	Orgs []string
}

// allows reports whether s covers a decision of org.
func (s Scope) allows(org string) bool { return s.All || slices.Contains(s.Orgs, org) }

// Filter selects decisions. Empty fields select everything.
type Filter struct {
	Session string
	Agent   string
	Org     string
	// After and Before bound the decision time (exclusive); zero: open.
	After, Before time.Time
	// Allowed, when set, selects allowed (true) or denied (false)
	// decisions.
	Allowed *bool
}

func (f *Filter) match(d *Decision, sc Scope) bool {
	return (f.Session == "" || d.Session == f.Session) &&
		(f.Agent == "" || d.Agent == f.Agent) &&
		(f.Org == "" || d.Org == f.Org) &&
		(f.Allowed == nil || d.Allowed == *f.Allowed) &&
		(f.After.IsZero() || d.Time.After(f.After)) &&
		(f.Before.IsZero() || d.Time.Before(f.Before)) &&
		sc.allows(d.Org)
}

// Query is one page request: newest decision first.
type Query struct {
	Filter
	// Limit is the page size (default DefaultLimit, at most MaxLimit).
	Limit int
	// Cursor continues from the page that returned it as Next.
	Cursor string
}

// Page is a page of decisions, newest first. Next is set when there may be
// more: pass it as Query.Cursor. A page can hold fewer than Limit
// decisions and still have a Next when filters skip many (the work of one
// page is bounded).
type Page struct {
	Decisions []Decision `json:"decisions"`
	Next      string     `json:"next,omitempty"`
}

// Query returns a page of the decisions f selects that scope covers, newest
// first (by the verifier's decision time). It reads the most selective
// index: session, then agent, then org, then time.
func (l *Log) Query(ctx context.Context, q Query, scope Scope) (Page, error) {
	if err := l.usable(); err != nil {
		return Page{}, err
	}
	if err := scopeCheck(&q.Filter, scope); err != nil {
		return Page{}, err
	}
	switch {
	case q.Limit == 0:
		q.Limit = DefaultLimit
	case q.Limit < 0 || q.Limit > MaxLimit:
		return Page{}, fmt.Errorf("%w: limit %d: use 1 to %d", ErrInvalid, q.Limit, MaxLimit)
	}
	if !q.After.IsZero() && !q.Before.IsZero() && !q.After.Before(q.Before) {
		return Page{}, fmt.Errorf("%w: after must be earlier than before", ErrInvalid)
	}
	prefix := indexPrefix(&q.Filter)
	start := prefix + "~" // after every "TIME/SEQ" (hex digits sort below '~')
	if !q.Before.IsZero() {
		start = prefix + fmt.Sprintf("%016x", uint64(max(q.Before.UnixNano(), 0)))
	}
	skipFirst := false
	if q.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil || len(q.Cursor) > maxCursor || !strings.HasPrefix(string(raw), prefix) || len(raw) != len(prefix)+33 {
			return Page{}, fmt.Errorf("%w: the cursor does not continue this query; pass the \"next\" of the previous page with the same filters", ErrInvalid)
		}
		if string(raw) < start {
			start = string(raw)
		}
		skipFirst = true
	}
	var page Page
	page.Decisions = make([]Decision, 0, min(q.Limit, 64))
	scanned, budget := 0, q.Limit*maxScanFactor
	var last string
	var ferr error
	err := l.kv.Scan(ctx, kv.ScanOptions{Prefix: prefix, Start: start, Reverse: true}, func(e kv.Entry) bool {
		if skipFirst && e.Key == start {
			return true
		}
		tk := e.Key[len(prefix):]
		if len(tk) != 33 || tk[16] != '/' {
			ferr = fmt.Errorf("%w: stray index key %q", ErrCorrupt, e.Key)
			return false
		}
		if !q.After.IsZero() {
			ns, _ := strconv.ParseUint(tk[:16], 16, 64)
			if int64(ns) <= q.After.UnixNano() {
				last = ""
				return false
			}
		}
		if scanned == budget || len(page.Decisions) == q.Limit {
			return false
		}
		scanned++
		last = e.Key
		if q.Allowed != nil && len(e.Value) == 1 && (e.Value[0] == '1') != *q.Allowed {
			return true
		}
		seq, _ := strconv.ParseUint(tk[17:], 16, 64)
		d, err := l.get(ctx, seq)
		switch {
		case errors.Is(err, kv.ErrNotFound):
			return true // expired between the index and the entry
		case err != nil:
			ferr = err
			return false
		}
		if q.match(&d, scope) {
			page.Decisions = append(page.Decisions, d)
		}
		return true
	})
	if err == nil {
		err = ferr
	}
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			l.markCorrupt(err)
		}
		return Page{}, err
	}
	if last != "" && (scanned == budget || len(page.Decisions) == q.Limit) {
		page.Next = base64.RawURLEncoding.EncodeToString([]byte(last))
	}
	return page, nil
}

// scopeCheck refuses a query for an org outside the scope, and narrows an
// unscoped query of a single-org reader to that org.
func scopeCheck(f *Filter, sc Scope) error {
	switch {
	case sc.All:
		return nil
	case len(sc.Orgs) == 0:
		return fmt.Errorf("%w: these credentials may not read the decision log", ErrForbidden)
	case f.Org != "" && !sc.allows(f.Org):
		return fmt.Errorf("%w: org %.64q is outside what these credentials may read", ErrForbidden, f.Org)
	case f.Org == "" && len(sc.Orgs) == 1:
		f.Org = sc.Orgs[0]
	}
	return nil
}

// indexPrefix picks the most selective index for f.
func indexPrefix(f *Filter) string {
	switch {
	case f.Session != "":
		return pSession + indexValue(f.Session) + "/"
	case f.Agent != "":
		return pAgent + indexValue(f.Agent) + "/"
	case f.Org != "":
		return pOrg + indexValue(f.Org) + "/"
	}
	return pTime
}

// get reads and checks one stored decision.
func (l *Log) get(ctx context.Context, seq uint64) (Decision, error) {
	e, err := l.kv.Get(ctx, seqKey(pEntry, seq))
	if err != nil {
		return Decision{}, err
	}
	_, _, _, rec, err := decodeEntry(e)
	if err != nil {
		return Decision{}, err
	}
	return parseRecord(seq, rec)
}

func parseRecord(seq uint64, rec []byte) (Decision, error) {
	var s stored
	if err := json.Unmarshal(rec, &s); err != nil {
		return Decision{}, fmt.Errorf("%w: decision %d is unreadable: %v", ErrCorrupt, seq, err)
	}
	return Decision{Seq: seq, ReceivedAt: s.ReceivedAt, Verifier: s.Verifier, DecisionRecord: s.Decision}, nil
}

// Since returns up to limit decisions with a sequence number after seq that
// f selects and scope covers, oldest first: what a live stream missed
// while it reconnected.
func (l *Log) Since(ctx context.Context, seq uint64, f Filter, scope Scope, limit int) ([]Decision, error) {
	if err := l.usable(); err != nil {
		return nil, err
	}
	if err := scopeCheck(&f, scope); err != nil {
		return nil, err
	}
	var out []Decision
	var ferr error
	scanned := 0
	err := l.kv.Scan(ctx, kv.ScanOptions{Prefix: pEntry, Start: seqKey(pEntry, seq+1)}, func(e kv.Entry) bool {
		s, _, _, rec, err := decodeEntry(e)
		if err == nil {
			var d Decision
			if d, err = parseRecord(s, rec); err == nil && f.match(&d, scope) {
				out = append(out, d)
			}
		}
		ferr = err
		scanned++
		return err == nil && len(out) < limit && scanned < limit*maxScanFactor
	})
	if err == nil {
		err = ferr
	}
	if errors.Is(err, ErrCorrupt) {
		l.markCorrupt(err)
	}
	return out, err
}
