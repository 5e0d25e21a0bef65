package console

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/web"
)

// sessionsView is the sessions page's data.
type sessionsView struct {
	Sessions          []authority.SessionSummary
	Query, Status     string
	Org               string
	Next              string // the "after" of the next page
	Statuses          []string
	FirstPage         bool
	SessionURL, Reset string
}

func encodeCursor(c authority.SessionCursor) string {
	if c.IsZero() {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.CreatedAt.UnixNano(), 10) + ":" + c.ID))
}

func decodeCursor(s string) (authority.SessionCursor, error) {
	if s == "" {
		return authority.SessionCursor{}, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return authority.SessionCursor{}, err
	}
	ns, id, ok := strings.Cut(string(raw), ":")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil {
		return authority.SessionCursor{}, errors.New("bad cursor")
	}
	return authority.SessionCursor{CreatedAt: time.Unix(0, n), ID: id}, nil
}

func (c *Console) sessions(w http.ResponseWriter, r *web.Request) {
	q := r.URL.Query()
	after, err := decodeCursor(q.Get("after"))
	if err != nil {
		c.fail(w, r, fmt.Errorf("%w: the page cursor is not one this console made; start from the first page", authority.ErrBadRequest))
		return
	}
	f := authority.SessionFilter{Query: strings.TrimSpace(q.Get("q")), Status: q.Get("status"), Org: strings.TrimSpace(q.Get("org")), After: after}
	switch f.Status {
	case "", authority.SessionActive, authority.SessionRevoked, authority.SessionExpired:
	default:
		c.fail(w, r, fmt.Errorf("%w: status is active, revoked or expired", authority.ErrBadRequest))
		return
	}
	page, err := c.a.ListSessions(r.Context(), principal(r), f)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	v := sessionsView{Sessions: page.Sessions, Query: f.Query, Status: f.Status, Org: f.Org, FirstPage: after.IsZero(),
		Statuses: []string{authority.SessionActive, authority.SessionRevoked, authority.SessionExpired}}
	if !page.Next.IsZero() {
		nq := url.Values{"after": {encodeCursor(page.Next)}}
		for _, k := range []string{"q", "status", "org"} {
			if q.Get(k) != "" {
				nq.Set(k, q.Get(k))
			}
		}
		v.Next = nq.Encode()
	}
	c.pages.RenderTitle(w, r, http.StatusOK, "sessions", "Sessions", v)
}

// sessionView is the session page's data.
type sessionView struct {
	S        *authority.SessionView
	Tree     *Tree
	CanAct   bool // the admin: revoke buttons
	Pending  []approvalRow
	Problems []string
}

func (c *Console) session(w http.ResponseWriter, r *web.Request) {
	id := r.URL.Query().Get("id")
	if id == "" {
		http.Redirect(w, r.Request, c.prefix+"/sessions", http.StatusSeeOther)
		return
	}
	v, err := c.a.ViewSession(r.Context(), principal(r), id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	sv := sessionView{S: v, CanAct: r.Person.IsAdmin()}
	ds, err := c.sessionDecisionsOf(r, id)
	if err != nil {
		sv.Problems = append(sv.Problems, "The decision log could not be read: "+err.Error())
	}
	if sv.Pending, err = c.pendingApprovals(r, id, ""); err != nil {
		sv.Problems = append(sv.Problems, "The approval requests could not be read: "+err.Error())
	}
	sv.Tree = buildTree(v, ds, c.revokedAt)
	c.pages.RenderTitle(w, r, http.StatusOK, "session", "Session "+id, sv)
}

// revokedAt reports whether raw revocation ID id is in the log, and when.
func (c *Console) revokedAt(id []byte) (time.Time, bool) {
	e, ok := c.a.LookupRevocation(id)
	return e.RevokedAt, ok
}

// revokeView is the confirmation page's data.
type revokeView struct {
	Session string
	Hop     string // hex revocation ID; "" revokes the whole session
	Holder  string
	Status  string
	Tokens  int
}

// revokeConfirm shows what a revocation will do and asks to confirm it.
func (c *Console) revokeConfirm(w http.ResponseWriter, r *web.Request) {
	q := r.URL.Query()
	v := revokeView{Session: q.Get("session"), Hop: strings.ToLower(q.Get("hop")), Holder: q.Get("holder")}
	s, err := c.a.ViewSession(r.Context(), principal(r), v.Session)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	v.Status, v.Tokens = s.Status, s.TokenCount
	if v.Hop != "" {
		if _, err := hex.DecodeString(v.Hop); err != nil || len(v.Hop) > 2*authority.MaxRevocationIDBytes {
			c.fail(w, r, fmt.Errorf("%w: hop is a revocation ID in hex", authority.ErrBadRequest))
			return
		}
	}
	c.pages.RenderTitle(w, r, http.StatusOK, "revoke", "Revoke", v)
}

// revoke does what the confirmation page asked.
func (c *Console) revoke(w http.ResponseWriter, r *web.Request) {
	session := r.PostFormValue("session")
	hop := strings.ToLower(r.PostFormValue("hop"))
	if r.PostFormValue("confirm") != "yes" {
		c.fail(w, r, fmt.Errorf("%w: confirm the revocation on its confirmation page", authority.ErrBadRequest))
		return
	}
	p := principal(r)
	var err error
	if hop == "" {
		_, err = c.a.RevokeSession(r.Context(), p, session)
	} else {
		id, derr := hex.DecodeString(hop)
		if derr != nil {
			c.fail(w, r, fmt.Errorf("%w: hop is a revocation ID in hex", authority.ErrBadRequest))
			return
		}
		_, err = c.a.RevokeHop(r.Context(), p, session, id)
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r.Request, c.prefix+"/session?"+url.Values{"id": {session}, "revoked": {"1"}}.Encode(), http.StatusSeeOther)
}

func (c *Console) revocations(w http.ResponseWriter, r *web.Request) {
	es, err := c.a.RecentRevocations(r.Context(), principal(r), 200)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.pages.RenderTitle(w, r, http.StatusOK, "revocations", "Revocations", es)
}

type keysView struct {
	Keys   []authority.KeyInfo
	CanAct bool
}

func (c *Console) keys(w http.ResponseWriter, r *web.Request) {
	c.pages.RenderTitle(w, r, http.StatusOK, "keys", "Keys", keysView{Keys: c.a.Keys(), CanAct: r.Person.IsAdmin()})
}

func (c *Console) rotate(w http.ResponseWriter, r *web.Request) {
	if r.PostFormValue("confirm") != "yes" {
		c.fail(w, r, fmt.Errorf("%w: tick the confirmation to rotate", authority.ErrBadRequest))
		return
	}
	if _, err := c.a.Rotate(r.Context(), principal(r)); err != nil {
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r.Request, c.prefix+"/keys", http.StatusSeeOther)
}

func (c *Console) clients(w http.ResponseWriter, r *web.Request) {
	cs, err := c.a.Clients(r.Context(), principal(r))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.pages.RenderTitle(w, r, http.StatusOK, "clients", "Clients", cs)
}
