package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
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
	// ApprovalURL is the base URL of the authority that approves calls
	// (such as "https://auth.example.com"). An approval_required denial
	// then carries approval_url, ApprovalURL + "/v1/approvals": where the
	// agent files its request for the call ([DenialBody]).
	ApprovalURL string
	// ApprovalPageURL, when set, is the page where a person decides (the
	// authority's console); an approval_required denial carries it as
	// approval_page, with ?call_digest=… appended. MCP clients show it to
	// the person (see verifier/mcpmw).
	ApprovalPageURL string
}

// ApprovalRequestURL is where an agent asks for approvals: ApprovalURL +
// "/v1/approvals", or "" when ApprovalURL is not set.
func (o HTTPOptions) ApprovalRequestURL() string {
	if o.ApprovalURL == "" {
		return ""
	}
	return strings.TrimRight(o.ApprovalURL, "/") + "/v1/approvals"
}

// ApprovalPage is the page where a person decides the call of d:
// ApprovalPageURL with call_digest (and session) in the query; without
// one, the authority's listing of the session's pending requests, which a
// person reads with their credential. "" when neither URL is set.
func (o HTTPOptions) ApprovalPage(d *Decision) string {
	q := url.Values{}
	if d.Session != "" {
		q.Set("session", d.Session)
	}
	switch {
	case o.ApprovalPageURL != "":
		q.Set("call_digest", d.CallDigest)
		sep := "?"
		if strings.Contains(o.ApprovalPageURL, "?") {
			sep = "&"
		}
		return o.ApprovalPageURL + sep + q.Encode()
	case o.ApprovalURL != "":
		q.Set("status", "pending")
		return o.ApprovalRequestURL() + "?" + q.Encode()
	}
	return ""
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
// before next runs. It answers each kind of denial ([Decision.Kind]) the
// way a client can act on it (see [StatusOf] and [WriteChallenge]): 401
// with a Bearer challenge for a missing or invalid token, 403
// insufficient_scope with the scope that would cover the call, and for
// what no grant can fix (a caveat, a bad request, a stale verifier) a
// status and JSON error code without an invitation to authorize again.
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
// the request with fn, takes the approval from the Mandate-Approval header
// ([ApprovalHeader]) unless fn set one, and decides. It returns the decision and the status
// to answer (200 when allowed). Framework adapters build on it.
func (v *Verifier) AuthorizeHTTP(r *http.Request, fn RequestFunc) (*Decision, int) {
	tok, err := BearerToken(r)
	if err != nil {
		if errors.Is(err, ErrNoToken) {
			d := &Decision{Err: fmt.Errorf("%w: %w", ErrDenied, err), Reason: "no bearer token: send the agent's token as \"Authorization: Bearer <token>\""}
			return d, StatusOf(d)
		}
		d := &Decision{Err: fmt.Errorf("%w: %w", ErrBadRequest, err), Reason: err.Error()}
		return d, StatusOf(d)
	}
	req, err := fn(r)
	if err != nil {
		d := &Decision{Err: errors.Join(ErrBadRequest, err), Reason: "cannot map request: " + err.Error()}
		return d, StatusOf(d)
	}
	if req.Approval == "" {
		req.Approval = r.Header.Get(ApprovalHeader)
	}
	d := v.Authorize(r.Context(), tok, req)
	return &d, StatusOf(&d)
}

// StatusOf returns the HTTP status for a decision: 200 when allowed,
// otherwise the status of its kind ([KindStatus]).
func StatusOf(d *Decision) int {
	if d.Allowed {
		return http.StatusOK
	}
	return KindStatus(d.Kind())
}

// KindStatus is the HTTP status of a kind of denial:
//
//	unauthorized, invalid_token                      401
//	insufficient_scope                               403 (with the Bearer challenge)
//	caveat_denied, access_denied, approval_required  403 (without one)
//	limit_exceeded                                   429
//	invalid_request                                  400
//	temporarily_unavailable                          503
func KindStatus(k Kind) int {
	switch k {
	case KindNoToken, KindInvalidToken:
		return http.StatusUnauthorized
	case KindBadRequest:
		return http.StatusBadRequest
	case KindLimitExceeded:
		return http.StatusTooManyRequests
	case KindUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusForbidden
}

// RetryAfterSeconds is the Retry-After of a temporarily_unavailable
// answer: about the time a revocation follower needs to catch up.
const RetryAfterSeconds = "5"

// DenialBody is the JSON body of every denial the HTTP adapters write (and
// the structured content of MCP tool errors). Error is the [Kind]; Scope is
// set for insufficient_scope only; FailedCheck locates the check that
// denied (its block and text are the caller's own token's), never the
// facts of other blocks.
type DenialBody struct {
	Error       string       `json:"error"`
	Description string       `json:"error_description"`
	Scope       string       `json:"scope,omitempty"`
	DecisionID  string       `json:"decision_id,omitempty"`
	FailedCheck *FailedCheck `json:"failed_check,omitempty"`
	// CallDigest is set for approval_required and approval_invalid: the
	// call's digest (token.CallDigest), which the approval must bind.
	CallDigest string `json:"call_digest,omitempty"`
	// ApprovalURL (approval_required, when HTTPOptions.ApprovalURL is set)
	// is where the agent asks: POST it the call with its token.
	ApprovalURL string `json:"approval_url,omitempty"`
	// ApprovalPage (approval_required) is where a person decides.
	ApprovalPage string `json:"approval_page,omitempty"`
}

// Body returns the denial body of d.
func (d *Decision) Body() DenialBody {
	return DenialBody{Error: string(d.Kind()), Description: d.Reason, Scope: d.Scope(), DecisionID: d.DecisionID, FailedCheck: d.FailedCheck, CallDigest: d.CallDigest}
}

// BodyFor is Body with the approval links of opts: for an
// approval_required denial, where to ask and where a person decides.
func (d *Decision) BodyFor(opts HTTPOptions) DenialBody {
	b := d.Body()
	if d.Kind() == KindApprovalRequired {
		b.ApprovalURL, b.ApprovalPage = opts.ApprovalRequestURL(), opts.ApprovalPage(d)
	}
	return b
}

// WriteChallenge writes a denial with the status StatusOf(d) gives (pass
// it as status): the JSON body [DenialBody] and, per RFC 6750 and RFC 9728,
//   - 401: a Bearer challenge, bare when no token was sent, else with
//     error="invalid_token", and resource_metadata when configured;
//   - 403 insufficient_scope: a Bearer challenge with
//     error="insufficient_scope" and scope="…" naming the right that
//     would cover the call, which OAuth clients answer with step-up;
//   - every other denial: no challenge at all, so that no client starts
//     an authorization flow that cannot help (and 503 has Retry-After);
//     approval_required is a 403 whose body carries the call digest and
//     the links where to ask (approval_url) and decide (approval_page).
func WriteChallenge(w http.ResponseWriter, status int, d *Decision, opts HTTPOptions) {
	body := d.BodyFor(opts)
	if body.Error == "" || KindStatus(Kind(body.Error)) != status {
		body.Error = legacyCode(status)
	}
	realm := opts.Realm
	if realm == "" {
		realm = "mandate"
	}
	params := []string{`realm="` + quoteSafe(realm) + `"`}
	challenge := false
	switch Kind(body.Error) {
	case KindNoToken:
		challenge = true
	case KindInvalidToken, KindInsufficientScope:
		challenge = true
		params = append(params, `error="`+body.Error+`"`, `error_description="`+quoteSafe(d.Reason)+`"`)
		if body.Scope != "" {
			params = append(params, `scope="`+quoteSafe(body.Scope)+`"`)
		}
	case KindUnavailable:
		w.Header().Set("Retry-After", RetryAfterSeconds)
	case KindLimitExceeded:
		if s := limitRetryAfter(d); s != "" {
			w.Header().Set("Retry-After", s)
		}
	}
	if challenge {
		if opts.ResourceMetadata != "" {
			params = append(params, `resource_metadata="`+quoteSafe(opts.ResourceMetadata)+`"`)
		}
		w.Header().Set("WWW-Authenticate", "Bearer "+strings.Join(params, ", "))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// legacyCode is the code of a status a caller chose against StatusOf.
func legacyCode(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return string(KindInvalidToken)
	case http.StatusForbidden:
		return string(KindDenied)
	case http.StatusTooManyRequests:
		return string(KindLimitExceeded)
	case http.StatusServiceUnavailable:
		return string(KindUnavailable)
	}
	return string(KindBadRequest)
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
