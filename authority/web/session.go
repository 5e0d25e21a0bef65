package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/mandate-dev/mandate/authority/kv"
	"github.com/mandate-dev/mandate/authority/people"
)

// Cookie names. The __Host- forms are used whenever the cookie is Secure:
// the browser then refuses it unless it is Secure, has Path=/ and no
// Domain, so no sibling subdomain or plain-HTTP page can plant one.
const (
	cookieName        = "mandate_web"
	secureCookieName  = "__Host-mandate_web"
	preCookieName     = "mandate_signin"
	securePreCookieNm = "__Host-mandate_signin"
)

var errNoSession = errors.New("no sign-in session")

// record is a sign-in session as stored under "s/" + hex(SHA-256(ID)).
type record struct {
	Person   string    `json:"person"`
	CSRF     string    `json:"csrf"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen"`
	IP       string    `json:"ip,omitempty"`
}

type signedIn struct {
	key     string
	rev     uint64
	rec     record
	person  people.Person
	expires time.Time // the absolute end
}

func sessionKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "s/" + hex.EncodeToString(sum[:])
}

func randomToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("web: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

func (w *Web) secure(r *http.Request) bool { return w.cfg.Secure || r.TLS != nil }

func (w *Web) cookieNames(r *http.Request) (session, pre string) {
	if w.secure(r) {
		return secureCookieName, securePreCookieNm
	}
	return cookieName, preCookieName
}

func (w *Web) setCookie(rw http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	c := &http.Cookie{
		Name: name, Value: value, Path: "/", HttpOnly: true, Secure: w.secure(r),
		SameSite: http.SameSiteLaxMode, MaxAge: int(maxAge / time.Second),
	}
	if maxAge < 0 {
		c.MaxAge = -1
	}
	http.SetCookie(rw, c)
}

// expiry is when rec ends: idle or absolute, whichever first.
func (w *Web) expiry(rec record) (end, absolute time.Time) {
	absolute = rec.Created.Add(w.cfg.MaxAge)
	end = rec.LastSeen.Add(w.cfg.IdleTimeout)
	if absolute.Before(end) {
		end = absolute
	}
	return end, absolute
}

// session reads the request's sign-in session, ends it if it timed out or
// its person is gone, and refreshes its last-seen time now and then.
func (w *Web) session(r *http.Request) (*signedIn, error) {
	name, _ := w.cookieNames(r)
	c, err := r.Cookie(name)
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return nil, errNoSession
	}
	ctx := r.Context()
	key := sessionKey(c.Value)
	e, err := w.cfg.Sessions.Get(ctx, key)
	if errors.Is(err, kv.ErrNotFound) {
		return nil, errNoSession
	}
	if err != nil {
		return nil, err
	}
	var rec record
	if err := json.Unmarshal(e.Value, &rec); err != nil {
		return nil, fmt.Errorf("%w: sign-in session: %v", kv.ErrCorrupt, err)
	}
	now := w.now()
	end, absolute := w.expiry(rec)
	if !now.Before(end) {
		_, _ = w.cfg.Sessions.Apply(ctx, kv.Op{Key: key, Delete: true})
		return nil, errNoSession
	}
	p, err := w.cfg.People.Get(ctx, rec.Person)
	if errors.Is(err, people.ErrNotFound) {
		_, _ = w.cfg.Sessions.Apply(ctx, kv.Op{Key: key, Delete: true})
		return nil, errNoSession
	}
	if err != nil {
		return nil, err
	}
	s := &signedIn{key: key, rev: e.Rev, rec: rec, person: p, expires: absolute}
	if now.Sub(rec.LastSeen) >= touchEvery {
		rec.LastSeen = now
		end, _ := w.expiry(rec)
		if raw, err := json.Marshal(rec); err == nil {
			// A lost race with another request's refresh is harmless.
			if _, err := w.cfg.Sessions.Apply(ctx, kv.Update(key, raw, e.Rev, end)); err == nil {
				s.rec = rec
			}
		}
	}
	return s, nil
}

// start creates a sign-in session for person and sets its cookie.
func (w *Web) start(ctx context.Context, rw http.ResponseWriter, r *http.Request, person string) error {
	id, err := randomToken()
	if err != nil {
		return err
	}
	csrf, err := randomToken()
	if err != nil {
		return err
	}
	now := w.now()
	rec := record{Person: person, CSRF: csrf, Created: now, LastSeen: now, IP: clientIP(r)}
	raw, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	end, _ := w.expiry(rec)
	if _, err := w.cfg.Sessions.Apply(ctx, kv.Create(sessionKey(id), raw, end)); err != nil {
		return err
	}
	name, _ := w.cookieNames(r)
	// The cookie lives as long as the session may; the server ends it
	// earlier when it idles.
	w.setCookie(rw, r, name, id, w.cfg.MaxAge)
	return nil
}

// signOut ends the sign-in session.
func (w *Web) signOut(rw http.ResponseWriter, r *Request) {
	name, _ := w.cookieNames(r.Request)
	if c, err := r.Cookie(name); err == nil {
		if _, err := w.cfg.Sessions.Apply(r.Context(), kv.Op{Key: sessionKey(c.Value), Delete: true}); err != nil {
			w.log.Error().Err(err).Msg("web: end sign-in session")
			Error(rw, r.Request, http.StatusServiceUnavailable, "Could not sign you out (the sign-in store is unavailable); try again.")
			return
		}
	}
	w.setCookie(rw, r.Request, name, "", -1)
	w.audit(r.Context(), "web_sign_out").Str("person", r.Person.Name).Msg("signed out")
	http.Redirect(rw, r.Request, w.cfg.Prefix+"/signin", http.StatusSeeOther)
}

// SignOutAll ends every sign-in session of a person (after its removal or
// a credential reset, for instance). It returns how many ended.
func (w *Web) SignOutAll(ctx context.Context, person string) (int, error) {
	var keys []string
	err := w.cfg.Sessions.Scan(ctx, kv.ScanOptions{Prefix: "s/"}, func(e kv.Entry) bool {
		var rec record
		if json.Unmarshal(e.Value, &rec) == nil && rec.Person == person {
			keys = append(keys, e.Key)
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	for _, k := range keys {
		if _, err := w.cfg.Sessions.Apply(ctx, kv.Op{Key: k, Delete: true}); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}

// signInView is the sign-in page's data.
type signInView struct {
	Name, Next, Pre, Error string
}

func (w *Web) signInPage(rw http.ResponseWriter, r *Request) {
	next := LocalPath(r.URL.Query().Get("next"), w.cfg.Prefix+"/")
	if r.SignedIn() {
		http.Redirect(rw, r.Request, next, http.StatusSeeOther)
		return
	}
	w.renderSignIn(rw, r, http.StatusOK, signInView{Next: next})
}

func (w *Web) renderSignIn(rw http.ResponseWriter, r *Request, status int, v signInView) {
	pre, err := randomToken()
	if err != nil {
		Error(rw, r.Request, http.StatusInternalServerError, "Could not prepare the sign-in form; reload the page.")
		return
	}
	_, preName := w.cookieNames(r.Request)
	w.setCookie(rw, r.Request, preName, pre, preSessionAge)
	v.Pre = pre
	w.signIn.RenderTitle(rw, r, status, "signin", "Sign in", v)
}

func (w *Web) signInPost(rw http.ResponseWriter, r *Request) {
	ctx := r.Context()
	ip := clientIP(r.Request)
	name := strings.TrimSpace(r.PostFormValue("name"))
	cred := strings.TrimSpace(r.PostFormValue("credential"))
	next := LocalPath(r.PostFormValue("next"), w.cfg.Prefix+"/")
	view := signInView{Name: clip(name), Next: next}
	// The form's token must match the pre-session cookie it was served
	// with (login CSRF in browsers that send no Sec-Fetch-Site or Origin).
	_, preName := w.cookieNames(r.Request)
	c, err := r.Cookie(preName)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("pre"))) != 1 {
		w.audit(ctx, "web_csrf_refused").Str("path", r.URL.Path).Str("remote", ip).Msg("sign-in form without its pre-session token refused")
		view.Error = "The sign-in form expired or did not come from this site. Try again."
		w.renderSignIn(rw, r, http.StatusForbidden, view)
		return
	}
	now := w.now()
	if wait := w.limiter.blocked(name, ip, now); wait > 0 {
		w.audit(ctx, "web_sign_in_limited").Str("person", clip(name)).Str("remote", ip).Msg("sign-in rate limited")
		rw.Header().Set("Retry-After", fmt.Sprint(int(wait/time.Second)+1))
		view.Error = fmt.Sprintf("Too many sign-in attempts. Wait %s and try again.", wait.Round(time.Second))
		w.renderSignIn(rw, r, http.StatusTooManyRequests, view)
		return
	}
	person, err := w.cfg.People.Authenticate(ctx, cred)
	// The name is compared in constant time, and compared even when the
	// credential is unknown, so that the answer's timing tells nothing.
	nameOK := subtle.ConstantTimeCompare([]byte(person.Name), []byte(name)) == 1
	if err != nil && !errors.Is(err, people.ErrUnauthenticated) {
		w.log.Error().Err(err).Msg("web: authenticate a person")
		view.Error = "The people directory is unavailable; try again in a moment."
		w.renderSignIn(rw, r, http.StatusServiceUnavailable, view)
		return
	}
	if err != nil || !nameOK || name == "" {
		w.limiter.fail(name, now)
		w.audit(ctx, "web_sign_in_failed").Str("person", clip(name)).Str("remote", ip).Msg("sign-in refused")
		view.Error = "That name and credential do not match a person. Check both (the credential starts with mp_; an admin can reset it with 'mandate authority people reset NAME')."
		w.renderSignIn(rw, r, http.StatusUnauthorized, view)
		return
	}
	// A sign-in replaces whatever session the browser held.
	if name, _ := w.cookieNames(r.Request); name != "" {
		if old, err := r.Cookie(name); err == nil && old.Value != "" {
			_, _ = w.cfg.Sessions.Apply(ctx, kv.Op{Key: sessionKey(old.Value), Delete: true})
		}
	}
	if err := w.start(ctx, rw, r.Request, person.Name); err != nil {
		w.log.Error().Err(err).Msg("web: start sign-in session")
		view.Error = "Could not start your session (the sign-in store is unavailable); try again."
		w.renderSignIn(rw, r, http.StatusServiceUnavailable, view)
		return
	}
	w.setCookie(rw, r.Request, preName, "", -1)
	w.audit(ctx, "web_sign_in").Str("person", person.Name).Str("role", string(person.Role)).Str("remote", ip).Msg("signed in")
	http.Redirect(rw, r.Request, next, http.StatusSeeOther)
}
