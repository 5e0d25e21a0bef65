package authority

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/rs/zerolog"
)

// Realm is the realm of the authority's WWW-Authenticate challenges.
const Realm = "mandate"

// handler is the HTTP face of an Authority: it decodes, validates, calls
// the core, and maps errors to statuses in one place (writeError).
type handler struct {
	a       *Authority
	log     zerolog.Logger
	metrics *httpMetrics
	polls   *pollGate
}

var ginModeOnce sync.Once

// NewHandler returns the authority's HTTP API (see the package doc for the
// endpoints). Every response carries an X-Request-ID; every error is JSON
// {"error", "error_description"}.
//
// Mounts add handlers of the authority's other rooms (the console, OAuth
// pages) under their own path prefixes, behind the same request IDs,
// access log, panic recovery and body limit.
func NewHandler(a *Authority, mounts ...Mount) http.Handler {
	return newHandler(a, newPollGate(a.cfg.MaxLongPolls, a.cfg.MaxLongPollsPerClient), mounts...)
}

// Mount is a handler served under a path prefix of the authority's router:
// every method of Prefix and Prefix+"/…" goes to Handler, with the full
// path. Prefix starts with '/' and names none of the API's own paths
// ("/console", "/oauth2/authorize" would clash with nothing; "/v1" would).
type Mount struct {
	Prefix  string
	Handler http.Handler
}

// newHandler is NewHandler with the long-poll gate Serve sized for the
// descriptor limit.
func newHandler(a *Authority, polls *pollGate, mounts ...Mount) http.Handler {
	ginModeOnce.Do(func() {
		if os.Getenv(gin.EnvGinMode) == "" {
			gin.SetMode(gin.ReleaseMode)
		}
	})
	h := &handler{a: a, log: a.log, metrics: newHTTPMetrics(), polls: polls}
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.ContextWithFallback = true
	// The remote address logged is the socket's: X-Forwarded-For is not
	// trusted from anyone (a reverse proxy logs the client's itself).
	_ = r.SetTrustedProxies(nil)
	r.Use(h.requestContext, h.recover, h.limitBody)
	r.NoRoute(func(c *gin.Context) {
		h.writeError(c, fmt.Errorf("%w: no endpoint %s; see /.well-known/oauth-authorization-server and the package documentation for the API", errNoRoute, clip(c.Request.URL.Path)))
	})
	r.NoMethod(func(c *gin.Context) {
		h.writeError(c, fmt.Errorf("%w: %s is not allowed on %s; allowed: %s", errMethod, c.Request.Method, clip(c.Request.URL.Path), c.Writer.Header().Get("Allow")))
	})

	r.POST("/v1/tokens", h.mint)
	r.POST("/v1/revocations", h.revoke)
	r.GET("/v1/revocations", h.feed)
	r.GET("/v1/keys", h.keys)
	r.POST("/v1/keys/rotate", h.rotate)
	// A catch-all, so that a session ID chosen by a client may hold '/'
	// (escaped as %2F or not).
	r.GET("/v1/sessions/*id", h.session)
	r.POST("/v1/clients", h.registerClient)
	r.GET("/v1/clients", h.listClients)
	r.GET("/v1/clients/:id", h.getClient)
	r.DELETE("/v1/clients/:id", h.deleteClient)
	r.POST("/v1/leases", h.lease)
	r.POST("/v1/leases/return", h.returnLease)
	r.POST("/v1/limits/usage", h.limitUsage)
	r.POST("/v1/approvals", h.askApproval)
	r.GET("/v1/approvals", h.listApprovals)
	r.GET("/v1/approvals/:id", h.getApproval)
	r.POST("/v1/approvals/:id/approve", h.decideApproval(true))
	r.POST("/v1/approvals/:id/deny", h.decideApproval(false))
	r.POST("/v1/approvals/:id/redeem", h.redeemApproval)
	r.POST("/v1/people", h.addPerson)
	r.GET("/v1/people", h.listPeople)
	r.GET("/v1/people/:name", h.getPerson)
	r.DELETE("/v1/people/:name", h.deletePerson)
	r.POST("/v1/people/:name/reset", h.resetPerson)
	r.GET("/.well-known/biscuit-web-keys", h.biscuitWebKeys)
	r.GET("/.well-known/oauth-authorization-server", h.metadata)
	r.POST("/oauth2/revoke", h.oauthRevoke)
	r.POST("/oauth2/introspect", h.oauthIntrospect)
	r.GET("/healthz", h.healthz)
	r.GET("/readyz", h.readyz)
	r.GET("/metrics", h.serveMetrics)
	h.decisionRoutes(r)
	for _, m := range mounts {
		p := strings.TrimRight(m.Prefix, "/")
		wrapped := gin.WrapH(m.Handler)
		r.Any(p, wrapped)
		r.Any(p+"/*rest", wrapped)
	}

	for _, rt := range r.Routes() {
		h.metrics.route(rt.Path)
	}
	h.metrics.route(routeUnmatched)
	return r
}

// HTTP-only errors, mapped in writeError like the domain errors.
var (
	errNoRoute  = errors.New("not found")
	errMethod   = errors.New("method not allowed")
	errTooLarge = errors.New("request body too large")
	errMedia    = errors.New("unsupported media type")
)

const routeUnmatched = "unmatched"

// requestContext assigns the request ID, puts a logger carrying it in the
// request context (the core's audit events use it), times the request,
// and writes the access log line.
func (h *handler) requestContext(c *gin.Context) {
	start := time.Now()
	id := c.GetHeader("X-Request-ID")
	if !saneRequestID(id) {
		id = newRequestID()
	}
	c.Header("X-Request-ID", id)
	l := h.log.With().Str("request_id", id).Logger()
	c.Request = c.Request.WithContext(l.WithContext(c.Request.Context()))
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = routeUnmatched
	}
	d := time.Since(start)
	h.metrics.observe(route, d)
	ev := l.Info()
	if c.Writer.Status() >= 500 {
		ev = l.Error()
	}
	ev.Str("method", c.Request.Method).Str("route", route).Int("status", c.Writer.Status()).
		Float64("duration_ms", durationMS(d)).Str("remote", c.ClientIP()).Msg("request")
}

// saneRequestID accepts 1 to 128 characters of [A-Za-z0-9._:-]: enough for
// UUIDs and trace IDs, nothing that could forge a log line.
func saneRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == ':' || r == '-') {
			return false
		}
	}
	return true
}

// requestIDPrefix makes generated request IDs unique across processes; a
// counter makes them unique within one, without a system call per request.
var (
	requestIDPrefix = func() string {
		var b [6]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:]) + "-"
	}()
	requestIDSeq atomic.Uint64
)

func newRequestID() string {
	return requestIDPrefix + strconv.FormatUint(requestIDSeq.Add(1), 36)
}

// recover turns a panic into a logged 500, without the request (its
// headers could hold credentials).
func (h *handler) recover(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			zerolog.Ctx(c.Request.Context()).Error().Str("panic", fmt.Sprint(r)).Bytes("stack", debug.Stack()).Msg("handler panicked")
			h.writeError(c, fmt.Errorf("internal error: %v", r))
		}
	}()
	c.Next()
}

// limitBody caps request bodies at the route's limit (bodyLimit).
func (h *handler) limitBody(c *gin.Context) {
	limit := bodyLimit(c)
	if c.Request.ContentLength > limit {
		h.writeError(c, &http.MaxBytesError{Limit: limit})
		c.Abort()
		return
	}
	if c.Request.Body != nil {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
	}
	c.Next()
}

// errorBody is every error response.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// writeError is the one place that maps errors to HTTP statuses, error
// codes and RFC 6750 challenges.
func (h *handler) writeError(c *gin.Context, err error) {
	status, code := http.StatusInternalServerError, "server_error"
	desc := err.Error()
	challenge := ""
	var maxErr *http.MaxBytesError
	switch {
	case errors.Is(err, errNoCredentials):
		status, code = http.StatusUnauthorized, "unauthorized"
		challenge = fmt.Sprintf("Bearer realm=%q", Realm)
	case errors.Is(err, ErrUnauthenticated):
		status, code = http.StatusUnauthorized, "invalid_token"
		challenge = fmt.Sprintf("Bearer realm=%q, error=\"invalid_token\", error_description=%q", Realm, headerSafe(desc))
	case errors.Is(err, ErrForbidden):
		status, code = http.StatusForbidden, "insufficient_scope"
		challenge = fmt.Sprintf("Bearer realm=%q, error=\"insufficient_scope\", error_description=%q", Realm, headerSafe(desc))
	case errors.Is(err, errTooLarge), errors.As(err, &maxErr):
		status, code = http.StatusRequestEntityTooLarge, "request_too_large"
		limit := int64(MaxBodyBytes)
		if maxErr != nil {
			limit = maxErr.Limit
		}
		desc = fmt.Sprintf("request body is over the limit of %d bytes", limit)
	case errors.Is(err, errMedia):
		status, code = http.StatusUnsupportedMediaType, "unsupported_media_type"
	case errors.Is(err, errMethod):
		status, code = http.StatusMethodNotAllowed, "method_not_allowed"
	case errors.Is(err, errNoRoute), errors.Is(err, ErrNotFound):
		status, code = http.StatusNotFound, "not_found"
	case errors.Is(err, ErrBadRequest), errors.Is(err, ErrInvalidToken):
		status, code = http.StatusBadRequest, "invalid_request"
	case errors.Is(err, ErrExists):
		status, code = http.StatusConflict, "already_exists"
	case errors.Is(err, ErrSessionRevoked):
		status, code = http.StatusConflict, "session_revoked"
	case errors.Is(err, ErrFeedAhead):
		status, code = http.StatusConflict, "sequence_ahead"
	case errors.Is(err, ErrUnavailable), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		status, code = http.StatusServiceUnavailable, "temporarily_unavailable"
		c.Header("Retry-After", "1")
	}
	if status == http.StatusInternalServerError {
		zerolog.Ctx(c.Request.Context()).Error().Err(err).Msg("internal error")
		desc = "internal error; the authority's log has the details under this response's X-Request-ID"
	}
	if challenge != "" {
		c.Header("WWW-Authenticate", challenge)
	}
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(status, errorBody{Error: code, Description: desc})
}

// headerSafe makes text fit a quoted-string in a header: printable ASCII
// without '"' or '\'.
func headerSafe(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 0x20 && r < 0x7f && r != '"' && r != '\\' {
			b.WriteRune(r)
		}
		if b.Len() >= 200 {
			break
		}
	}
	return b.String()
}

var errNoCredentials = fmt.Errorf("%w: send \"Authorization: Bearer <admin token or client secret>\"", ErrUnauthenticated)

// principal authenticates the request. allowBasic also accepts HTTP Basic
// client credentials (client ID and secret), as OAuth clients send them to
// the introspection and revocation endpoints. On failure it writes the
// response and returns false.
func (h *handler) principal(c *gin.Context, allowBasic bool) (Principal, bool) {
	vals := c.Request.Header.Values("Authorization")
	p, ok := h.authenticate(c, vals, allowBasic)
	if !ok {
		h.a.auditAuthFailed(c.Request.Context(), vals, allowBasic, c.Request.Method, c.FullPath(), c.ClientIP())
	}
	return p, ok
}

// authenticate is principal without the audit event.
func (h *handler) authenticate(c *gin.Context, vals []string, allowBasic bool) (Principal, bool) {
	if len(vals) == 0 {
		h.writeError(c, errNoCredentials)
		return Principal{}, false
	}
	if len(vals) > 1 {
		h.writeError(c, fmt.Errorf("%w: more than one Authorization header", ErrUnauthenticated))
		return Principal{}, false
	}
	scheme, cred, _ := strings.Cut(strings.TrimSpace(vals[0]), " ")
	cred = strings.TrimSpace(cred)
	var p Principal
	var err error
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		p, err = h.a.Authenticate(cred)
	case allowBasic && strings.EqualFold(scheme, "Basic"):
		p, err = h.basic(cred)
	default:
		err = fmt.Errorf("%w: %s", ErrUnauthenticated, schemeProblem(scheme, cred))
	}
	if err != nil {
		h.writeError(c, err)
		return Principal{}, false
	}
	return p, true
}

// knownSchemes are HTTP authentication schemes that may be named back to
// the caller. Anything else in the scheme position may be a credential sent
// without a scheme, and is never echoed.
var knownSchemes = []string{"Basic", "Digest", "Negotiate", "NTLM", "DPoP", "HOBA", "Mutual", "Token", "AWS4-HMAC-SHA256"}

// schemeProblem explains an Authorization header that is not "Bearer
// <credential>" without repeating what it holds: a credential pasted
// without "Bearer " sits where the scheme should be, and echoing it would
// put a secret in a response (and in every log that records responses).
func schemeProblem(scheme, rest string) string {
	for _, k := range knownSchemes {
		if strings.EqualFold(scheme, k) {
			return fmt.Sprintf("authorization scheme %s is not supported; send \"Authorization: Bearer <admin token or client secret>\"", k)
		}
	}
	if rest == "" {
		return "the Authorization header has no scheme (its value is not echoed); send \"Authorization: Bearer <admin token or client secret>\""
	}
	return "the Authorization header's scheme is not Bearer (its value is not echoed); send \"Authorization: Bearer <admin token or client secret>\""
}

// basic checks HTTP Basic client credentials, form-urlencoded as RFC 6749
// §2.3.1 prescribes.
func (h *handler) basic(cred string) (Principal, error) {
	raw, err := base64.StdEncoding.DecodeString(cred)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: Basic credentials are not base64", ErrUnauthenticated)
	}
	id, secret, ok := strings.Cut(string(raw), ":")
	if !ok {
		return Principal{}, fmt.Errorf("%w: Basic credentials lack a ':'", ErrUnauthenticated)
	}
	if v, err := url.QueryUnescape(id); err == nil {
		id = v
	}
	if v, err := url.QueryUnescape(secret); err == nil {
		secret = v
	}
	return h.a.AuthenticateClient(id, secret)
}

// decodeJSON reads the request body into v: one JSON object, no unknown
// fields, nothing after it.
func (h *handler) decodeJSON(c *gin.Context, v any) bool {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			h.writeError(c, fmt.Errorf("%w: Content-Type %q; send application/json", errMedia, clip(ct)))
			return false
		}
	}
	dec := json.NewDecoder(c.Request.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, err2 := dec.Token(); !errors.Is(err2, io.EOF) {
			var maxErr *http.MaxBytesError
			if errors.As(err2, &maxErr) {
				err = err2
			} else {
				err = errors.New("trailing data after the JSON object")
			}
		}
	}
	if err != nil {
		h.writeError(c, jsonError(err, v))
		return false
	}
	return true
}

// jsonError explains a decoding failure in terms of the request.
func jsonError(err error, v any) error {
	var maxErr *http.MaxBytesError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &maxErr):
		return err
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%w: empty body; send a JSON object", ErrBadRequest)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: the JSON body is cut short", ErrBadRequest)
	case errors.As(err, &syn):
		return fmt.Errorf("%w: the body is not valid JSON (at byte %d)", ErrBadRequest, syn.Offset)
	case errors.As(err, &typ):
		return fmt.Errorf("%w: field %q must be %s, not a JSON %s", ErrBadRequest, typ.Field, jsonKind(typ.Type), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return fmt.Errorf("%w: unknown field %s; accepted fields: %s", ErrBadRequest, name, strings.Join(jsonFields(reflect.TypeOf(v)), ", "))
	}
	return fmt.Errorf("%w: %s", ErrBadRequest, strings.TrimPrefix(err.Error(), "json: "))
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64, reflect.Uint32:
		return "an integer"
	case reflect.Slice:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Bool:
		return "true or false"
	}
	return t.String()
}

// jsonFields lists the JSON names of a struct's fields.
func jsonFields(t reflect.Type) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// readForm parses an application/x-www-form-urlencoded body. Parameters in
// the URL are refused: a token there ends up in access logs.
func (h *handler) readForm(c *gin.Context) (url.Values, bool) {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		h.writeError(c, fmt.Errorf("%w: send the parameters as application/x-www-form-urlencoded", errMedia))
		return nil, false
	}
	if c.Request.URL.RawQuery != "" {
		h.writeError(c, fmt.Errorf("%w: send the parameters in the body, not the URL (URLs end up in logs)", ErrBadRequest))
		return nil, false
	}
	if err := c.Request.ParseForm(); err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			h.writeError(c, err)
		} else {
			h.writeError(c, fmt.Errorf("%w: unreadable form body", ErrBadRequest))
		}
		return nil, false
	}
	return c.Request.PostForm, true
}

// issuer is the authority's base URL: Config.Issuer, or derived from the
// request.
func (h *handler) issuer(c *gin.Context) string { return h.a.Issuer(c.Request) }

// Issuer is the authority's base URL: Config.Issuer, or derived from the
// request's Host.
func (a *Authority) Issuer(r *http.Request) string {
	if a.cfg.Issuer != "" {
		return strings.TrimRight(a.cfg.Issuer, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
