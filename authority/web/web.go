package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/mandate-dev/mandate/authority/kv"
	"github.com/mandate-dev/mandate/authority/people"
)

// Defaults and limits.
const (
	// DefaultIdleTimeout ends a sign-in session after this long without a
	// request.
	DefaultIdleTimeout = 30 * time.Minute
	// DefaultMaxAge ends a sign-in session this long after sign-in,
	// however busy.
	DefaultMaxAge = 12 * time.Hour
	// touchEvery is how stale a session's last-seen time may get before a
	// request writes it again: one durable write per person per minute,
	// not per request.
	touchEvery = time.Minute
	// MaxFailuresPerName failed sign-ins for one name within FailureWindow
	// lock that name out for the rest of the window.
	MaxFailuresPerName = 5
	// FailureWindow is the window of MaxFailuresPerName.
	FailureWindow = 15 * time.Minute
	// MaxAttemptsPerIP sign-in attempts per minute from one client IP.
	MaxAttemptsPerIP = 20
	// maxLimiterKeys bounds the rate limiter's memory; past it the oldest
	// windows are forgotten.
	maxLimiterKeys = 100000
	// preSessionAge is how long the sign-in form's pre-session cookie
	// lives.
	preSessionAge = time.Hour
)

// Directory is what Web needs of the people: *people.Directory implements
// it.
type Directory interface {
	// Authenticate returns the person whose credential cred is.
	Authenticate(ctx context.Context, cred string) (people.Person, error)
	// Get returns a person by name, or an error wrapping
	// people.ErrNotFound.
	Get(ctx context.Context, name string) (people.Person, error)
}

// Config configures a Web.
type Config struct {
	// Sessions is the kv namespace that holds sign-in sessions.
	Sessions kv.KV
	// People authenticates sign-ins and is read again on every request.
	People Directory
	// Prefix is the path the sign-in pages and assets are served under
	// ("/console"); the page a person lands on after signing in without a
	// "next" is Prefix+"/".
	Prefix string
	// IdleTimeout and MaxAge bound a sign-in session (defaults
	// DefaultIdleTimeout and DefaultMaxAge).
	IdleTimeout, MaxAge time.Duration
	// Secure marks cookies Secure (and __Host-) even when a request did
	// not come over TLS: set it when a reverse proxy terminates HTTPS.
	Secure bool
	// Logger receives audit events when the request context has no logger
	// (the authority's handler puts one there).
	Logger *zerolog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Web is the shared browser layer. It is safe for concurrent use.
type Web struct {
	cfg     Config
	log     zerolog.Logger
	now     func() time.Time
	cop     *http.CrossOriginProtection
	limiter *limiter
	signIn  *Templates
}

// New checks cfg and returns a Web.
func New(cfg Config) (*Web, error) {
	if cfg.Sessions == nil || cfg.People == nil {
		return nil, errors.New("web: Config.Sessions and Config.People are required")
	}
	cfg.Prefix = strings.TrimRight(cfg.Prefix, "/")
	if cfg.Prefix != "" && !strings.HasPrefix(cfg.Prefix, "/") {
		return nil, fmt.Errorf("web: Config.Prefix %q must start with '/'", cfg.Prefix)
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	w := &Web{cfg: cfg, log: zerolog.Nop(), now: cfg.Now, cop: http.NewCrossOriginProtection(), limiter: newLimiter()}
	if cfg.Logger != nil {
		w.log = *cfg.Logger
	}
	w.cop.SetDenyHandler(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.audit(r.Context(), "web_csrf_refused").Str("path", r.URL.Path).Str("origin", clip(r.Header.Get("Origin"))).Msg("cross-origin request refused")
		Error(rw, r, http.StatusForbidden, "This request came from another site and was refused. Go back to the page, reload it and try again.")
	}))
	t, err := ParseTemplates(templateFS, nil, "templates/signin.html")
	if err != nil {
		return nil, err
	}
	w.signIn = t
	return w, nil
}

// Prefix is the path the Web serves under.
func (w *Web) Prefix() string { return w.cfg.Prefix }

// Handler serves the sign-in page (GET and POST Prefix+"/signin"), sign-out
// (POST Prefix+"/signout") and the shared assets (Prefix+"/assets/").
// Mount it under Prefix; paths it does not know are 404.
func (w *Web) Handler() http.Handler {
	mux := http.NewServeMux()
	p := w.cfg.Prefix
	mux.Handle("GET "+p+"/signin", w.Public(w.signInPage))
	mux.Handle("POST "+p+"/signin", w.Public(w.signInPost))
	mux.Handle("POST "+p+"/signout", w.Page(w.signOut))
	mux.Handle("GET "+p+"/assets/", Headers(http.StripPrefix(p+"/assets/", AssetHandler(assetFS, "assets"))))
	return mux
}

// Request is what a page handler gets.
type Request struct {
	*http.Request
	// Person is the signed-in person (zero in a Public page).
	Person people.Person
	// CSRF is the token every form of the page must carry in the field
	// "csrf" ("" in a Public page, whose forms need none but sign-in's).
	CSRF string
	// SessionExpires is when the sign-in session ends at the latest.
	SessionExpires time.Time
	// Prefix is the Web's path prefix (for links to assets and sign-out).
	Prefix string
}

// SignedIn reports whether a person is signed in.
func (r *Request) SignedIn() bool { return r.Person.Name != "" }

// PageFunc handles a page.
type PageFunc func(w http.ResponseWriter, r *Request)

// Page wraps a page that needs a signed-in person: the security headers,
// cross-origin protection and the CSRF token on unsafe methods, and the
// sign-in session. Without one, a GET is redirected to the sign-in page
// (coming back afterwards) and anything else is 401.
func (w *Web) Page(h PageFunc) http.Handler {
	return Headers(w.cop.Handler(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		s, err := w.session(r)
		if err != nil {
			if errors.Is(err, errNoSession) {
				if r.Method == http.MethodGet || r.Method == http.MethodHead {
					http.Redirect(rw, r, w.cfg.Prefix+"/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
					return
				}
				Error(rw, r, http.StatusUnauthorized, "You are not signed in (or your session ended). Sign in again, then repeat what you were doing.")
				return
			}
			w.log.Error().Err(err).Msg("web: read sign-in session")
			Error(rw, r, http.StatusServiceUnavailable, "The sign-in store is unavailable; try again in a moment.")
			return
		}
		if unsafeMethod(r.Method) {
			got := r.Header.Get("X-CSRF-Token")
			if got == "" {
				got = r.PostFormValue("csrf")
			}
			if subtle.ConstantTimeCompare([]byte(got), []byte(s.rec.CSRF)) != 1 {
				w.audit(r.Context(), "web_csrf_refused").Str("person", s.person.Name).Str("path", r.URL.Path).Msg("form without a valid CSRF token refused")
				Error(rw, r, http.StatusForbidden, "This form is stale or did not come from this site. Reload the page and try again.")
				return
			}
		}
		h(rw, &Request{Request: r, Person: s.person, CSRF: s.rec.CSRF, SessionExpires: s.expires, Prefix: w.cfg.Prefix})
	})))
}

// Public wraps a page that needs no sign-in with the security headers and
// cross-origin protection. A signed-in person, if any, is in the Request.
func (w *Web) Public(h PageFunc) http.Handler {
	return Headers(w.cop.Handler(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		req := &Request{Request: r, Prefix: w.cfg.Prefix}
		if s, err := w.session(r); err == nil {
			req.Person, req.CSRF, req.SessionExpires = s.person, s.rec.CSRF, s.expires
		}
		h(rw, req)
	})))
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// CSP is the Content-Security-Policy of every response.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Headers sets the security headers on every response of h.
func Headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		hd := rw.Header()
		hd.Set("Content-Security-Policy", CSP)
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		if hd.Get("Cache-Control") == "" {
			hd.Set("Cache-Control", "no-store")
		}
		h.ServeHTTP(rw, r)
	})
}

// AllowFormAction widens the form-action directive of this response's
// Content-Security-Policy to the given origins (such as an OAuth client's
// redirect URI origin, which a consent form's POST redirects to). Call it
// before writing the response.
func AllowFormAction(rw http.ResponseWriter, origins ...string) {
	var ok []string
	for _, o := range origins {
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" || strings.ContainsAny(o, " ;,'\"") {
			continue
		}
		ok = append(ok, u.Scheme+"://"+u.Host)
	}
	if len(ok) == 0 {
		return
	}
	rw.Header().Set("Content-Security-Policy", strings.Replace(CSP, "form-action 'self'", "form-action 'self' "+strings.Join(ok, " "), 1))
}

// clientIP is the socket's address: X-Forwarded-For is trusted from no one,
// as in the authority's API.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// audit starts an audit event on the request's logger.
func (w *Web) audit(ctx context.Context, event string) *zerolog.Event {
	l := zerolog.Ctx(ctx)
	if l == zerolog.DefaultContextLogger || l.GetLevel() == zerolog.Disabled {
		l = &w.log
	}
	return l.Info().Bool("audit", true).Str("event", event)
}

// clip shortens caller-supplied text echoed in a log or page.
func clip(s string) string {
	if len(s) > 64 {
		s = strings.ToValidUTF8(s[:64], "") + "…"
	}
	return s
}

// LocalPath returns next if it is a path on this site, else home: the only
// places a sign-in may send a person back to (never another host, never
// "//host" or "/\host").
func LocalPath(next, home string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n\t") {
		return home
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return home
	}
	return next
}
