package authority

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/mandate-dev/mandate/authority/approvals"
	"github.com/mandate-dev/mandate/internal/strictjson"
	"github.com/mandate-dev/mandate/token"
)

// The approvals API (package authority/approvals holds the rules):
//
//	POST /v1/approvals                  the agent asks (bearer: its mandate token)
//	GET  /v1/approvals?status=&session= persons (their orgs), the admin token (all),
//	                                    clients (their sessions), agents (their session)
//	GET  /v1/approvals/{id}?wait=30s    long-poll until decided; carries the approval once approved
//	POST /v1/approvals/{id}/approve     a person's credential only
//	POST /v1/approvals/{id}/deny        a person's credential only
//	POST /v1/approvals/{id}/redeem      verifiers (bearer: the call's token): one use, atomically

type askApprovalJSON struct {
	Service    string          `json:"service"`
	Tool       string          `json:"tool"`
	Operation  string          `json:"operation"`
	Resource   string          `json:"resource"`
	Args       json.RawMessage `json:"args"`
	Note       string          `json:"note"`
	TTLSeconds int64           `json:"ttl_seconds"`
	MaxUses    int             `json:"max_uses"`
}

// redeemJSON and redeemedJSON are the body and answer of
// POST /v1/approvals/{id}/redeem (verifier/approval.RedeemRequest and
// RedeemResponse, the client side of this contract).
type redeemJSON struct {
	Approval   string `json:"approval"`
	CallDigest string `json:"call_digest"`
	DecisionID string `json:"decision_id"`
}

type redeemedJSON struct {
	ID       string `json:"id"`
	UsesLeft int    `json:"uses_left"`
}

// codeUsedUp is the error code of a redemption with no use left
// (verifier/approval.CodeUsedUp).
const codeUsedUp = "approval_used"

// argsFromJSON decodes a call's arguments as tool servers do
// (verifier.ArgsFromJSON): one JSON object, numbers exact, no keys that
// differ only in case, bounded nesting.
func argsFromJSON(raw []byte) (map[string]any, error) {
	if err := strictjson.Check(raw, maxArgsDepth); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var args map[string]any
	if err := dec.Decode(&args); err != nil || args == nil {
		return nil, errors.New("want a JSON object of arguments")
	}
	return args, nil
}

// maxArgsDepth bounds the nesting of arguments (verifier.MaxArgsJSONDepth).
const maxArgsDepth = 64

type decideApprovalJSON struct {
	Comment string `json:"comment"`
}

type approvalListJSON struct {
	Approvals []approvals.Request `json:"approvals"`
}

// approvalCaller is who calls an approvals endpoint: a principal (admin
// token, client, person) or an agent holding a mandate token.
type approvalCaller struct {
	p     Principal
	agent string // the agent's token, when the credential is one
}

// caller authenticates an approvals request. A credential that is no
// principal's but parses as a mandate token is an agent's (the room
// verifies it). On failure it writes the response.
func (h *handler) approvalCaller(c *gin.Context) (approvalCaller, bool) {
	vals := c.Request.Header.Values("Authorization")
	if len(vals) == 1 {
		scheme, cred, _ := strings.Cut(strings.TrimSpace(vals[0]), " ")
		cred = strings.TrimSpace(cred)
		if strings.EqualFold(scheme, "Bearer") && cred != "" {
			if _, err := token.ParseString(cred); err == nil {
				return approvalCaller{agent: cred}, true
			}
		}
	}
	p, ok := h.principal(c, false)
	return approvalCaller{p: p}, ok
}

// viewer is what the caller may see.
func (h *handler) approvalViewer(ctx context.Context, who approvalCaller) (approvals.Viewer, error) {
	switch {
	case who.agent != "":
		d, err := h.a.approvals.Authenticate(ctx, who.agent)
		if err != nil {
			return approvals.Viewer{}, err
		}
		return approvals.Viewer{Agent: &d}, nil
	case who.p.Person != nil && !who.p.Admin:
		return approvals.Viewer{Person: approvalPerson(who.p)}, nil
	case who.p.Admin:
		return approvals.Viewer{Admin: true}, nil
	}
	return approvals.Viewer{ClientID: who.p.ClientID}, nil
}

// approvalPerson is the room's view of a person principal, or nil.
func approvalPerson(p Principal) *approvals.Person {
	if p.Person == nil {
		return nil
	}
	person := *p.Person
	return &approvals.Person{Name: person.Name, MayApprove: person.MayApprove, MaySee: person.MaySee}
}

// agentRequest reads a request only an agent makes: the bearer must be a
// mandate token (refused says how otherwise), the body JSON into in.
func (h *handler) agentRequest(c *gin.Context, refused string, in any) (string, bool) {
	who, ok := h.approvalCaller(c)
	if !ok {
		return "", false
	}
	if who.agent == "" {
		h.writeApprovalError(c, fmt.Errorf("%w: %s", approvals.ErrForbidden, refused))
		return "", false
	}
	return who.agent, h.decodeJSON(c, in)
}

// POST /v1/approvals (bearer: the agent's mandate token).
func (h *handler) askApproval(c *gin.Context) {
	var in askApprovalJSON
	tok, ok := h.agentRequest(c, "ask with the agent's own mandate token as the bearer (the token it will make the call with); a person, client or admin credential cannot ask", &in)
	if !ok {
		return
	}
	var args map[string]any
	if len(in.Args) > 0 && string(in.Args) != "null" {
		a, err := argsFromJSON(in.Args)
		if err != nil {
			h.writeApprovalError(c, fmt.Errorf("%w: args: %w", approvals.ErrBadRequest, err))
			return
		}
		args = a
	}
	if in.TTLSeconds < 0 || in.TTLSeconds > int64(approvals.MaxRequestTTL/time.Second) {
		h.writeApprovalError(c, fmt.Errorf("%w: ttl_seconds %d is outside 0..%d", approvals.ErrBadRequest, in.TTLSeconds, int64(approvals.MaxRequestTTL/time.Second)))
		return
	}
	req, err := h.a.approvals.Ask(c.Request.Context(), approvals.AskInput{
		Token: tok, Note: in.Note, TTL: time.Duration(in.TTLSeconds) * time.Second, MaxUses: in.MaxUses,
		Call:     approvals.Call{Service: in.Service, Tool: in.Tool, Operation: in.Operation, Resource: in.Resource, Args: args},
		ClientID: h.a.mintClient(c.Request.Context(), tok),
	})
	if err != nil {
		h.writeApprovalError(c, err)
		return
	}
	c.Header("Location", "/v1/approvals/"+req.ID)
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, req)
}

// mintClient is the client that minted tok's authority block ("" for the
// admin, or when unknown).
func (a *Authority) mintClient(ctx context.Context, tok string) string {
	u, err := token.ParseString(tok)
	if err != nil {
		return ""
	}
	ids := u.RevocationIDs()
	if len(ids) == 0 {
		return ""
	}
	rec, err := a.store.Token(ctx, ids[0])
	if err != nil {
		return ""
	}
	return rec.ClientID
}

// GET /v1/approvals?status=pending&session=S&limit=N.
func (h *handler) listApprovals(c *gin.Context) {
	who, ok := h.approvalCaller(c)
	if !ok {
		return
	}
	st, err := approvals.ParseStatus(c.Query("status"))
	if err != nil {
		h.writeApprovalError(c, err)
		return
	}
	limit := 0
	if s := c.Query("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 {
			h.writeApprovalError(c, fmt.Errorf("%w: limit must be a positive integer (at most %d)", approvals.ErrBadRequest, approvals.MaxListed))
			return
		}
	}
	v, err := h.approvalViewer(c.Request.Context(), who)
	if err != nil {
		h.writeApprovalError(c, err)
		return
	}
	session := c.Query("session")
	if who.p.isClient() {
		session = who.p.SessionID(session)
	}
	list, err := h.a.approvals.List(c.Request.Context(), v, approvals.Filter{Status: st, Session: session, Limit: limit})
	if err != nil {
		h.writeApprovalError(c, err)
		return
	}
	if list == nil {
		list = []approvals.Request{}
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, approvalListJSON{Approvals: list})
}

// GET /v1/approvals/{id}?wait=30s.
func (h *handler) getApproval(c *gin.Context) {
	who, ok := h.approvalCaller(c)
	if !ok {
		return
	}
	var wait time.Duration
	if s := c.Query("wait"); s != "" {
		d, err := parseWait(s)
		if err != nil {
			h.writeError(c, err)
			return
		}
		wait = d
	}
	v, err := h.approvalViewer(c.Request.Context(), who)
	if err != nil {
		h.writeApprovalError(c, err)
		return
	}
	if wait > 0 {
		// Over a long-poll cap, answer at once (see longpoll.go).
		if release, ok := h.polls.acquire(c.Request.RemoteAddr); ok {
			defer release()
		} else {
			wait = 0
		}
	}
	req, err := h.a.approvals.Wait(c.Request.Context(), v, c.Param("id"), wait)
	if err != nil {
		h.writeApprovalError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, req)
}

// POST /v1/approvals/{id}/approve and /deny (a person's credential).
func (h *handler) decideApproval(approve bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, ok := h.principal(c, false)
		if !ok {
			return
		}
		person := approvalPerson(p)
		if person == nil {
			h.writeApprovalError(c, fmt.Errorf("%w: only a named person decides approval requests, and %s is not a person; sign in with a person's credential (mp_…; the admin adds people with \"mandate authority people add NAME --role approver --org ORG\")", approvals.ErrForbidden, p))
			return
		}
		var in decideApprovalJSON
		if c.Request.ContentLength != 0 && !h.decodeJSON(c, &in) {
			return
		}
		req, err := h.a.approvals.Decide(c.Request.Context(), *person, c.Param("id"), approve, in.Comment)
		if err != nil {
			h.writeApprovalError(c, err)
			return
		}
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusOK, req)
	}
}

// POST /v1/approvals/{id}/redeem (bearer: the token of the call).
func (h *handler) redeemApproval(c *gin.Context) {
	var in redeemJSON
	tok, ok := h.agentRequest(c, "redeem with the bearer token of the call being decided (verifier/approval.AuthorityRedeemer does)", &in)
	if !ok {
		return
	}
	left, err := h.a.approvals.Redeem(c.Request.Context(), c.Param("id"), approvals.Redemption{
		Token: tok, Approval: in.Approval, CallDigest: in.CallDigest, DecisionID: in.DecisionID,
	})
	if err != nil {
		h.writeApprovalError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, redeemedJSON{ID: c.Param("id"), UsesLeft: left})
}

// writeApprovalError maps the room's errors: those with their own codes
// here, the rest through writeError.
func (h *handler) writeApprovalError(c *gin.Context, err error) {
	status, code := 0, ""
	switch {
	case errors.Is(err, approvals.ErrUnauthenticated):
		h.writeError(c, fmt.Errorf("%w: %w", ErrUnauthenticated, err))
		return
	case errors.Is(err, approvals.ErrForbidden):
		status, code = http.StatusForbidden, "access_denied"
	case errors.Is(err, approvals.ErrNotApprovable):
		status, code = http.StatusUnprocessableEntity, "not_approvable"
	case errors.Is(err, approvals.ErrTooMany):
		status, code = http.StatusTooManyRequests, "too_many_requests"
	case errors.Is(err, approvals.ErrUsedUp):
		status, code = http.StatusConflict, codeUsedUp
	case errors.Is(err, approvals.ErrExpired):
		status, code = http.StatusConflict, "approval_expired"
	case errors.Is(err, approvals.ErrDecided):
		status, code = http.StatusConflict, "already_decided"
	case errors.Is(err, approvals.ErrRevoked):
		status, code = http.StatusConflict, "approval_revoked"
	case errors.Is(err, approvals.ErrNotApproved):
		status, code = http.StatusConflict, "not_approved"
	default:
		h.writeError(c, approvalsErr(err))
		return
	}
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(status, errorBody{Error: code, Description: err.Error()})
}
