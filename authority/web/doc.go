// Package web is the authority's browser layer: what every page a person
// opens in a browser shares, the console (package console) and the OAuth
// consent page alike. It knows people (package people) but not the
// authority: a [Web] is built from a kv namespace for its sign-in sessions
// and a [Directory] of people, and hands its pages the signed-in
// [people.Person].
//
// # Using it
//
//  1. Build one: [New]([Config]{Sessions: store.Namespace("web"), People:
//     a.People(), Prefix: "/console"}). Prefix is where the sign-in and
//     sign-out pages live (Prefix+"/signin", Prefix+"/signout").
//  2. Serve [Web.Handler] under Prefix: it answers the sign-in page, sign-in
//     and sign-out, and the shared assets (Prefix+"/assets/…": the style
//     sheet and web.js, embedded in the binary).
//     One Web serves every browser page of an authority, so that one
//     sign-in (one cookie, Path=/) covers them all: the console builds it
//     (console.New) and hands it out (console.Console.Web), or a caller
//     builds it and passes it to console.Config.Web and to its own pages.
//  3. Wrap every page of your own with [Web.Page] (any signed-in person) or
//     [Web.Public] (no sign-in, such as a page that explains something). A
//     page gets a [Request] with the person, the sign-in session's CSRF
//     token and the request; render it with a [Templates] set built by
//     [ParseTemplates] from your own embedded templates, which extend the
//     shared layout ("layout": define "content", and optionally "head"
//     and "nav"). A GET to a Page without a sign-in is redirected to
//     Prefix+"/signin?next=…" and comes back after it ([LocalPath] keeps
//     "next" on this site).
//  4. Every form of a Page posts its Request.CSRF in a hidden field named
//     "csrf" (or a script sends it as X-CSRF-Token).
//
// # What it guarantees
//
//   - Sign-in takes a person's name and credential ("mp_…"). The name is
//     compared in constant time; failed attempts are limited per client IP
//     and per name ([MaxFailuresPerName] per [FailureWindow], [MaxAttemptsPerIP]
//     attempts per minute), and every sign-in, failure and sign-out is an
//     audit event ("audit": true, "event": "web_sign_in" …) that never holds
//     the credential.
//   - Sign-in sessions are server-side, in the kv namespace, stored under
//     the SHA-256 of their ID (the database never holds a live cookie). The
//     cookie is HttpOnly, SameSite=Lax, and when the request came over TLS
//     (or Config.Secure says a proxy terminates it) Secure and named with
//     the __Host- prefix. A session ends after Config.IdleTimeout without a
//     request or Config.MaxAge after sign-in, whichever comes first, at
//     sign-out, and at once when the person is removed (the person is read
//     again on every request, so a changed role applies at once too). A new
//     sign-in ends the session the browser held. Resetting a person's
//     credential does not end its sessions by itself: [Web.SignOutAll] does.
//   - CSRF: every state-changing request (anything but GET, HEAD, OPTIONS)
//     first passes the standard library's [http.CrossOriginProtection]
//     (Sec-Fetch-Site / Origin), then must carry the session's CSRF token in
//     the form field "csrf" (or the X-CSRF-Token header), compared in
//     constant time: the token covers the browsers and clients that send
//     neither header. The sign-in form, before any session, carries a
//     double-submit token bound to a short-lived pre-session cookie.
//   - Every response carries a strict Content-Security-Policy (scripts,
//     styles and images from the page's own origin only; no inline script,
//     no CDN; frame-ancestors 'none'; form-action 'self'), X-Frame-Options
//     DENY, Referrer-Policy same-origin, X-Content-Type-Options nosniff and
//     Cache-Control no-store. A page that must submit a form to another
//     origin (OAuth consent redirecting to a client) widens form-action for
//     that one response with [AllowFormAction].
//   - Templates are html/template: every value is escaped for its context.
//     Nothing this package renders holds a credential, a token or a key;
//     pages must keep to that (render revocation IDs, never tokens).
package web
