package authority

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mandate-dev/mandate/token"
)

// RevokeResult is the outcome of a revocation. Revocations are idempotent:
// an ID already revoked yields its existing entry and no new one.
type RevokeResult struct {
	// Entries are the log entries of the revoked IDs, new or existing (at
	// most MaxListed of them).
	Entries []LogEntry
	// Total is the number of IDs revoked by the call, new or existing.
	Total int
	// Created is how many of them are new log entries.
	Created int
	// Expired is set when the token given to RevokeToken had already
	// expired: nothing needed revoking.
	Expired bool
}

// RevokeToken revokes the last block of tok: the token and every token
// attenuated from it, never the blocks above (the token it was attenuated
// from keeps working). Holding the token is the only credential needed.
// The token must verify against one of the authority's keys (active or
// retiring); otherwise the error wraps ErrInvalidToken and nothing is
// revoked.
func (a *Authority) RevokeToken(ctx context.Context, tok string) (*RevokeResult, error) {
	now := a.now()
	vt, err := a.verify(tok, now)
	if err != nil {
		return nil, err
	}
	ids := vt.RevocationIDs()
	last := ids[len(ids)-1]
	// The latest expiry of any token this ID can match: every such token
	// descends from the same authority block, so its trusted expiry bounds
	// them all. An attenuation block's stated expiry is never used: the
	// holder wrote it, and may satisfy it with its own time fact.
	exp, _, err := a.trustedExpiry(ctx, vt)
	if err != nil {
		return nil, err
	}
	if exp.IsZero() {
		// Every token this authority signs carries an expiry; one
		// without is treated as living the longest any token can.
		exp = now.Add(UnknownIDTTL)
	}
	if expired(exp, now) {
		return &RevokeResult{Expired: true}, nil
	}
	op := &writeOp{revs: []RevokeOp{{ID: last, ExpiresAt: exp, Session: vt.Subject().Session}}}
	if err := a.submit(ctx, op); err != nil {
		return nil, err
	}
	a.revokeApprovals(ctx, "anyone holding the token", "", op.revs)
	res := result(op.revs)
	a.auditRevocation(ctx, "anyone holding the token", "token", fmt.Sprintf("block %d of %d", len(ids)-1, len(ids)), res)
	return res, nil
}

// trustedExpiry is the expiry of vt that the authority may keep state by:
// the later of what it recorded at mint and what the authority block says
// (both are the authority's own words; keeping a revocation longer is never
// unsafe). Zero when neither states one. rec is the mint record, nil when
// the authority has none (a token minted offline with its key).
func (a *Authority) trustedExpiry(ctx context.Context, vt *token.Verified) (exp time.Time, rec *TokenRecord, err error) {
	exp = vt.ExpiresAt()
	r, err := a.store.Token(ctx, vt.RevocationIDs()[0])
	switch {
	case err == nil:
		if r.ExpiresAt.After(exp) {
			exp = r.ExpiresAt
		}
		return exp, &r, nil
	case !errors.Is(err, ErrNotFound):
		return time.Time{}, nil, fmt.Errorf("%w: storage: %w", ErrUnavailable, err)
	}
	return exp, nil, nil
}

// expired reports whether a token expiring at exp is dead at now. Biscuit
// expiry checks are inclusive and to the second: a token is valid during
// the whole second exp.
func expired(exp, now time.Time) bool { return !now.Before(exp.Add(time.Second)) }

// verify parses and verifies a token against the authority's own keys.
func (a *Authority) verify(tok string, now time.Time) (*token.Verified, error) {
	u, err := token.ParseString(tok)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	vt, err := u.Verify(a.KeySet(), now)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return vt, nil
}

// RevokeID revokes one revocation ID. The admin may revoke any ID (an ID
// this authority did not mint is kept for UnknownIDTTL, the longest any
// token lives); a client only the authority-block IDs of tokens it minted.
// To revoke an attenuation block, revoke the token that ends with it
// (RevokeToken).
func (a *Authority) RevokeID(ctx context.Context, p Principal, id []byte) (*RevokeResult, error) {
	if len(id) == 0 || len(id) > MaxRevocationIDBytes {
		return nil, fmt.Errorf("%w: a revocation ID is 1 to %d bytes (128 hex characters for Ed25519 blocks)", ErrBadRequest, MaxRevocationIDBytes)
	}
	now := a.now()
	rev := RevokeOp{ID: id}
	rec, err := a.store.Token(ctx, id)
	switch {
	case err == nil:
		if !p.owns(rec.ClientID) {
			return nil, fmt.Errorf("%w: revocation ID %.16s… belongs to a token another client minted", ErrForbidden, hex.EncodeToString(id))
		}
		rev.ExpiresAt, rev.Session = rec.ExpiresAt, rec.Session
		if expired(rec.ExpiresAt, now) {
			return &RevokeResult{Expired: true}, nil
		}
	case errors.Is(err, ErrNotFound):
		if e, ok := a.lookup(id); ok {
			// Already revoked (by token, or by the admin): say so.
			// Revocation IDs are public; this discloses nothing.
			return &RevokeResult{Entries: []LogEntry{e}, Total: 1}, nil
		}
		if !p.Admin {
			return nil, fmt.Errorf("%w: revocation ID %.16s… is not the authority block of a live token you minted; to revoke an attenuated token, send the token itself", ErrNotFound, hex.EncodeToString(id))
		}
		rev.ExpiresAt = now.Add(UnknownIDTTL).UTC().Truncate(time.Second)
	default:
		return nil, fmt.Errorf("%w: storage: %w", ErrUnavailable, err)
	}
	op := &writeOp{revs: []RevokeOp{rev}}
	if err := a.submit(ctx, op); err != nil {
		return nil, err
	}
	a.revokeApprovals(ctx, p.String(), "", op.revs)
	res := result(op.revs)
	a.auditRevocation(ctx, p.String(), "revocation_id", hex.EncodeToString(id), res)
	return res, nil
}

// RevokeSession revokes every token of a session (their authority blocks,
// so every attenuation too) and marks the session revoked: no token can be
// minted into it afterwards. The admin or the session's client only; a
// client names its own sessions (Principal.SessionID).
func (a *Authority) RevokeSession(ctx context.Context, p Principal, session string) (*RevokeResult, error) {
	if session == "" {
		return nil, fmt.Errorf("%w: session is empty", ErrBadRequest)
	}
	session = p.SessionID(session)
	sess, err := a.store.Session(ctx, session)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("session %q: %w", clip(session), ErrNotFound)
		}
		return nil, fmt.Errorf("%w: storage: %w", ErrUnavailable, err)
	}
	if !p.owns(sess.ClientID) {
		return nil, fmt.Errorf("%w: session %q belongs to another client", ErrForbidden, clip(session))
	}
	sel := &selector{by: BySession, value: session, markSession: true}
	res, err := a.revokeSelected(ctx, sel)
	if err != nil {
		return nil, err
	}
	a.auditRevocation(ctx, p.String(), "session", session, res)
	return res, nil
}

// RevokeAgent revokes every live token minted for an agent: all of them for
// the admin, those the client minted for a client. Tokens minted later are
// not affected. ErrNotFound when there is no such token.
func (a *Authority) RevokeAgent(ctx context.Context, p Principal, agent string) (*RevokeResult, error) {
	return a.revokeBy(ctx, p, ByAgent, agent)
}

// RevokeUser revokes every live token minted for a user, like RevokeAgent.
func (a *Authority) RevokeUser(ctx context.Context, p Principal, user string) (*RevokeResult, error) {
	return a.revokeBy(ctx, p, ByUser, user)
}

func (a *Authority) revokeBy(ctx context.Context, p Principal, by TokenIndex, value string) (*RevokeResult, error) {
	if value == "" {
		return nil, fmt.Errorf("%w: %s is empty", ErrBadRequest, by)
	}
	if !p.Admin && !p.isClient() {
		return nil, fmt.Errorf("%w: %s may not revoke by %s: the admin or the minting client does", ErrForbidden, p, by)
	}
	sel := &selector{by: by, value: value}
	if !p.Admin {
		sel.clientID = p.ClientID
	}
	res, err := a.revokeSelected(ctx, sel)
	if err != nil {
		return nil, err
	}
	if sel.tokens == 0 {
		who := "this authority"
		if !p.Admin {
			who = "you"
		}
		return nil, fmt.Errorf("%w: no token minted by %s for %s %q", ErrNotFound, who, by, clip(value))
	}
	a.auditRevocation(ctx, p.String(), by.String(), value, res)
	return res, nil
}

func (a *Authority) revokeSelected(ctx context.Context, sel *selector) (*RevokeResult, error) {
	op := &writeOp{sel: sel}
	if err := a.submit(ctx, op); err != nil {
		return nil, err
	}
	session := ""
	if sel.markSession {
		session = sel.value
	}
	a.revokeApprovals(ctx, "the revocation of "+sel.by.String()+" "+clip(sel.value), session, op.revs)
	return result(op.revs), nil
}

func result(revs []RevokeOp) *RevokeResult {
	res := &RevokeResult{Total: len(revs), Entries: make([]LogEntry, 0, min(len(revs), MaxListed))}
	for _, r := range revs {
		if r.Created {
			res.Created++
		}
		if len(res.Entries) < MaxListed {
			res.Entries = append(res.Entries, r.Entry)
		}
	}
	return res
}

func (a *Authority) auditRevocation(ctx context.Context, by, kind, target string, res *RevokeResult) {
	ids := make([]string, 0, min(len(res.Entries), 16))
	for _, e := range res.Entries[:min(len(res.Entries), 16)] {
		ids = append(ids, hex.EncodeToString(e.ID))
	}
	ev := a.audit(ctx, "revocation").Str("by", by).Str("kind", kind).Int("total", res.Total).Int("created", res.Created).Strs("revocation_ids", ids)
	if kind != "token" {
		ev = ev.Str(kind, target)
	} else {
		ev = ev.Str("block", target)
	}
	if len(res.Entries) > 0 {
		ev = ev.Uint64("seq", res.Entries[len(res.Entries)-1].Seq)
	}
	ev.Msg("revoked")
}

// lookup returns the in-memory log entry of an ID.
func (a *Authority) lookup(id []byte) (LogEntry, bool) {
	a.logMu.RLock()
	defer a.logMu.RUnlock()
	e, ok := a.byID[string(id)]
	if !ok {
		return LogEntry{}, false
	}
	c := *e
	c.ID = bytes.Clone(e.ID)
	return c, true
}

// Revoked returns the index of the first revoked ID in ids, or -1.
func (a *Authority) Revoked(ids [][]byte) int {
	a.logMu.RLock()
	defer a.logMu.RUnlock()
	for i, id := range ids {
		if _, ok := a.byID[string(id)]; ok {
			return i
		}
	}
	return -1
}

// Feed is one page of the revocation log, signed.
type Feed struct {
	Entries []LogEntry
	// Next is the sequence number to pass as "after" next time: the last
	// entry's, or after itself when there is none.
	Next uint64
	// HeadSeq and HeadHash are the log's last sequence number and chain
	// hash when the page was taken.
	HeadSeq  uint64
	HeadHash []byte
	// KeyID is the root key that signed the page, and Signature its
	// Ed25519 signature over token.FeedPage{After, Next, HeadSeq,
	// HeadHash, Entries (Seq, Hash)}.SigningBytes().
	KeyID     uint32
	Signature []byte
}

// RevocationsAfter returns the log entries with a sequence number above
// after, at most MaxFeedPage of them. When there are none and wait > 0, it
// waits (up to wait, capped at Config.MaxWait) until one is appended, ctx
// ends (a client that disconnects), or the authority shuts down; it then
// returns what it has, possibly nothing. Waiting costs no CPU: every append
// closes a broadcast channel that waiters select on.
//
// An after beyond the last sequence number this authority ever issued
// wraps ErrFeedAhead: the follower's state comes from another log (a reset
// data folder, another authority); it must start over from 0.
//
// The page is signed with the active root key (Feed.Signature); a log that
// failed its integrity check while serving is refused (ErrCorrupt).
func (a *Authority) RevocationsAfter(ctx context.Context, after uint64, wait time.Duration) (Feed, error) {
	return a.RevocationsAfterNonce(ctx, after, wait, nil)
}

// RevocationsAfterNonce is RevocationsAfter for a follower that sent a
// nonce: the page's signature covers it too (token.FeedPage.Nonce), so the
// answer proves it was made for this request. A nonce over
// token.MaxFeedNonce bytes wraps ErrBadRequest.
func (a *Authority) RevocationsAfterNonce(ctx context.Context, after uint64, wait time.Duration, nonce []byte) (Feed, error) {
	if len(nonce) > token.MaxFeedNonce {
		return Feed{Next: after}, fmt.Errorf("%w: nonce is %d bytes, at most %d", ErrBadRequest, len(nonce), token.MaxFeedNonce)
	}
	wait = min(wait, a.cfg.MaxWait)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	waiting := false
	defer func() {
		if waiting {
			a.stats.FeedFollowers.Add(-1)
		}
	}()
	for {
		a.logMu.RLock()
		if after > a.lastSeq {
			last := a.lastSeq
			a.logMu.RUnlock()
			return Feed{Next: after}, fmt.Errorf("%w: after=%d but the last sequence number is %d; reset the follower's state and follow from 0", ErrFeedAhead, after, last)
		}
		feed := a.pageLocked(after)
		ch := a.changed
		a.logMu.RUnlock()
		if err := a.Corrupt(); err != nil {
			return Feed{Next: after}, fmt.Errorf("%w; the feed is refused", err)
		}
		if len(feed.Entries) > 0 || wait <= 0 {
			return a.signFeed(after, feed, nonce), nil
		}
		if timer == nil {
			timer = time.NewTimer(wait)
			waiting = true
			a.stats.FeedFollowers.Add(1)
		}
		select {
		case <-ch:
		case <-timer.C:
			return a.signFeed(after, feed, nonce), nil
		case <-ctx.Done():
			return feed, ctx.Err()
		case <-a.stopping:
			return a.signFeed(after, feed, nonce), nil
		}
	}
}

func (a *Authority) pageLocked(after uint64) Feed {
	i, _ := slices.BinarySearchFunc(a.entries, after+1, func(e *LogEntry, seq uint64) int {
		switch {
		case e.Seq < seq:
			return -1
		case e.Seq > seq:
			return 1
		}
		return 0
	})
	page := a.entries[i:min(len(a.entries), i+MaxFeedPage)]
	f := Feed{Entries: make([]LogEntry, len(page)), Next: after}
	for j, e := range page {
		f.Entries[j] = *e
		f.Entries[j].ID = bytes.Clone(e.ID)
	}
	if len(page) > 0 {
		f.Next = page[len(page)-1].Seq
	}
	f.HeadSeq, f.HeadHash = a.lastSeq, bytes.Clone(a.head)
	return f
}

// signFeed signs a page with the active root key. Signatures of recent
// pages without a nonce are cached: every follower at the same position
// gets the same page.
func (a *Authority) signFeed(after uint64, f Feed, nonce []byte) Feed {
	p := token.FeedPage{After: after, Next: f.Next, HeadSeq: f.HeadSeq, HeadHash: f.HeadHash, Entries: make([]token.FeedPageEntry, len(f.Entries)), Nonce: nonce}
	for i, e := range f.Entries {
		p.Entries[i] = token.FeedPageEntry{Seq: e.Seq, Hash: e.Hash}
	}
	key := a.keys.current().active
	msg := p.SigningBytes()
	if len(nonce) > 0 {
		f.KeyID, f.Signature = key.ID, ed25519.Sign(key.Private, msg)
		return f
	}
	id := sha256.Sum256(binary.BigEndian.AppendUint32(msg, key.ID))
	a.feedSigMu.Lock()
	sig, ok := a.feedSigs[id]
	a.feedSigMu.Unlock()
	if !ok {
		sig = ed25519.Sign(key.Private, msg)
		a.feedSigMu.Lock()
		if len(a.feedSigs) >= FeedSignatureCache {
			clear(a.feedSigs)
		}
		a.feedSigs[id] = sig
		a.feedSigMu.Unlock()
	}
	f.KeyID, f.Signature = key.ID, sig
	return f
}

// LastSeq returns the highest sequence number of the revocation log.
func (a *Authority) LastSeq() uint64 {
	a.logMu.RLock()
	defer a.logMu.RUnlock()
	return a.lastSeq
}
