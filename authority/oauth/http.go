package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/ory/fosite"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/people"
	"github.com/mandate-dev/mandate/token"
)

// Handler serves the OAuth endpoints in front of api (the authority's
// HTTP API, authority.NewHandler), which answers everything else:
//
//	GET  /.well-known/oauth-authorization-server   RFC 8414 metadata (the authority's, extended)
//	GET  /oauth2/authorize                          the consent page
//	POST /oauth2/authorize                          the person's decision
//	POST /oauth2/token                              authorization_code, refresh_token, client_credentials, token exchange
//	POST /oauth2/register                           dynamic client registration (RFC 7591), when on
//	PUT|GET|DELETE /v1/oauth/services[/{name}]      the scope catalog (admin)
//	POST|GET|DELETE /v1/oauth/clients[/{id}]        OAuth clients (admin)
//
// Revocation (RFC 7009) and introspection (RFC 7662) stay the authority's
// (/oauth2/revoke, /oauth2/introspect): access tokens are mandate tokens.
func (s *Server) Handler(api http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", s.metadata)
	if s.cfg.Pages != nil {
		mux.Handle("/oauth2/authorize", s.cfg.Pages(s.authorize))
	} else {
		// The consent form posts back to the page: cross-origin posts
		// (a page elsewhere submitting the person's decision) are
		// refused.
		cop := http.NewCrossOriginProtection()
		mux.Handle("/oauth2/authorize", cop.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.authorize(w, r, nil, "")
		})))
	}
	mux.HandleFunc("POST /oauth2/token", s.token)
	if s.regLimit != nil {
		mux.HandleFunc("POST /oauth2/register", s.register)
	}
	mux.HandleFunc("PUT /v1/oauth/services/{name}", s.admin(s.putService))
	mux.HandleFunc("GET /v1/oauth/services", s.admin(s.listServices))
	mux.HandleFunc("DELETE /v1/oauth/services/{name}", s.admin(s.deleteService))
	mux.HandleFunc("POST /v1/oauth/clients", s.admin(s.registerClient))
	mux.HandleFunc("GET /v1/oauth/clients", s.admin(s.listClients))
	mux.HandleFunc("DELETE /v1/oauth/clients/{id}", s.admin(s.deleteClient))
	mux.Handle("/", api)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/oauth2/authorize") || r.URL.Path == "/oauth2/token" || r.URL.Path == "/oauth2/register" || strings.HasPrefix(r.URL.Path, "/v1/oauth/") || r.URL.Path == "/.well-known/oauth-authorization-server" {
			defer func() {
				if v := recover(); v != nil {
					s.log.Error().Str("panic", fmt.Sprint(v)).Bytes("stack", debug.Stack()).Msg("panic in the OAuth handler")
					writeJSONError(w, http.StatusInternalServerError, "server_error", "internal error; the authority's log has the details")
				}
			}()
			r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
			w.Header().Set("Cache-Control", "no-store")
			if cors(w, r) {
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// cors lets MCP clients that run in a browser (such as the MCP Inspector)
// read the metadata and use the token and registration endpoints: any
// origin, no cookies (these endpoints authenticate clients by their
// parameters, never by a browser's credentials). The consent page and the
// admin API are not opened to other origins. It answers a preflight and
// reports true.
func cors(w http.ResponseWriter, r *http.Request) bool {
	switch r.URL.Path {
	case "/.well-known/oauth-authorization-server", "/oauth2/token", "/oauth2/register":
	default:
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	h.Set("Access-Control-Allow-Methods", "GET, POST")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, MCP-Protocol-Version")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeJSONError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": oauthText(desc)})
}

// oauthText keeps the characters RFC 6749 allows in error_description
// (%x20-21 / %x23-5B / %x5D-7E).
func oauthText(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			b[i] = '\''
			if c >= 0x80 || c < 0x20 {
				b[i] = '?'
			}
		}
	}
	return string(b)
}

// metadata serves RFC 8414 metadata: the authority's, with exactly the
// endpoints, grants and methods this server offers.
func (s *Server) metadata(w http.ResponseWriter, r *http.Request) {
	iss := s.a.Issuer(r)
	m := s.a.Metadata(iss)
	m["authorization_endpoint"] = iss + "/oauth2/authorize"
	m["token_endpoint"] = iss + "/oauth2/token"
	m["response_types_supported"] = []string{"code"}
	m["response_modes_supported"] = []string{"query"}
	m["grant_types_supported"] = []string{"authorization_code", "refresh_token", "client_credentials", GrantTypeTokenExchange}
	m["code_challenge_methods_supported"] = []string{"S256"}
	m["token_endpoint_auth_methods_supported"] = []string{"none", "client_secret_basic", "client_secret_post"}
	m["authorization_response_iss_parameter_supported"] = true
	if s.clients.cimd != nil {
		m["client_id_metadata_document_supported"] = true
	}
	if s.regLimit != nil {
		m["registration_endpoint"] = iss + "/oauth2/register"
	}
	scopes, err := s.catalog.scopeNames(r.Context())
	if err != nil {
		writeJSONError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "storage: "+err.Error())
		return
	}
	m["scopes_supported"] = scopes
	writeJSON(w, http.StatusOK, m)
}

// rfcCodes are the error codes of RFC 6749 (§4.1.2.1, §5.2), RFC 8707 and
// RFC 7009 that the endpoints answer with.
var rfcCodes = []string{"invalid_request", "unauthorized_client", "access_denied", "unsupported_response_type",
	"invalid_scope", "server_error", "temporarily_unavailable", "invalid_client", "invalid_grant",
	"unsupported_grant_type", "invalid_target", "unsupported_token_type"}

// standardError maps fosite's own error codes (invalid_state,
// insufficient_entropy, request_unauthorized, …) to invalid_request, with
// their description, so that every error is an RFC's.
func standardError(err error) error {
	var me *metadataError
	if errors.As(err, &me) {
		return fosite.ErrInvalidClient.WithHint(oauthText("The client's metadata document was refused: " + me.Error() + "."))
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	if slices.Contains(rfcCodes, rfc.ErrorField) {
		return rfc
	}
	return fosite.ErrInvalidRequest.WithHint(rfc.GetDescription())
}

// rfcError is an OAuth error fosite does not define.
func rfcError(code, desc string, status int) *fosite.RFC6749Error {
	return &fosite.RFC6749Error{ErrorField: code, DescriptionField: oauthText(desc), CodeField: status}
}

func invalidTarget(desc string) *fosite.RFC6749Error {
	return rfcError("invalid_target", desc, http.StatusBadRequest)
}

func invalidScope(desc string) *fosite.RFC6749Error {
	return rfcError("invalid_scope", desc, http.StatusBadRequest)
}

// resourceParam returns the one resource parameter of a form ("" when
// absent); more than one is invalid_target (one token, one audience).
func resourceParam(form url.Values) (string, error) {
	rs := form["resource"]
	switch {
	case len(rs) == 0:
		return "", nil
	case len(rs) > 1:
		return "", invalidTarget("Ask for one resource per token (one resource parameter).")
	}
	if err := checkResourceURL(rs[0]); err != nil {
		return "", invalidTarget(err.Error())
	}
	return rs[0], nil
}

// serviceFor finds the catalog service a request is for: the one its
// resource names or, without a resource parameter (the MCP SDK's client
// credentials handler sends none), the one service whose scopes cover
// every requested scope.
func (s *Server) serviceFor(ctx context.Context, resource string, scopes []string, org string) (Service, error) {
	if resource != "" {
		svc, err := s.catalog.byResource(ctx, resource)
		if errors.Is(err, errNoService) {
			return svc, invalidTarget(fmt.Sprintf("No service of this authority is the resource '%s'; the admin adds it with PUT /v1/oauth/services/{name}.", clip(resource)))
		}
		return svc, err
	}
	all, err := s.catalog.list(ctx)
	if err != nil {
		return Service{}, err
	}
	var found []Service
	for _, svc := range all {
		if err := svc.checkFor(scopes, org); err == nil {
			found = append(found, svc)
		}
	}
	if len(found) != 1 {
		return Service{}, invalidTarget("Name the resource server the token is for with the resource parameter (RFC 8707).")
	}
	return found[0], nil
}

// token is the token endpoint.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := s.publicClientCredentials(r); err != nil {
		s.provider.WriteAccessError(ctx, w, fosite.NewAccessRequest(nil), err)
		return
	}
	sess := newSession()
	ar, err := s.provider.NewAccessRequest(ctx, r, sess)
	if err != nil {
		s.provider.WriteAccessError(ctx, w, ar, standardError(err))
		return
	}
	resource, err := resourceParam(ar.GetRequestForm())
	if err != nil {
		s.provider.WriteAccessError(ctx, w, ar, err)
		return
	}
	switch {
	case ar.GetGrantTypes().ExactOne(GrantTypeTokenExchange):
		// The exchange handler checked the subject token and resource.
	case ar.GetGrantTypes().ExactOne("client_credentials"):
		g, err := s.clientCredentials(ctx, ar, resource)
		if err != nil {
			s.provider.WriteAccessError(ctx, w, ar, err)
			return
		}
		sess.Grant = g
	default:
		g := grantOf(ar)
		if resource != "" && resource != g.Audience {
			s.provider.WriteAccessError(ctx, w, ar, invalidTarget("The grant is for another resource; a token can only be bound to the resource the person consented to."))
			return
		}
	}
	resp, err := s.provider.NewAccessResponse(ctx, ar)
	if err != nil {
		s.provider.WriteAccessError(ctx, w, ar, standardError(mintError(err)))
		return
	}
	s.provider.WriteAccessResponse(ctx, w, ar, resp)
	g := grantOf(ar)
	if g.Session == "" {
		return // an exchange, audited by its handler
	}
	s.audit(ctx, "oauth_token").Str("client_id", ar.GetClient().GetID()).Str("grant_type", strings.Join(ar.GetGrantTypes(), " ")).
		Str("session", g.Session).Str("audience", g.Audience).Int("rights", len(g.Rights)).Msg("OAuth token issued")
}

// publicClientCredentials refuses the client credentials grant to a
// public OAuth client with unauthorized_client (RFC 6749 §5.2; fosite
// answers invalid_grant).
func (s *Server) publicClientCredentials(r *http.Request) error {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		return nil // fosite answers a bad form
	}
	id := r.PostForm.Get("client_id")
	if u, _, ok := r.BasicAuth(); ok {
		id, _ = url.QueryUnescape(u)
	}
	if _, err := s.clients.get(r.Context(), id); err == nil || isCIMD(id) {
		return fosite.ErrUnauthorizedClient.WithHint("A public client cannot use the client credentials grant; it uses the authorization code flow.")
	}
	return nil
}

// grantOf is the grant of a request's session (empty for an exchange).
func grantOf(r fosite.Requester) Grant {
	if s, ok := r.GetSession().(*Session); ok {
		return s.Grant
	}
	return Grant{}
}

// mintError maps the authority's refusals, which fosite reports as server
// errors, to OAuth errors.
func mintError(err error) error {
	switch {
	case errors.Is(err, authority.ErrSessionRevoked):
		return fosite.ErrInvalidGrant.WithHint("The grant was revoked; authorize again.")
	case errors.Is(err, authority.ErrCeiling), errors.Is(err, authority.ErrForbidden):
		return fosite.ErrInvalidScope.WithHint(oauthText(err.Error()))
	case errors.Is(err, authority.ErrUnauthenticated):
		return fosite.ErrInvalidClient.WithHint(oauthText(err.Error()))
	case errors.Is(err, authority.ErrUnavailable):
		return fosite.ErrTemporarilyUnavailable
	}
	return err
}

// clientCredentials builds the grant of a registered mandate client: the
// requested scopes of one catalog service, for the client's org, within
// its ceiling (checked again at mint).
func (s *Server) clientCredentials(ctx context.Context, ar fosite.AccessRequester, resource string) (Grant, error) {
	id := ar.GetClient().GetID()
	ceiling, ok := s.a.ClientCeiling(id)
	if !ok {
		return Grant{}, fosite.ErrUnauthorizedClient.WithHint("Only registered mandate clients use the client credentials grant.")
	}
	if len(ceiling.Orgs) != 1 {
		return Grant{}, fosite.ErrUnauthorizedClient.WithHint("The client's ceiling names several orgs; the client credentials grant needs a client of one org.")
	}
	org := ceiling.Orgs[0]
	scopes := ar.GetRequestedScopes()
	svc, err := s.serviceFor(ctx, resource, scopes, org)
	if err != nil {
		return Grant{}, err
	}
	rights, err := svc.resolve(scopes, org)
	if err != nil {
		return Grant{}, invalidScope(err.Error())
	}
	req := authority.MintRequest{Agent: id, Org: org, Rights: rights, TTL: min(ceiling.MaxTTL, s.cfg.AccessTokenLifespan)}
	if err := ceiling.Allows(req); err != nil {
		return Grant{}, invalidScope("Outside the client's ceiling: " + strings.TrimPrefix(err.Error(), authority.ErrCeiling.Error()+": "))
	}
	return Grant{
		Session:          authority.GrantPrincipal(id).SessionID(token.NewSessionID()),
		Agent:            id,
		Org:              org,
		Rights:           rights,
		Audience:         svc.Resource,
		Service:          svc.Name,
		RegisteredClient: id,
	}, nil
}

// admin wraps an admin endpoint: the admin token (or an admin person's
// credential) as a Bearer credential.
func (s *Server) admin(h func(w http.ResponseWriter, r *http.Request, p authority.Principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") || cred == "" {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf("Bearer realm=%q", authority.Realm))
			writeJSONError(w, http.StatusUnauthorized, "unauthorized", `send "Authorization: Bearer <admin token>"`)
			return
		}
		p, err := s.a.Authenticate(strings.TrimSpace(cred))
		if err != nil {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf("Bearer realm=%q, error=\"invalid_token\"", authority.Realm))
			writeJSONError(w, http.StatusUnauthorized, "invalid_token", "unknown credential")
			return
		}
		if !p.Admin {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf("Bearer realm=%q, error=\"insufficient_scope\"", authority.Realm))
			writeJSONError(w, http.StatusForbidden, "insufficient_scope", "only the admin manages OAuth services and clients")
			return
		}
		h(w, r, p)
	}
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			writeJSONError(w, http.StatusRequestEntityTooLarge, "request_too_large", fmt.Sprintf("request body is over the limit of %d bytes", MaxBodyBytes))
			return false
		}
		writeJSONError(w, http.StatusBadRequest, "invalid_request", "the body must be one JSON object with the documented fields: "+err.Error())
		return false
	}
	if dec.More() {
		writeJSONError(w, http.StatusBadRequest, "invalid_request", "the body must be one JSON object, nothing after it")
		return false
	}
	return true
}

func (s *Server) putService(w http.ResponseWriter, r *http.Request, p authority.Principal) {
	var svc Service
	if !decodeBody(w, r, &svc) {
		return
	}
	if name := r.PathValue("name"); svc.Name == "" {
		svc.Name = name
	} else if svc.Name != name {
		writeJSONError(w, http.StatusBadRequest, "invalid_request", "the body's name differs from the URL's")
		return
	}
	if err := s.catalog.put(r.Context(), svc); err != nil {
		writeJSONError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	s.audit(r.Context(), "oauth_service_put").Str("by", p.String()).Str("service", svc.Name).Str("resource", svc.Resource).Int("scopes", len(svc.Scopes)).Msg("OAuth service set")
	writeJSON(w, http.StatusOK, svc)
}

func (s *Server) listServices(w http.ResponseWriter, r *http.Request, _ authority.Principal) {
	all, err := s.catalog.list(r.Context())
	if err != nil {
		writeJSONError(w, http.StatusServiceUnavailable, "temporarily_unavailable", err.Error())
		return
	}
	if all == nil {
		all = []Service{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"services": all})
}

func (s *Server) deleteService(w http.ResponseWriter, r *http.Request, p authority.Principal) {
	name := r.PathValue("name")
	if err := s.catalog.delete(r.Context(), name); errors.Is(err, errNoService) {
		writeJSONError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no service '%s' in the catalog", clip(name)))
		return
	} else if err != nil {
		writeJSONError(w, http.StatusServiceUnavailable, "temporarily_unavailable", err.Error())
		return
	}
	s.audit(r.Context(), "oauth_service_deleted").Str("by", p.String()).Str("service", name).Msg("OAuth service deleted")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) registerClient(w http.ResponseWriter, r *http.Request, p authority.Principal) {
	var c Client
	if !decodeBody(w, r, &c) {
		return
	}
	c.CreatedAt = s.store.now().UTC().Truncate(1e9)
	switch err := s.clients.put(r.Context(), c); {
	case errors.Is(err, errClientExists):
		writeJSONError(w, http.StatusConflict, "already_exists", err.Error())
		return
	case err != nil:
		writeJSONError(w, http.StatusBadRequest, "invalid_client_metadata", err.Error())
		return
	}
	s.audit(r.Context(), "oauth_client_registered").Str("by", p.String()).Str("client_id", c.ID).Strs("redirect_uris", c.RedirectURIs).Msg("OAuth client registered")
	writeJSON(w, http.StatusCreated, c)
}

func (s *Server) listClients(w http.ResponseWriter, r *http.Request, _ authority.Principal) {
	all, err := s.clients.list(r.Context())
	if err != nil {
		writeJSONError(w, http.StatusServiceUnavailable, "temporarily_unavailable", err.Error())
		return
	}
	if all == nil {
		all = []Client{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"clients": all})
}

func (s *Server) deleteClient(w http.ResponseWriter, r *http.Request, p authority.Principal) {
	id := r.PathValue("id")
	if err := s.clients.delete(r.Context(), id); errors.Is(err, errNoClient) {
		writeJSONError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no OAuth client '%s'", clip(id)))
		return
	} else if err != nil {
		writeJSONError(w, http.StatusServiceUnavailable, "temporarily_unavailable", err.Error())
		return
	}
	s.audit(r.Context(), "oauth_client_deleted").Str("by", p.String()).Str("client_id", id).Msg("OAuth client deleted")
	w.WriteHeader(http.StatusNoContent)
}

// personOrgs returns the orgs a person may consent for (nil: any, for an
// admin or a person of every org).
func personOrgs(p *people.Person) []string {
	if p.IsAdmin() || slices.Contains(p.Orgs, people.AllOrgs) {
		return nil
	}
	return p.Orgs
}
