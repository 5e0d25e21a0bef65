// Package console is the authority's web console: server-rendered pages,
// served by the authority itself (same binary, same port, under /console/),
// where people see sessions, their delegation trees and decisions, and act:
// revoke a hop or a session, rotate keys.
//
// # Serving it
//
//	c, err := console.New(console.Config{Authority: a})
//	h := authority.NewHandler(a, c.Mount())
//
// or, with [authority.Serve], ServeConfig.Mount returning c.Mount(). `mandate
// authority serve` does this and prints the console's URL; `mandate demo
// --keep` leaves one running with a demo admin.
//
// People sign in with their name and credential (package people; created
// with `mandate authority people add`); the sign-in, the cookie, CSRF and
// the security headers are package web's. What a person sees and may do
// follows its role:
//
//   - admin: every session, decision, approval request and revocation;
//     revokes hops and sessions, approves and denies, rotates keys, reads
//     the clients;
//   - approver: the sessions, decisions and approval requests of its orgs;
//     approves and denies them (where their caveats accept it);
//   - viewer: the same, read only.
//
// Buttons a person may not use are not drawn, and the server refuses the
// request anyway: every action checks the role again (and the authority
// checks the principal once more).
//
// # Pages
//
//	/console/sessions           live and recent sessions, newest first; filter by status, org, text
//	/console/session?id=ID      one session: its delegation tree (the authority block of each
//	                            minted token, then every attenuation hop the verifiers have
//	                            reported, with its holder, revocation ID and recent decisions);
//	                            its usage against its limits, its approval requests; revoke a
//	                            hop or the whole session, after a confirmation step
//	/console/approvals          the approval queue: the call, its arguments, the reason and the
//	                            chain that asks; approve or deny with a comment
//	/console/decisions          the decision log as a filterable timeline (session, agent, org,
//	                            outcome) with the denial reasons; new decisions arrive live
//	                            (/console/decisions/stream, Server-Sent Events)
//	/console/revocations        the revocation log, newest first
//	/console/keys               the root keys; rotate (admin)
//	/console/clients            the registered clients and their ceilings (admin)
//
// The tree's hops come from the decision log (package authority/decisions):
// a verifier that ships its decisions (verifier/decisionlog) reports every
// block's revocation ID and the delegated_to names of the token it
// decided, so a hop appears once a token carrying it has been used. The
// holder shown is what the hop's block states: the delegator's claim, not
// an identity.
//
// Nothing here renders a token, a secret or a key's private half:
// sessions are shown by ID, blocks by revocation ID, keys by public key,
// approval requests without their signed approval.
package console

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/web"
)

// DefaultPrefix is where the console is served.
const DefaultPrefix = "/console"

// Config configures a Console.
type Config struct {
	// Authority is the authority the console shows and acts on.
	Authority *authority.Authority
	// Web is the shared browser layer; nil builds one on the authority's
	// "web" kv namespace under Prefix.
	Web *web.Web
	// Prefix is the console's path (default DefaultPrefix). With Web
	// set, it must be Web's prefix.
	Prefix string
	// Secure marks cookies Secure even without TLS on the request (a
	// proxy terminates HTTPS); see web.Config.Secure.
	Secure bool
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Console serves the console's pages.
type Console struct {
	a      *authority.Authority
	web    *web.Web
	prefix string
	now    func() time.Time
	pages  *web.Templates
	mux    *http.ServeMux
}

// New builds a Console.
func New(cfg Config) (*Console, error) {
	if cfg.Authority == nil {
		return nil, errors.New("console: Config.Authority is required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	cfg.Prefix = strings.TrimRight(cfg.Prefix, "/")
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	w := cfg.Web
	if w == nil {
		var err error
		w, err = web.New(web.Config{Sessions: cfg.Authority.Namespace("web"), People: cfg.Authority.People(), Prefix: cfg.Prefix, Secure: cfg.Secure, Now: cfg.Now})
		if err != nil {
			return nil, err
		}
	}
	if w.Prefix() != cfg.Prefix {
		return nil, fmt.Errorf("console: Config.Prefix %q is not the Web's %q", cfg.Prefix, w.Prefix())
	}
	pages, err := web.ParseTemplates(templateFS, funcs(cfg.Now), "templates/*.html")
	if err != nil {
		return nil, err
	}
	c := &Console{a: cfg.Authority, web: w, prefix: cfg.Prefix, now: cfg.Now, pages: pages}
	c.routes()
	return c, nil
}

// Handler serves the console (full paths, under the prefix).
func (c *Console) Handler() http.Handler { return c.mux }

// Mount is the console as an authority.Mount, for authority.NewHandler or
// ServeConfig.Mount.
func (c *Console) Mount() authority.Mount {
	return authority.Mount{Prefix: c.prefix, Handler: c.mux}
}

// Web is the console's browser layer (for other pages that share its
// sign-in, such as OAuth consent).
func (c *Console) Web() *web.Web { return c.web }

func (c *Console) routes() {
	p := c.prefix
	m := http.NewServeMux()
	m.Handle(p+"/", c.web.Handler())
	m.Handle("GET "+p+"/assets/console/", web.Headers(http.StripPrefix(p+"/assets/console/", web.AssetHandler(assetFS, "assets"))))
	m.Handle("GET "+p+"/{$}", c.web.Page(func(w http.ResponseWriter, r *web.Request) {
		http.Redirect(w, r.Request, p+"/sessions", http.StatusSeeOther)
	}))
	m.Handle("GET "+p, http.RedirectHandler(p+"/", http.StatusSeeOther))
	m.Handle("GET "+p+"/sessions", c.web.Page(c.sessions))
	m.Handle("GET "+p+"/session", c.web.Page(c.session))
	m.Handle("GET "+p+"/revoke", c.web.Page(c.admin(c.revokeConfirm)))
	m.Handle("POST "+p+"/revoke", c.web.Page(c.admin(c.revoke)))
	m.Handle("GET "+p+"/revocations", c.web.Page(c.revocations))
	m.Handle("GET "+p+"/keys", c.web.Page(c.keys))
	m.Handle("POST "+p+"/keys/rotate", c.web.Page(c.admin(c.rotate)))
	m.Handle("GET "+p+"/clients", c.web.Page(c.admin(c.clients)))
	m.Handle("GET "+p+"/decisions", c.web.Page(c.decisionsPage))
	m.Handle("GET "+p+"/decisions/stream", c.web.Page(c.decisionsStream))
	m.Handle("GET "+p+"/approvals", c.web.Page(c.approvalsPage))
	m.Handle("POST "+p+"/approvals/decide", c.web.Page(c.decide))
	c.mux = m
}

// principal is the signed-in person as the authority knows principals.
func principal(r *web.Request) authority.Principal {
	p := r.Person
	return authority.Principal{Admin: p.IsAdmin(), Person: &p}
}

// admin refuses anyone but an admin, whatever the page drew.
func (c *Console) admin(h web.PageFunc) web.PageFunc {
	return func(w http.ResponseWriter, r *web.Request) {
		if !r.Person.IsAdmin() {
			c.fail(w, r, fmt.Errorf("%w: only an admin may do this (you are %s)", authority.ErrForbidden, r.Person.Role))
			return
		}
		h(w, r)
	}
}

// fail maps the authority's errors to a status and an error page.
func (c *Console) fail(w http.ResponseWriter, r *web.Request, err error) {
	status := http.StatusInternalServerError
	msg := err.Error()
	switch {
	case errors.Is(err, authority.ErrForbidden):
		status = http.StatusForbidden
	case errors.Is(err, authority.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, authority.ErrBadRequest), errors.Is(err, authority.ErrInvalidToken):
		status = http.StatusBadRequest
	case errors.Is(err, authority.ErrUnavailable):
		status = http.StatusServiceUnavailable
	default:
		msg = "internal error; the authority's log has the details"
	}
	web.Error(w, r.Request, status, msg)
}
