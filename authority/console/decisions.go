package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/decisions"
	"github.com/mandate-dev/mandate/authority/web"
)

// Limits of the decision pages.
const (
	// sessionDecisions is how many of a session's latest decisions its
	// page reads to draw the tree (the hops and their recent decisions).
	sessionDecisions = 500
	// timelinePage is the decisions timeline's page size.
	timelinePage = 100
	// streamHeartbeat keeps a live stream's connection open through
	// proxies.
	streamHeartbeat = 15 * time.Second
)

// scopeOf is what the signed-in person may read of the decision log (the
// authority's one mapping, Authority.DecisionScope).
func (c *Console) scopeOf(r *web.Request) (decisions.Scope, error) {
	return c.a.DecisionScope(principal(r))
}

func toDecision(d *decisions.Decision) Decision {
	return Decision{
		ID: d.ID, Time: d.Time, Allowed: d.Allowed, Kind: d.Kind, Reason: d.Reason, CheckText: d.CheckText,
		Service: d.Service, Tool: d.Tool, Operation: d.Operation, Resource: d.Resource,
		Session: d.Session, Agent: d.Agent, Org: d.Org, Verifier: d.Verifier,
		DelegatedTo: d.DelegatedTo, RevocationIDs: d.RevocationIDs,
	}
}

// sessionDecisionsOf reads a session's latest decisions, newest first.
func (c *Console) sessionDecisionsOf(r *web.Request, session string) ([]Decision, error) {
	scope, err := c.scopeOf(r)
	if err != nil {
		return nil, err
	}
	page, err := c.a.Decisions().Query(r.Context(), decisions.Query{Filter: decisions.Filter{Session: session}, Limit: sessionDecisions}, scope)
	if err != nil {
		return nil, err
	}
	out := make([]Decision, len(page.Decisions))
	for i := range page.Decisions {
		out[i] = toDecision(&page.Decisions[i])
	}
	return out, nil
}

// decisionsView is the timeline's data.
type decisionsView struct {
	Decisions                []Decision
	Session, Agent, Org, Out string
	Next, Stream             string
}

// timelineFilter reads the timeline's filters from the query.
func timelineFilter(q url.Values) (decisions.Filter, error) {
	f := decisions.Filter{Session: strings.TrimSpace(q.Get("session")), Agent: strings.TrimSpace(q.Get("agent")), Org: strings.TrimSpace(q.Get("org"))}
	switch q.Get("outcome") {
	case "":
	case "allowed":
		f.Allowed = new(bool)
		*f.Allowed = true
	case "denied":
		f.Allowed = new(bool)
	default:
		return f, fmt.Errorf("%w: outcome is allowed or denied", authority.ErrBadRequest)
	}
	return f, nil
}

// timeline is the filter and scope of a timeline request (the page and its
// stream).
func (c *Console) timeline(r *web.Request) (decisions.Filter, decisions.Scope, error) {
	f, err := timelineFilter(r.URL.Query())
	if err != nil {
		return f, decisions.Scope{}, err
	}
	scope, err := c.scopeOf(r)
	return f, scope, err
}

func (c *Console) decisionsPage(w http.ResponseWriter, r *web.Request) {
	q := r.URL.Query()
	f, scope, err := c.timeline(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	page, err := c.a.Decisions().Query(r.Context(), decisions.Query{Filter: f, Limit: timelinePage, Cursor: q.Get("cursor")}, scope)
	if err != nil {
		c.fail(w, r, decisionsErr(err))
		return
	}
	v := decisionsView{Session: f.Session, Agent: f.Agent, Org: f.Org, Out: q.Get("outcome")}
	for i := range page.Decisions {
		v.Decisions = append(v.Decisions, toDecision(&page.Decisions[i]))
	}
	keep := url.Values{}
	for _, k := range []string{"session", "agent", "org", "outcome"} {
		if q.Get(k) != "" {
			keep.Set(k, q.Get(k))
		}
	}
	v.Stream = keep.Encode()
	if page.Next != "" {
		keep.Set("cursor", page.Next)
		v.Next = keep.Encode()
	}
	c.pages.RenderTitle(w, r, http.StatusOK, "decisions", "Decisions", v)
}

// streamed is a decision as the live stream sends it (the fields the
// timeline shows; never argument values).
type streamed struct {
	ID        string    `json:"id"`
	Time      time.Time `json:"time"`
	Allowed   bool      `json:"allowed"`
	Reason    string    `json:"reason,omitempty"`
	CheckText string    `json:"check_text,omitempty"`
	Call      string    `json:"call"`
	Session   string    `json:"session,omitempty"`
	Agent     string    `json:"agent,omitempty"`
	Holder    string    `json:"holder,omitempty"`
}

// decisionsStream is the timeline's live stream: Server-Sent Events, one
// "decision" event per newly stored decision that the filters select and
// the person may see.
func (c *Console) decisionsStream(w http.ResponseWriter, r *web.Request) {
	f, scope, err := c.timeline(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	sub, err := c.a.Decisions().Subscribe(f, scope)
	if err != nil {
		c.fail(w, r, decisionsErr(err))
		return
	}
	defer sub.Close()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n: stream open\n\n")
	_ = rc.Flush()
	tick := time.NewTicker(streamHeartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			_ = rc.SetWriteDeadline(time.Now().Add(streamHeartbeat * 2))
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			_ = rc.Flush()
		case d, ok := <-sub.C:
			if !ok {
				return // lagged or shut down: the browser reconnects
			}
			_ = rc.SetWriteDeadline(time.Now().Add(streamHeartbeat * 2))
			s := streamed{ID: d.ID, Time: d.Time, Allowed: d.Allowed, Reason: d.Reason, CheckText: d.CheckText,
				Call: d.Service + "/" + d.Tool + " " + d.Operation + " " + d.Resource, Session: d.Session, Agent: d.Agent}
			if n := len(d.DelegatedTo); n > 0 {
				s.Holder = d.DelegatedTo[n-1]
			}
			raw, _ := json.Marshal(s)
			if _, err := fmt.Fprintf(w, "event: decision\ndata: %s\n\n", raw); err != nil {
				return
			}
			_ = rc.Flush()
		}
	}
}

// decisionsErr maps the decision log's errors onto the authority's.
func decisionsErr(err error) error {
	switch {
	case errors.Is(err, decisions.ErrForbidden):
		return fmt.Errorf("%w: %w", authority.ErrForbidden, err)
	case errors.Is(err, decisions.ErrInvalid):
		return fmt.Errorf("%w: %w", authority.ErrBadRequest, err)
	case errors.Is(err, decisions.ErrBusy), errors.Is(err, decisions.ErrClosed), errors.Is(err, decisions.ErrCorrupt), errors.Is(err, context.Canceled):
		return fmt.Errorf("%w: %w", authority.ErrUnavailable, err)
	}
	return err
}
