package mcpmw

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

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
// every tools/call in a POST body is authorized before next runs.
// It answers as the MCP authorization specification describes:
//
//   - 401 with a bare Bearer challenge and resource_metadata when no token
//     is sent, and with error="invalid_token" when the token is malformed,
//     unverifiable, expired or revoked;
//   - 403 with error="insufficient_scope" when the token does not allow a
//     call (or the tool has no policy), and a JSON-RPC error response
//     (code [CodeForbidden]) as the body, so that MCP clients report the
//     reason and keep the session;
//   - 400 with a JSON-RPC error (invalid params) when a call cannot be
//     read unambiguously or its resource cannot be derived;
//   - 413 when the body is over Options.MaxBodyBytes.
//
// In a JSON-RPC batch every call is authorized, and one denial refuses the
// whole batch: nothing of it runs.
func (g *Guard) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, err := verifier.BearerToken(r)
		if err != nil {
			d := &verifier.Decision{Err: errors.Join(verifier.ErrDenied, err), Reason: err.Error()}
			status := http.StatusBadRequest
			if errors.Is(err, verifier.ErrNoToken) {
				status = http.StatusUnauthorized
				d.Reason = "this MCP server requires a mandate bearer token; see resource_metadata for the authority"
			}
			verifier.WriteChallenge(w, status, d, g.httpOptions())
			return
		}
		// The token is checked before a byte of the body is read: parsing
		// a body costs far more than a signature check, and only a caller
		// holding a valid token may make the server do that work.
		if !g.authenticate(w, r, tok) {
			return
		}
		if r.Method != http.MethodPost || r.Body == nil {
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
			g.writeRPCDenial(w, http.StatusBadRequest, nil, &verifier.Decision{Reason: err.Error()}, msgs, batch)
			return
		}
		for _, m := range msgs {
			if m.call == nil {
				continue
			}
			d, status := g.authorizeHTTP(r, tok, m.call)
			if status == http.StatusUnauthorized {
				verifier.WriteChallenge(w, status, d, g.httpOptions())
				return
			}
			if status != http.StatusOK {
				g.writeRPCDenial(w, status, m.call, d, msgs, batch)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// authenticate checks the token of a request that calls no tool. It writes
// the 401 challenge and returns false when the token is not valid.
func (g *Guard) authenticate(w http.ResponseWriter, r *http.Request, tok string) bool {
	d := g.v.Authenticate(r.Context(), tok)
	if d.Allowed {
		return true
	}
	status := http.StatusUnauthorized
	if !d.InvalidToken() {
		status = http.StatusForbidden
	}
	verifier.WriteChallenge(w, status, &d, g.httpOptions())
	return false
}

// authorizeHTTP decides one call of an HTTP request and returns the status
// to answer. A call the guard cannot map (no policy, bad arguments) is
// answered 401 if the token is invalid anyway, so that the client learns
// first that it must get a new token.
func (g *Guard) authorizeHTTP(r *http.Request, tok string, c *call) (*verifier.Decision, int) {
	p, ok := g.policy(c.name)
	var mapErr error
	var req verifier.Request
	if !ok {
		mapErr = fmt.Errorf("%w: tool %q (declare it with mcpmw.AddTool)", ErrUndeclaredTool, c.name)
	} else if req, mapErr = p.request(c.name, c.args); mapErr != nil {
		mapErr = fmt.Errorf("%w: %w", verifier.ErrBadRequest, mapErr)
	}
	if mapErr != nil {
		d := g.v.Authenticate(r.Context(), tok)
		if !d.Allowed {
			return &d, verifier.StatusOf(&d)
		}
		d.Allowed, d.Err, d.Reason = false, mapErr, mapErr.Error()
		if errors.Is(mapErr, ErrUndeclaredTool) {
			return &d, http.StatusForbidden
		}
		return &d, http.StatusBadRequest
	}
	d := g.v.Authorize(r.Context(), tok, req)
	return &d, verifier.StatusOf(&d)
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
	data := rpcErrorData{Error: "invalid_request", Description: d.Reason, DecisionID: d.DecisionID, FailedCheck: d.FailedCheck}
	code := -32602 // invalid params
	if status == http.StatusForbidden {
		data.Error, code = "insufficient_scope", CodeForbidden
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
