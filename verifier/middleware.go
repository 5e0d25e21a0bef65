package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// RequestFunc maps an incoming HTTP request to the tool call it performs.
// The tool server supplies it: the verifier never guesses a tool, operation
// or resource from a URL. An error answers 400 and the handler does not run.
type RequestFunc func(r *http.Request) (Request, error)

// HTTPOptions tune the HTTP adapters.
type HTTPOptions struct {
	// Realm is the realm of WWW-Authenticate challenges (default "mandate").
	Realm string
	// ResourceMetadata, when set, is added to challenges as
	// resource_metadata="…" (RFC 9728), as MCP clients expect.
	ResourceMetadata string
}

type ctxKey struct{}

// WithDecision returns a context carrying d.
func WithDecision(ctx context.Context, d *Decision) context.Context {
	return context.WithValue(ctx, ctxKey{}, d)
}

// DecisionFrom returns the decision the middleware stored in ctx.
func DecisionFrom(ctx context.Context) (*Decision, bool) {
	d, ok := ctx.Value(ctxKey{}).(*Decision)
	return d, ok
}

// ErrNoToken is returned by BearerToken when the request carries none.
var ErrNoToken = errors.New("no bearer token")

// BearerToken extracts the token of an "Authorization: Bearer …" header
// (RFC 6750 §2.1). Tokens in query strings or bodies are not accepted: they
// end up in logs.
func BearerToken(r *http.Request) (string, error) {
	h := r.Header.Values("Authorization")
	if len(h) == 0 {
		return "", ErrNoToken
	}
	if len(h) > 1 {
		return "", errors.New("more than one Authorization header")
	}
	// Never echo the header: a token sent without "Bearer " sits where
	// the scheme should be.
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h[0]), " ")
	if !ok {
		return "", errors.New(`the Authorization header has no scheme (its value is not echoed): send "Authorization: Bearer <token>"`)
	}
	if !strings.EqualFold(scheme, "Bearer") {
		return "", errors.New(`authorization scheme is not Bearer (the header is not echoed): send "Authorization: Bearer <token>"`)
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", ErrNoToken
	}
	return tok, nil
}

// Middleware returns net/http middleware that authorizes every request
// before next runs. It answers, per RFC 6750:
//   - 401 with a bare Bearer challenge when no token is sent;
//   - 401 invalid_token when the token is malformed, unverifiable, expired
//     or revoked;
//   - 403 insufficient_scope when the token does not allow this call;
//   - 400 invalid_request when fn cannot map the request.
//
// The decision is stored in the request context (DecisionFrom).
func Middleware(v *Verifier, fn RequestFunc, opts HTTPOptions) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			d, status := v.AuthorizeHTTP(r, fn)
			if status != http.StatusOK {
				WriteChallenge(w, status, d, opts)
				return
			}
			next.ServeHTTP(w, r.WithContext(WithDecision(r.Context(), d)))
		})
	}
}

// AuthorizeHTTP authorizes an HTTP request: it reads the bearer token, maps
// the request with fn and decides. It returns the decision and the status
// to answer (200 when allowed). Framework adapters build on it.
func (v *Verifier) AuthorizeHTTP(r *http.Request, fn RequestFunc) (*Decision, int) {
	tok, err := BearerToken(r)
	if err != nil {
		d := &Decision{Err: fmt.Errorf("%w: %w", ErrDenied, err), Reason: err.Error()}
		if errors.Is(err, ErrNoToken) {
			d.Reason = "no bearer token: send the agent's token as \"Authorization: Bearer <token>\""
			return d, http.StatusUnauthorized
		}
		return d, http.StatusBadRequest
	}
	req, err := fn(r)
	if err != nil {
		return &Decision{Err: errors.Join(ErrBadRequest, err), Reason: "cannot map request: " + err.Error()}, http.StatusBadRequest
	}
	d := v.Authorize(r.Context(), tok, req)
	return &d, StatusOf(&d)
}

// StatusOf returns the HTTP status for a decision: 200, 401 or 403.
func StatusOf(d *Decision) int {
	switch {
	case d.Allowed:
		return http.StatusOK
	case d.InvalidToken():
		return http.StatusUnauthorized
	case errors.Is(d.Err, ErrBadRequest):
		return http.StatusBadRequest
	}
	return http.StatusForbidden
}

// errorCode is the RFC 6750 error code of a status.
func errorCode(status int, d *Decision) string {
	switch status {
	case http.StatusUnauthorized:
		if errors.Is(d.Err, ErrNoToken) {
			return ""
		}
		return "invalid_token"
	case http.StatusForbidden:
		return "insufficient_scope"
	}
	return "invalid_request"
}

// WriteChallenge writes a denial: the WWW-Authenticate challenge and a JSON
// body {"error", "error_description", "decision_id", "failed_check"}.
func WriteChallenge(w http.ResponseWriter, status int, d *Decision, opts HTTPOptions) {
	code := errorCode(status, d)
	realm := opts.Realm
	if realm == "" {
		realm = "mandate"
	}
	params := []string{`realm="` + quoteSafe(realm) + `"`}
	if code != "" {
		params = append(params, `error="`+code+`"`, `error_description="`+quoteSafe(d.Reason)+`"`)
	}
	if opts.ResourceMetadata != "" {
		params = append(params, `resource_metadata="`+quoteSafe(opts.ResourceMetadata)+`"`)
	}
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		w.Header().Set("WWW-Authenticate", "Bearer "+strings.Join(params, ", "))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	body := struct {
		Error       string       `json:"error"`
		Description string       `json:"error_description"`
		DecisionID  string       `json:"decision_id,omitempty"`
		FailedCheck *FailedCheck `json:"failed_check,omitempty"`
	}{code, d.Reason, d.DecisionID, d.FailedCheck}
	if body.Error == "" {
		body.Error = "invalid_request"
		if status == http.StatusUnauthorized {
			body.Error = "unauthorized"
		}
	}
	_ = json.NewEncoder(w).Encode(body)
}

// quoteSafe keeps only the characters RFC 6750 allows in a quoted
// error_description (printable ASCII without '"' and '\').
func quoteSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '"' || r == '\\':
			return '\''
		case r < 0x20 || r > 0x7e:
			return '?'
		}
		return r
	}, s)
}
