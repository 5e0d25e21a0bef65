package oauth

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/people"
	"github.com/mandate-dev/mandate/token"
)

// Consent form fields. The authorization request itself stays in the
// page's URL (the form posts back to it), so that fosite validates it
// again on the decision; the body carries only the person's choice.
const (
	fieldDecision   = "decision" // "approve" or "deny"
	fieldCredential = "credential"
	fieldOrg        = "org"
	fieldScope      = "consent_scope" // repeated: the scopes approved
)

// authorize serves the consent page (GET) and takes the decision (POST).
// person is the person signed in to the web layer (nil: the person signs
// in on the page), csrf its session's form token.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, person *people.Person, csrf string) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		writeJSONError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET (the consent page) or POST (the decision)")
		return
	}
	ctx := r.Context()
	// fosite reads the authorization request from the URL only: the
	// decision's body is not part of it.
	areq := r.Clone(ctx)
	areq.Method = http.MethodGet
	areq.Body = http.NoBody
	areq.Form, areq.PostForm = nil, nil
	iss := s.a.Issuer(r)
	ar, err := s.provider.NewAuthorizeRequest(ctx, areq)
	if err != nil {
		s.authorizeError(ctx, w, ar, iss, err)
		return
	}
	if m := ar.GetRequestForm().Get("response_mode"); m != "" && m != "query" {
		s.authorizeError(ctx, w, ar, iss, fosite.ErrInvalidRequest.WithHint("Only response_mode=query is supported."))
		return
	}
	// PKCE is checked before the person sees anything (fosite checks it
	// again when it issues the code): S256 only, plain refused.
	if form := ar.GetRequestForm(); form.Get("code_challenge") == "" {
		s.authorizeError(ctx, w, ar, iss, fosite.ErrInvalidRequest.WithHint("PKCE is required: send code_challenge and code_challenge_method=S256."))
		return
	} else if form.Get("code_challenge_method") != "S256" {
		s.authorizeError(ctx, w, ar, iss, fosite.ErrInvalidRequest.WithHint("Only code_challenge_method=S256 is supported; plain is refused."))
		return
	}
	resource, err := resourceParam(ar.GetRequestForm())
	if err != nil {
		s.authorizeError(ctx, w, ar, iss, err)
		return
	}
	scopes := ar.GetRequestedScopes()
	if len(scopes) > MaxRequestedScopes {
		s.authorizeError(ctx, w, ar, iss, invalidScope(fmt.Sprintf("At most %d scopes per request.", MaxRequestedScopes)))
		return
	}
	// The scopes are checked without an org now, and for the person's
	// org on approval.
	svc, err := s.serviceFor(ctx, resource, scopes, "")
	if err != nil {
		s.authorizeError(ctx, w, ar, iss, err)
		return
	}
	if err := svc.check(scopes); err != nil {
		s.authorizeError(ctx, w, ar, iss, invalidScope(err.Error()))
		return
	}
	page := consentPage{
		Client:   ar.GetClient().GetID(),
		Resource: svc.Resource,
		Service:  svc.Name,
		Title:    svc.Title,
		Lifetime: plainDuration(s.cfg.AccessTokenLifespan),
		Refresh:  plainDuration(s.cfg.RefreshTokenLifespan),
		Redirect: ar.GetRedirectURI().String(),
		// The decision is a form posted here whose answer redirects to
		// the client: browsers apply form-action to that redirect too.
		FormAction: formActionSource(ar.GetRedirectURI()),
	}
	signedIn := person != nil && person.Name != ""
	page.SignedIn, page.CSRF = signedIn, csrf
	if signedIn {
		page.Person = person.Name
		page.Orgs = personOrgs(person)
	}
	for _, sc := range scopes {
		page.Scopes = append(page.Scopes, describeScope(svc, sc))
	}
	if r.Method == http.MethodGet {
		s.renderConsent(w, http.StatusOK, page)
		return
	}

	// The decision.
	if err := r.ParseForm(); err != nil {
		page.Error = "The form could not be read; reload the page and try again."
		s.renderConsent(w, http.StatusBadRequest, page)
		return
	}
	if r.PostForm.Get(fieldDecision) == "deny" {
		s.audit(ctx, "oauth_consent_denied").Str("client_id", page.Client).Str("service", svc.Name).Msg("OAuth consent refused")
		s.authorizeError(ctx, w, ar, iss, fosite.ErrAccessDenied.WithHint("The person refused the request."))
		return
	}
	if r.PostForm.Get(fieldDecision) != "approve" {
		page.Error = "Choose Approve or Deny."
		s.renderConsent(w, http.StatusBadRequest, page)
		return
	}
	if !signedIn {
		p, err := s.a.Authenticate(r.PostForm.Get(fieldCredential))
		if err != nil || p.Person == nil {
			page.Error = "Sign in with your person credential (mp_…) to approve; that credential was not accepted."
			s.renderConsent(w, http.StatusUnauthorized, page)
			return
		}
		person = p.Person
		page.Person = person.Name
		page.Orgs = personOrgs(person)
	}
	org, err := chooseOrg(person, r.PostForm.Get(fieldOrg))
	if err != nil {
		page.Error = err.Error()
		s.renderConsent(w, http.StatusBadRequest, page)
		return
	}
	// The person may narrow the request: approve fewer scopes, never
	// others.
	var approved []string
	for _, sc := range r.PostForm[fieldScope] {
		if !slices.Contains(scopes, sc) {
			page.Error = "Approve only scopes the client asked for."
			s.renderConsent(w, http.StatusBadRequest, page)
			return
		}
		if !slices.Contains(approved, sc) {
			approved = append(approved, sc)
		}
	}
	if len(approved) == 0 {
		s.authorizeError(ctx, w, ar, iss, fosite.ErrAccessDenied.WithHint("The person approved no scope."))
		return
	}
	rights, err := svc.resolve(approved, org)
	if err != nil {
		s.authorizeError(ctx, w, ar, iss, invalidScope(err.Error()))
		return
	}
	// A dry run of the first mint: a right the token could not carry is
	// refused now, not at the token endpoint.
	check := token.MintRequest{Subject: token.Subject{Agent: page.Client, User: person.Name, Org: org}, Rights: rights, TTL: s.cfg.AccessTokenLifespan, Audience: svc.Resource}
	if err := check.Validate(); err != nil {
		s.authorizeError(ctx, w, ar, iss, invalidScope(err.Error()))
		return
	}
	sess := newSession()
	sess.Subject = person.Name
	sess.Username = person.Name
	sess.Grant = Grant{
		Session:  authority.GrantPrincipal(page.Client).SessionID(token.NewSessionID()),
		Agent:    page.Client,
		User:     person.Name,
		Org:      org,
		Rights:   rights,
		Audience: svc.Resource,
		Service:  svc.Name,
	}
	for _, sc := range approved {
		ar.GrantScope(sc)
	}
	resp, err := s.provider.NewAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		s.authorizeError(ctx, w, ar, iss, err)
		return
	}
	resp.AddParameter("iss", iss)
	s.audit(ctx, "oauth_consent").Str("client_id", page.Client).Str("person", person.Name).Str("org", org).
		Str("service", svc.Name).Str("audience", svc.Resource).Strs("scopes", approved).Str("session", sess.Grant.Session).Msg("OAuth consent given")
	s.provider.WriteAuthorizeResponse(ctx, w, ar, resp)
}

// authorizeError answers an authorization request with an error: to the
// person (JSON) when the client or redirect URI is not established — never
// a redirect then — and otherwise by redirecting to the client with the
// error, its state and this issuer (RFC 9207 §2).
func (s *Server) authorizeError(ctx context.Context, w http.ResponseWriter, ar fosite.AuthorizeRequester, iss string, err error) {
	err = standardError(err)
	if ar == nil || !ar.IsRedirectURIValid() {
		rfc := fosite.ErrorToRFC6749Error(err)
		writeJSONError(w, rfc.StatusCode(), rfc.ErrorField, rfc.GetDescription())
		return
	}
	s.provider.WriteAuthorizeError(ctx, &issWriter{ResponseWriter: w, iss: iss}, ar, err)
}

// issWriter adds the iss parameter to the redirect fosite writes.
type issWriter struct {
	http.ResponseWriter
	iss string
}

func (w *issWriter) WriteHeader(status int) {
	if loc := w.Header().Get("Location"); loc != "" && status >= 300 && status < 400 {
		if u, err := url.Parse(loc); err == nil {
			q := u.Query()
			q.Set("iss", w.iss)
			u.RawQuery = q.Encode()
			w.Header().Set("Location", u.String())
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

// chooseOrg returns the org the token is minted for: one of the person's,
// the only one by default.
func chooseOrg(p *people.Person, org string) (string, error) {
	orgs := personOrgs(p)
	switch {
	case org == "" && len(orgs) == 1:
		return orgs[0], nil
	case org == "":
		return "", errors.New("Choose the org the access is for.")
	case orgs != nil && !slices.Contains(orgs, org):
		return "", fmt.Errorf("You may not grant access for org %s.", clip(org))
	}
	if err := token.CheckNameRunes(org); err != nil || len(org) > token.MaxSubjectBytes {
		return "", errors.New("That org name is not valid.")
	}
	return org, nil
}

// scopeView is one requested scope in plain words.
type scopeView struct {
	Scope       string
	Description string
	Rights      []string
}

func describeScope(svc Service, name string) scopeView {
	v := scopeView{Scope: name}
	if sc, ok := svc.Scopes[name]; ok {
		v.Description = sc.Description
		for _, t := range sc.Rights {
			v.Rights = append(v.Rights, describeRight(t.right(svc.Name, OrgPlaceholder)))
		}
		return v
	}
	if r, err := token.ParseScope(name); err == nil {
		v.Description = "One right"
		v.Rights = []string{describeRight(r)}
	}
	return v
}

func describeRight(r token.Right) string {
	tool := "every tool"
	if r.Tool != token.Wildcard {
		tool = "the tool " + r.Tool
	}
	op := "any operation"
	if r.Operation != token.Wildcard {
		op = r.Operation
	}
	res := "every resource"
	if r.Resource != "" {
		res = "resources starting with " + r.Resource
	}
	return fmt.Sprintf("%s: %s, %s, on %s", r.Service, tool, op, res)
}

// plainDuration writes a lifetime for a person: "1 hour", "30 days".
func plainDuration(d time.Duration) string {
	unit := func(n int64, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %ss", n, one)
	}
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return unit(int64(d/(24*time.Hour)), "day")
	case d >= time.Hour && d%time.Hour == 0:
		return unit(int64(d/time.Hour), "hour")
	case d >= time.Minute:
		return unit(int64(d/time.Minute), "minute")
	}
	return unit(int64(d/time.Second), "second")
}

// formActionSource is the CSP source of a redirect URI: its origin, or
// its scheme for a private-use scheme (RFC 8252 §7.1).
func formActionSource(u *url.URL) string {
	if u.Host == "" {
		return u.Scheme + ":"
	}
	return u.Scheme + "://" + u.Host
}

type consentPage struct {
	FormAction                       string
	Client, Resource, Service, Title string
	Lifetime, Refresh                string
	Redirect                         string
	Scopes                           []scopeView
	SignedIn                         bool
	CSRF                             string
	Person                           string
	Orgs                             []string
	Error                            string
}

func (s *Server) renderConsent(w http.ResponseWriter, status int, p consentPage) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' "+p.FormAction+"; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_ = consentTemplate.Execute(w, p)
}

var consentTemplate = template.Must(template.New("consent").Funcs(template.FuncMap{"join": strings.Join}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Authorize {{.Client}} — mandate</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}li{margin:.4rem 0}.err{color:#a00}code{background:#eee;padding:0 .2rem}</style></head>
<body>
<h1>Authorize <code>{{.Client}}</code></h1>
<p><code>{{.Client}}</code> asks for access to <strong>{{if .Title}}{{.Title}}{{else}}{{.Service}}{{end}}</strong> (<code>{{.Resource}}</code>) on your behalf. Its access tokens are valid for {{.Lifetime}} each and are renewed for up to {{.Refresh}} unless you revoke them. After your decision you return to <code>{{.Redirect}}</code>.</p>
{{if .Error}}<p class="err" role="alert">{{.Error}}</p>{{end}}
<form method="post">{{if .CSRF}}<input type="hidden" name="csrf" value="{{.CSRF}}">{{end}}
<fieldset><legend>What it may do (uncheck to narrow)</legend>
<ul>{{range .Scopes}}<li><label><input type="checkbox" name="consent_scope" value="{{.Scope}}" checked> <code>{{.Scope}}</code>{{if .Description}}: {{.Description}}{{end}}</label>
<ul>{{range .Rights}}<li>{{.}}</li>{{end}}</ul></li>{{end}}</ul>
</fieldset>
{{if .SignedIn}}<p>Signed in as <strong>{{.Person}}</strong>.</p>{{else}}<p><label>Your person credential <input type="password" name="credential" autocomplete="current-password" required></label></p>{{end}}
<p><label>For org {{if .Orgs}}<select name="org">{{range .Orgs}}<option>{{.}}</option>{{end}}</select>{{else}}<input name="org" placeholder="acme">{{end}}</label></p>
<p><button type="submit" name="decision" value="approve">Approve</button> <button type="submit" name="decision" value="deny" formnovalidate>Deny</button></p>
</form>
</body></html>
`))
