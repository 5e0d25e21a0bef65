package mcpmw

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/mandate-dev/mandate/verifier"
)

// CodeForbidden is the JSON-RPC error code of a tool call the verifier
// denied (HTTP 403). MCP defines no code for it; -32003 is outside the
// codes the SDK and the MCP specification use.
const CodeForbidden = -32003

// ErrUndeclaredTool is the cause of the denial of a call to a tool that was
// registered without a policy: the Guard fails closed.
var ErrUndeclaredTool = fmt.Errorf("%w: tool has no mandate policy on this server", verifier.ErrDenied)

// Middleware returns HTTP middleware for the SDK's streamable HTTP handler
// (mcp.NewStreamableHTTPHandler). Every request must carry a valid bearer
// token, checked (signature, expiry, revocation) before the body is read;
// every tools/call in a POST body is authorized before next runs. Each
// denial is answered the way MCP clients can act on it
// ([verifier.Decision.Kind]):
//
//   - 401 with a bare Bearer challenge and resource_metadata when no token
//     is sent, and with error="invalid_token" when the token is malformed,
//     unverifiable, expired or revoked: the client gets a new token;
//   - 403 with error="insufficient_scope" and scope="…" (the right that
//     would cover the call, token.Right.Scope) when no right of the token
//     covers a call and no caveat denies it, with a JSON-RPC error
//     response (code [CodeForbidden]) as the body: a client with an OAuth
//     handler steps up, others report the reason and keep the session;
//   - HTTP 200 with a JSON-RPC error [CodeURLElicitationRequired] (MCP's
//     URLElicitationRequiredError, specification 2025-11-25) when a
//     person must approve the call: it carries the page where the person
//     decides (Options.ApprovalPageURL, else the authority's listing of
//     the session's pending requests), the call digest and where the
//     agent asks (Options.ApprovalURL); the client retries with the
//     approval in params._meta["dev.mandate/approval"];
//   - HTTP 200 with the call's tool result, isError true, when no grant
//     can fix the denial: an attenuation caveat, arguments the policy
//     cannot map, a tool without a policy, a stale revocation replica.
//     Its text is one sentence for the model ([Sentence]) and its
//     structured content the machine-readable [Denial]; no client starts
//     an authorization flow for it;
//   - 400 with a JSON-RPC error (invalid params) when the body cannot be
//     read unambiguously, 413 when it is over Options.MaxBodyBytes, and
//     503 (Retry-After) for a request that calls no tool while the
//     revocation replica is stale.
//
// In a JSON-RPC batch every call is authorized, and the first denial
// refuses the whole batch: nothing of it runs.
//
// A call that carries an approval (params._meta["dev.mandate/approval"]) is
// authorized here without it: if nothing but a missing approval stops it,
// it goes on to the SDK, where the Guard's tool wrapper decides it with the
// approval and redeems one use. Its use is spent once per call, not twice.
func (g *Guard) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, err := verifier.BearerToken(r)
		if err != nil {
			d := &verifier.Decision{Err: fmt.Errorf("%w: %w", verifier.ErrBadRequest, err), Reason: err.Error()}
			if errors.Is(err, verifier.ErrNoToken) {
				d.Err = fmt.Errorf("%w: %w", verifier.ErrDenied, err)
				d.Reason = "this MCP server requires a mandate bearer token; see resource_metadata for the authority"
			}
			verifier.WriteChallenge(w, verifier.StatusOf(d), d, g.httpOptions())
			return
		}
		// The token is checked before a byte of the body is read: parsing
		// a body costs far more than a signature check, and only a caller
		// holding a valid token may make the server do that work. A stale
		// replica does not stop here: the token's signature is verified,
		// and its tool calls are answered with tool errors below.
		auth := g.v.Authenticate(r.Context(), tok)
		if !auth.Allowed && auth.Kind() != verifier.KindUnavailable {
			verifier.WriteChallenge(w, verifier.StatusOf(&auth), &auth, g.httpOptions())
			return
		}
		if r.Method != http.MethodPost || r.Body == nil {
			if !auth.Allowed {
				verifier.WriteChallenge(w, verifier.StatusOf(&auth), &auth, g.httpOptions())
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > g.opts.MaxBodyBytes {
			writeJSONError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is %d bytes, over the limit of %d; send smaller tool calls", r.ContentLength, g.opts.MaxBodyBytes))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.opts.MaxBodyBytes))
		_ = r.Body.Close()
		if err != nil {
			status := http.StatusBadRequest
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				status = http.StatusRequestEntityTooLarge
				err = fmt.Errorf("the body is over the limit of %d bytes; send smaller tool calls", g.opts.MaxBodyBytes)
			}
			writeJSONError(w, status, err.Error())
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))

		msgs, batch, err := parseBody(body)
		if err != nil {
			g.writeRPCDenial(w, http.StatusBadRequest, nil, &verifier.Decision{Err: verifier.ErrBadRequest, Reason: err.Error()}, msgs, batch)
			return
		}
		calls := false
		for _, m := range msgs {
			if m.call == nil {
				continue
			}
			calls = true
			d := g.authorizeHTTP(r, tok, m.call)
			switch k := d.Kind(); {
			case d.Allowed:
				continue
			case k == verifier.KindApprovalRequired && m.call.approval != "":
				// Everything but the approval allows the call. The
				// approval is checked, and its use redeemed once, where
				// the SDK dispatches the call (Guard.AddTool's wrapper):
				// deciding it here too would spend a second use.
				continue
			case k.TokenProblem():
				verifier.WriteChallenge(w, verifier.StatusOf(d), d, g.httpOptions())
			case k.GrantCanFix():
				g.writeRPCDenial(w, http.StatusForbidden, m.call, d, msgs, batch)
			case k == verifier.KindApprovalRequired:
				g.writeElicitation(w, m.call, d, msgs, batch)
			default:
				g.writeToolDenial(w, m.call, d, msgs, batch)
			}
			return
		}
		if !auth.Allowed && !calls {
			verifier.WriteChallenge(w, verifier.StatusOf(&auth), &auth, g.httpOptions())
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authorizeHTTP decides one call of an HTTP request, without its approval
// (see Middleware: the approval is decided where the SDK dispatches the
// call, so that its use is redeemed once). A call the guard
// cannot map (no policy, bad arguments) is answered as a token problem if
// the token is invalid anyway, so that the client learns first that it
// must get a new token.
func (g *Guard) authorizeHTTP(r *http.Request, tok string, c *call) *verifier.Decision {
	p, ok := g.policy(c.name)
	var mapErr error
	var req verifier.Request
	if !ok {
		mapErr = fmt.Errorf("%w: tool %q (declare it with mcpmw.AddTool)", ErrUndeclaredTool, c.name)
	} else if req, mapErr = p.request(c.name, c.args, ""); mapErr != nil {
		mapErr = fmt.Errorf("%w: %w", verifier.ErrBadRequest, mapErr)
	}
	if mapErr != nil {
		d := g.v.Authenticate(r.Context(), tok)
		if !d.Allowed {
			return &d
		}
		d.Allowed, d.Err, d.Reason = false, mapErr, strings.TrimPrefix(mapErr.Error(), verifier.ErrDenied.Error()+": ")
		return &d
	}
	req.Audience = g.opts.Audience
	d := g.v.Authorize(r.Context(), tok, req)
	return &d
}

// rpcError is a JSON-RPC 2.0 error response.
type rpcError struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Error   rpcErrorBody    `json:"error"`
}

type rpcErrorBody struct {
	Code    int          `json:"code"`
	Message string       `json:"message"`
	Data    rpcErrorData `json:"data"`
}

// rpcErrorData repeats the RFC 6750 fields of the challenge for clients
// that only read the JSON-RPC error.
type rpcErrorData struct {
	Error       string                `json:"error"`
	Description string                `json:"error_description"`
	Scope       string                `json:"scope,omitempty"`
	Tool        string                `json:"tool,omitempty"`
	DecisionID  string                `json:"decision_id,omitempty"`
	FailedCheck *verifier.FailedCheck `json:"failed_check,omitempty"`
}

// writeRPCDenial answers a denied (403) or unreadable (400) POST: the
// WWW-Authenticate challenge of verifier.WriteChallenge, and as the body a
// JSON-RPC error response for each request of the body (an array for a
// batch), so that MCP clients fail the call, not the session.
func (g *Guard) writeRPCDenial(w http.ResponseWriter, status int, denied *call, d *verifier.Decision, msgs []message, batch bool) {
	// Reuse the verifier's challenge so every adapter answers alike.
	hw := headerOnly{http.Header{}}
	verifier.WriteChallenge(hw, status, d, g.httpOptions())
	if c := hw.h.Get("WWW-Authenticate"); c != "" {
		w.Header().Set("WWW-Authenticate", c)
	}
	data := rpcErrorData{Error: string(verifier.KindBadRequest), Description: d.Reason, DecisionID: d.DecisionID, FailedCheck: d.FailedCheck}
	code := -32602 // invalid params
	if status == http.StatusForbidden {
		data.Error, data.Scope, code = string(verifier.KindInsufficientScope), d.Scope(), CodeForbidden
	}
	msg := "request refused: " + d.Reason
	if denied != nil {
		data.Tool = denied.name
		msg = fmt.Sprintf("tool %q denied: %s", denied.name, d.Reason)
	}
	var out []rpcError
	for _, m := range msgs {
		if len(m.id) == 0 {
			continue // notifications and responses get no response
		}
		e := rpcError{JSONRPC: "2.0", ID: m.id, Error: rpcErrorBody{Code: code, Message: msg, Data: data}}
		if denied != nil && m.call != denied {
			e.Error.Message = fmt.Sprintf("batch refused: tool %q denied: %s", denied.name, d.Reason)
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		out = append(out, rpcError{JSONRPC: "2.0", ID: json.RawMessage("null"), Error: rpcErrorBody{Code: code, Message: msg, Data: data}})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	if batch {
		_ = enc.Encode(out)
		return
	}
	_ = enc.Encode(out[0])
}

// headerOnly is a ResponseWriter that keeps headers and drops the rest.
type headerOnly struct{ h http.Header }

func (h headerOnly) Header() http.Header       { return h.h }
func (headerOnly) Write(b []byte) (int, error) { return len(b), nil }
func (headerOnly) WriteHeader(int)             {}

func writeJSONError(w http.ResponseWriter, status int, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{"invalid_request", desc})
}
