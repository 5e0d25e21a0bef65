package oauth

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// RegistrationConfig turns on Dynamic Client Registration (RFC 7591) at
// POST /oauth2/register: anyone may register a public client (PKCE, no
// secret), at most Burst at once and PerMinute a minute on average across
// all callers. Registered clients count towards MaxClients; the admin
// lists and deletes them like any OAuth client.
type RegistrationConfig struct {
	PerMinute float64 // default 10
	Burst     int     // default 10
}

// limiter is a token bucket.
type limiter struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
	rate   float64 // tokens per second
	burst  float64
}

func newLimiter(perMinute float64, burst int) *limiter {
	return &limiter{tokens: float64(burst), rate: perMinute / 60, burst: float64(burst)}
}

// allow takes a token, or says how long until one is there.
func (l *limiter) allow(now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	l.last = now
	if l.tokens >= 1 {
		l.tokens--
		return true, 0
	}
	return false, time.Duration((1 - l.tokens) / l.rate * float64(time.Second))
}

// registration is an RFC 7591 request and response (the fields mandate
// reads; others are ignored, as §2 requires).
type registration struct {
	ClientID                string   `json:"client_id,omitempty"`
	ClientIDIssuedAt        int64    `json:"client_id_issued_at,omitempty"`
	RedirectURIs            []string `json:"redirect_uris"`
	ClientName              string   `json:"client_name,omitempty"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes              []string `json:"grant_types,omitempty"`
	ResponseTypes           []string `json:"response_types,omitempty"`
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	if ok, wait := s.regLimit.allow(time.Now()); !ok {
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		writeJSONError(w, http.StatusTooManyRequests, "temporarily_unavailable", "too many client registrations; retry later")
		return
	}
	var m registration
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&m); err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			writeJSONError(w, http.StatusRequestEntityTooLarge, "invalid_client_metadata", fmt.Sprintf("the registration is over %d bytes", MaxBodyBytes))
			return
		}
		writeJSONError(w, http.StatusBadRequest, "invalid_client_metadata", "the body must be one JSON object of client metadata (RFC 7591)")
		return
	}
	if m.TokenEndpointAuthMethod != "" && m.TokenEndpointAuthMethod != "none" {
		writeJSONError(w, http.StatusBadRequest, "invalid_client_metadata", "only public clients register here (token_endpoint_auth_method none, with PKCE); confidential clients are registered by the admin")
		return
	}
	for _, g := range m.GrantTypes {
		if !slices.Contains([]string{"authorization_code", "refresh_token"}, g) {
			writeJSONError(w, http.StatusBadRequest, "invalid_client_metadata", "grant_types may hold authorization_code and refresh_token")
			return
		}
	}
	for _, rt := range m.ResponseTypes {
		if rt != "code" {
			writeJSONError(w, http.StatusBadRequest, "invalid_client_metadata", "response_types may hold code only")
			return
		}
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	c := Client{ID: "dcr-" + base64.RawURLEncoding.EncodeToString(b[:]), Name: m.ClientName, RedirectURIs: m.RedirectURIs, CreatedAt: time.Now().UTC().Truncate(time.Second)}
	for _, u := range c.RedirectURIs {
		if err := checkRedirectURI(u); err != nil {
			writeJSONError(w, http.StatusBadRequest, "invalid_redirect_uri", err.Error())
			return
		}
	}
	if err := s.clients.put(r.Context(), c); err != nil {
		writeJSONError(w, http.StatusBadRequest, "invalid_client_metadata", err.Error())
		return
	}
	s.audit(r.Context(), "oauth_client_registered").Str("by", "dynamic registration").Str("client_id", c.ID).Strs("redirect_uris", c.RedirectURIs).Msg("OAuth client registered")
	writeJSON(w, http.StatusCreated, registration{
		ClientID:                c.ID,
		ClientIDIssuedAt:        c.CreatedAt.Unix(),
		RedirectURIs:            c.RedirectURIs,
		ClientName:              c.Name,
		TokenEndpointAuthMethod: "none",
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
	})
}
