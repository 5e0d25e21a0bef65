package authority

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/mandate-dev/mandate/authority/decisions"
	"github.com/mandate-dev/mandate/token"
)

// The decision log's HTTP API (thin: decode, authenticate, call the room).
//
//	POST   /v1/verifiers               admin: create a verifier credential
//	GET    /v1/verifiers               admin: list them
//	DELETE /v1/verifiers/:name         admin: delete one
//	POST   /v1/decisions               verifier credential: ingest a batch
//	GET    /v1/decisions               admin, people (their orgs): query (paged)
//	GET    /v1/decisions/stream        admin, people (their orgs): live server-sent events
//	GET    /v1/decisions/export        admin: JSON lines with the chain
//	POST   /v1/decisions/head          admin: sign the head now
func (h *handler) decisionRoutes(r *gin.Engine) {
	r.POST("/v1/verifiers", h.addVerifier)
	r.GET("/v1/verifiers", h.listVerifiers)
	r.DELETE("/v1/verifiers/:name", h.deleteVerifier)
	r.POST("/v1/decisions", h.ingestDecisions)
	r.GET("/v1/decisions", h.queryDecisions)
	r.GET("/v1/decisions/stream", h.streamDecisions)
	r.GET("/v1/decisions/export", h.exportDecisions)
	r.POST("/v1/decisions/head", h.signDecisionHead)
}

// bodyLimit is the request body limit of the route: the decision log's
// ingest takes batches, every other route MaxBodyBytes.
func bodyLimit(c *gin.Context) int64 {
	if c.Request.Method == http.MethodPost && c.FullPath() == "/v1/decisions" {
		return decisions.MaxBatchBytes
	}
	return MaxBodyBytes
}

type addVerifierJSON struct {
	Name string `json:"name"`
}

type verifierJSON struct {
	Name       string    `json:"name"`
	CreatedAt  time.Time `json:"created_at"`
	Credential string    `json:"credential,omitempty"`
}

func (h *handler) addVerifier(c *gin.Context) {
	p, ok := h.principal(c, false)
	if !ok {
		return
	}
	if err := requireAdmin(p, "add verifiers"); err != nil {
		h.writeError(c, err)
		return
	}
	var req addVerifierJSON
	if !h.decodeJSON(c, &req) {
		return
	}
	v, secret, err := h.a.AddVerifier(c.Request.Context(), p, req.Name)
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, verifierJSON{Name: v.Name, CreatedAt: v.CreatedAt, Credential: secret})
}

func (h *handler) listVerifiers(c *gin.Context) {
	p, ok := h.principal(c, false)
	if !ok {
		return
	}
	vs, err := h.a.Verifiers(c.Request.Context(), p)
	if err != nil {
		h.writeError(c, err)
		return
	}
	out := make([]verifierJSON, len(vs))
	for i, v := range vs {
		out[i] = verifierJSON{Name: v.Name, CreatedAt: v.CreatedAt}
	}
	c.JSON(http.StatusOK, gin.H{"verifiers": out})
}

func (h *handler) deleteVerifier(c *gin.Context) {
	p, ok := h.principal(c, false)
	if !ok {
		return
	}
	if err := h.a.DeleteVerifier(c.Request.Context(), p, c.Param("name")); err != nil {
		h.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// batchJSON is the ingest body.
type batchJSON struct {
	Decisions []token.DecisionRecord `json:"decisions"`
}

// POST /v1/decisions: a verifier ships a batch, with its own credential
// (never the admin token or a client secret).
func (h *handler) ingestDecisions(c *gin.Context) {
	vals := c.Request.Header.Values("Authorization")
	scheme, cred, _ := strings.Cut(strings.TrimSpace(strings.Join(vals, "")), " ")
	var name string
	var err error
	switch {
	case len(vals) == 0:
		err = errNoCredentials
	case len(vals) > 1:
		err = fmt.Errorf("%w: more than one Authorization header", ErrUnauthenticated)
	case !strings.EqualFold(scheme, "Bearer"):
		err = fmt.Errorf("%w: %s", ErrUnauthenticated, schemeProblem(scheme, cred))
	default:
		name, err = h.a.AuthenticateVerifier(c.Request.Context(), strings.TrimSpace(cred))
	}
	if errors.Is(err, ErrUnauthenticated) {
		h.a.auditWarn(c.Request.Context(), "auth_failed").Str("route", c.FullPath()).Str("reason", "unknown_verifier_credential").
			Str("remote", c.ClientIP()).Msg("decision batch refused: no valid verifier credential")
	}
	if err != nil {
		h.writeError(c, err)
		return
	}
	var req batchJSON
	if !h.decodeJSON(c, &req) {
		return
	}
	res, err := h.a.decisions.Append(c.Request.Context(), name, req.Decisions)
	if err != nil {
		h.writeError(c, roomError(err))
		return
	}
	c.JSON(http.StatusOK, res)
}

// decisionReader authenticates a reader of the decision log and returns its
// scope.
func (h *handler) decisionReader(c *gin.Context) (decisions.Scope, bool) {
	p, ok := h.principal(c, false)
	if !ok {
		return decisions.Scope{}, false
	}
	sc, err := h.a.DecisionScope(p)
	if err != nil {
		h.writeError(c, err)
		return decisions.Scope{}, false
	}
	return sc, true
}

// decisionFilter reads the filter parameters; allowedParams are the other
// parameters the route takes. Unknown parameters are refused, so that a
// typo never silently widens a query.
func (h *handler) decisionFilter(c *gin.Context, allowedParams ...string) (decisions.Filter, bool) {
	var f decisions.Filter
	q := c.Request.URL.Query()
	known := append([]string{"session", "agent", "org", "after", "before", "allowed"}, allowedParams...)
	for k, v := range q {
		if !contains(known, k) {
			h.writeError(c, fmt.Errorf("%w: unknown parameter %q; accepted: %s", ErrBadRequest, clip(k), strings.Join(known, ", ")))
			return f, false
		}
		if len(v) > 1 {
			h.writeError(c, fmt.Errorf("%w: parameter %q given %d times", ErrBadRequest, k, len(v)))
			return f, false
		}
	}
	f.Session, f.Agent, f.Org = q.Get("session"), q.Get("agent"), q.Get("org")
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"after", &f.After}, {"before", &f.Before}} {
		if s := q.Get(t.name); s != "" {
			v, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				h.writeError(c, fmt.Errorf("%w: %s=%q is not an RFC 3339 time (such as 2026-11-22T10:00:00Z)", ErrBadRequest, t.name, clip(s)))
				return f, false
			}
			*t.dst = v
		}
	}
	switch s := q.Get("allowed"); s {
	case "":
	case "true", "false":
		b := s == "true"
		f.Allowed = &b
	default:
		h.writeError(c, fmt.Errorf("%w: allowed=%q: use true or false", ErrBadRequest, clip(s)))
		return f, false
	}
	return f, true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// GET /v1/decisions?session=&agent=&org=&after=&before=&allowed=&limit=&cursor=
func (h *handler) queryDecisions(c *gin.Context) {
	sc, ok := h.decisionReader(c)
	if !ok {
		return
	}
	f, ok := h.decisionFilter(c, "limit", "cursor")
	if !ok {
		return
	}
	q := decisions.Query{Filter: f, Cursor: c.Query("cursor")}
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > decisions.MaxLimit {
			h.writeError(c, fmt.Errorf("%w: limit=%q: use 1 to %d", ErrBadRequest, clip(s), decisions.MaxLimit))
			return
		}
		q.Limit = n
	}
	page, err := h.a.decisions.Query(c.Request.Context(), q, sc)
	if err != nil {
		h.writeError(c, roomError(err))
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, page)
}

// GET /v1/decisions/stream?session=&agent=&org=&allowed=: server-sent
// events, one "decision" event per new decision (its JSON, with the
// sequence number as the event ID). A stream lasts at most the feed's
// MaxWait, then ends (EventSource reconnects at once and sends
// Last-Event-ID, from which the stream replays what was missed, up to
// decisions.MaxLimit). A reader that falls behind gets a "lagged" event and
// the stream ends.
func (h *handler) streamDecisions(c *gin.Context) {
	sc, ok := h.decisionReader(c)
	if !ok {
		return
	}
	f, ok := h.decisionFilter(c, "last_event_id")
	if !ok {
		return
	}
	if !f.After.IsZero() || !f.Before.IsZero() {
		h.writeError(c, fmt.Errorf("%w: a live stream takes no after or before; use GET /v1/decisions for past decisions", ErrBadRequest))
		return
	}
	var since uint64
	resume := c.GetHeader("Last-Event-ID")
	if s := c.Query("last_event_id"); s != "" {
		resume = s
	}
	if resume != "" {
		n, err := strconv.ParseUint(resume, 10, 64)
		if err != nil {
			h.writeError(c, fmt.Errorf("%w: Last-Event-ID %q is not a decision sequence number", ErrBadRequest, clip(resume)))
			return
		}
		since = n
	}
	ctx := c.Request.Context()
	sub, err := h.a.decisions.Subscribe(f, sc)
	if err != nil {
		h.writeError(c, roomError(err))
		return
	}
	defer sub.Close()
	var missed []decisions.Decision
	if resume != "" {
		if missed, err = h.a.decisions.Since(ctx, since, f, sc, decisions.MaxLimit); err != nil {
			h.writeError(c, roomError(err))
			return
		}
	}
	w := c.Writer
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 1000\n\n")
	last := since
	write := func(d *decisions.Decision) {
		if d.Seq <= last {
			return // replayed already
		}
		last = d.Seq
		b, err := json.Marshal(d)
		if err != nil {
			return
		}
		fmt.Fprintf(w, "id: %d\nevent: decision\ndata: %s\n\n", d.Seq, b)
	}
	for i := range missed {
		write(&missed[i])
	}
	w.Flush()
	end := time.NewTimer(h.a.cfg.MaxWait)
	defer end.Stop()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case d, ok := <-sub.C:
			if !ok {
				if sub.Lagged() {
					fmt.Fprint(w, "event: lagged\ndata: {}\n\n")
					w.Flush()
				}
				return
			}
			write(d)
			w.Flush()
		case <-ping.C:
			fmt.Fprint(w, ": ping\n\n")
			w.Flush()
		case <-end.C:
			return
		case <-h.a.stopping:
			return
		case <-ctx.Done():
			return
		}
	}
}

// GET /v1/decisions/export?after=SEQ: JSON lines (see decisions.Export),
// for "mandate audit verify".
func (h *handler) exportDecisions(c *gin.Context) {
	sc, ok := h.decisionReader(c)
	if !ok {
		return
	}
	var after uint64
	for k := range c.Request.URL.Query() {
		if k != "after" {
			h.writeError(c, fmt.Errorf("%w: unknown parameter %q; the export takes only after (a sequence number)", ErrBadRequest, clip(k)))
			return
		}
	}
	if s := c.Query("after"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			h.writeError(c, fmt.Errorf("%w: after=%q is not a decision sequence number", ErrBadRequest, clip(s)))
			return
		}
		after = n
	}
	// Refuse up front what Export would refuse, while an error can still
	// be a JSON answer.
	if err := h.a.decisions.Corrupt(); err != nil {
		h.writeError(c, roomError(err))
		return
	}
	if !sc.All {
		h.writeError(c, roomError(fmt.Errorf("%w: only the admin may export the whole chain", decisions.ErrForbidden)))
		return
	}
	c.Header("Content-Type", "application/jsonl")
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusOK)
	if err := h.a.decisions.Export(c.Request.Context(), after, sc, c.Writer); err != nil {
		// The body has begun: the export lacks its final signed head,
		// so it does not verify; the log has the cause.
		h.log.Error().Err(err).Msg("decision log export failed")
	}
}

// POST /v1/decisions/head: sign the head now.
func (h *handler) signDecisionHead(c *gin.Context) {
	p, ok := h.principal(c, false)
	if !ok {
		return
	}
	if err := requireAdmin(p, "sign the decision log's head"); err != nil {
		h.writeError(c, err)
		return
	}
	hd, err := h.a.decisions.SignHead(c.Request.Context())
	if err != nil {
		h.writeError(c, roomError(err))
		return
	}
	c.JSON(http.StatusOK, hd)
}
