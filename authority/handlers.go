package authority

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/mandate-dev/mandate/authority/approvals"
	"github.com/mandate-dev/mandate/token"
)

// The wire types of the JSON API. Times are RFC 3339 strings in UTC,
// revocation IDs and public keys hex, key IDs JSON numbers.

type mintRequestJSON struct {
	Agent      string        `json:"agent"`
	User       string        `json:"user"`
	Org        string        `json:"org"`
	Session    string        `json:"session"`
	Rights     []token.Right `json:"rights"`
	TTLSeconds int64         `json:"ttl_seconds"`
	// Limits are usage limits in the CLI's form (token.ParseLimit).
	Limits []string `json:"limits,omitempty"`
	// RequireApproval: calls that always need a person's approval.
	RequireApproval []token.ApprovalRequirement `json:"require_approval"`
}

type mintResponseJSON struct {
	Token         string   `json:"token"`
	Session       string   `json:"session"`
	RevocationIDs []string `json:"revocation_ids"`
	ExpiresAt     string   `json:"expires_at"`
	KeyID         uint32   `json:"key_id"`
}

type revokeRequestJSON struct {
	Token        string `json:"token"`
	RevocationID string `json:"revocation_id"`
	Session      string `json:"session"`
	Agent        string `json:"agent"`
	User         string `json:"user"`
}

type entryJSONOut struct {
	Seq          uint64 `json:"seq"`
	RevocationID string `json:"revocation_id"`
	ExpiresAt    string `json:"expires_at"`
}

type revokeResponseJSON struct {
	Entries []entryJSONOut `json:"entries"`
	Total   int            `json:"total"`
	Created int            `json:"created"`
	Expired bool           `json:"already_expired,omitempty"`
}

// feedJSON is a /v1/revocations answer. The "_v1" fields are the
// tamper-evidence added in version 1 of the chained feed: each entry's
// chain hash (and the previous one where the follower cannot know it), and
// the page signature. A newer format adds fields with a new suffix.
type feedJSON struct {
	Entries []feedEntryJSON `json:"entries"`
	Next    uint64          `json:"next"`
	Chain   feedChainJSON   `json:"chain_v1"`
}

type feedEntryJSON struct {
	Seq          uint64 `json:"seq"`
	RevocationID string `json:"revocation_id"`
	ExpiresAt    string `json:"expires_at"`
	Hash         string `json:"hash_v1"`
	PrevHash     string `json:"prev_hash_v1,omitempty"`
}

type feedChainJSON struct {
	HeadSeq   uint64 `json:"head_seq"`
	HeadHash  string `json:"head_hash"`
	KeyID     uint32 `json:"key_id"`
	Signature string `json:"signature"`
}

type keyJSON struct {
	KeyID     uint32 `json:"key_id"`
	Algorithm string `json:"algorithm"`
	PublicKey string `json:"public_key"`
	Status    string `json:"status"`
	NotAfter  string `json:"not_after,omitempty"`
}

type biscuitWebKeyJSON struct {
	Algorithm string `json:"algorithm"`
	KeyBytes  string `json:"key_bytes"`
	KeyID     uint32 `json:"key_id"`
	Issuer    string `json:"issuer,omitempty"`
	ExpiresAt string `json:"expires_at,omitempty"`
}

type ceilingJSON struct {
	Services         []string `json:"services"`
	Tools            []string `json:"tools"`
	Operations       []string `json:"operations"`
	ResourcePrefixes []string `json:"resource_prefixes"`
	Orgs             []string `json:"orgs"`
	MaxTTLSeconds    int64    `json:"max_ttl_seconds"`
	// Limits are usage limits every token of the client carries
	// (token.ParseLimit's form).
	Limits []string `json:"limits,omitempty"`
	// RequireApproval: calls that need a person's approval in every token
	// the client mints.
	RequireApproval []token.ApprovalRequirement `json:"require_approval,omitempty"`
}

type registerClientJSON struct {
	ClientID string      `json:"client_id"`
	Ceiling  ceilingJSON `json:"ceiling"`
}

type clientJSONOut struct {
	ClientID     string      `json:"client_id"`
	ClientSecret string      `json:"client_secret,omitempty"`
	Ceiling      ceilingJSON `json:"ceiling"`
	CreatedAt    string      `json:"created_at"`
}

type sessionTokenJSON struct {
	RevocationID string `json:"revocation_id"`
	Agent        string `json:"agent"`
	User         string `json:"user,omitempty"`
	Org          string `json:"org,omitempty"`
	KeyID        uint32 `json:"key_id"`
	IssuedAt     string `json:"issued_at"`
	ExpiresAt    string `json:"expires_at"`
	Revoked      bool   `json:"revoked"`
}

type sessionJSONOut struct {
	Session     string             `json:"session"`
	ClientID    string             `json:"client_id,omitempty"`
	Status      string             `json:"status"`
	ExpiresAt   string             `json:"expires_at"`
	RevokedAt   string             `json:"revoked_at,omitempty"`
	TokenCount  int                `json:"token_count"`
	Tokens      []sessionTokenJSON `json:"tokens"`
	Revocations []entryJSONOut     `json:"revocations"`
	Limits      []usageJSON        `json:"limits"`
	// Approvals are the session's approval requests, newest first (at
	// most approvals.MaxListed).
	Approvals []approvals.Request `json:"approvals"`
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func entryOut(e LogEntry) entryJSONOut {
	return entryJSONOut{Seq: e.Seq, RevocationID: hex.EncodeToString(e.ID), ExpiresAt: rfc3339(e.ExpiresAt)}
}

func entriesOut(es []LogEntry) []entryJSONOut {
	out := make([]entryJSONOut, len(es))
	for i, e := range es {
		out[i] = entryOut(e)
	}
	return out
}

// POST /v1/tokens (admin or client).
func (h *handler) mint(c *gin.Context) {
	p, ok := h.principal(c, false)
	if !ok {
		return
	}
	var req mintRequestJSON
	if !h.decodeJSON(c, &req) {
		return
	}
	if req.TTLSeconds <= 0 || req.TTLSeconds > int64(token.MaxTTL/time.Second) {
		h.writeError(c, fmt.Errorf("%w: ttl_seconds must be between 1 and %d", ErrBadRequest, int64(token.MaxTTL/time.Second)))
		return
	}
	limits, err := parseLimits(req.Limits)
	if err != nil {
		h.writeError(c, err)
		return
	}
	res, err := h.a.Mint(c.Request.Context(), p, MintRequest{
		Agent: req.Agent, User: req.User, Org: req.Org, Session: req.Session,
		Rights: req.Rights, TTL: time.Duration(req.TTLSeconds) * time.Second, Limits: limits, RequireApproval: req.RequireApproval,
	})
	if err != nil {
		h.writeError(c, err)
		return
	}
	ids := make([]string, len(res.RevocationIDs))
	for i, id := range res.RevocationIDs {
		ids[i] = hex.EncodeToString(id)
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, mintResponseJSON{
		Token: res.Token, Session: res.Subject.Session, RevocationIDs: ids,
		ExpiresAt: rfc3339(res.ExpiresAt), KeyID: res.KeyID,
	})
}

// POST /v1/revocations: {"token"} needs no credentials; the other forms
// need the admin or the minting client.
func (h *handler) revoke(c *gin.Context) {
	var req revokeRequestJSON
	if !h.decodeJSON(c, &req) {
		return
	}
	n := 0
	for _, v := range []string{req.Token, req.RevocationID, req.Session, req.Agent, req.User} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		h.writeError(c, fmt.Errorf("%w: give exactly one of token, revocation_id, session, agent, user", ErrBadRequest))
		return
	}
	ctx := c.Request.Context()
	var res *RevokeResult
	var err error
	if req.Token != "" {
		res, err = h.a.RevokeToken(ctx, req.Token)
	} else {
		p, ok := h.principal(c, false)
		if !ok {
			return
		}
		switch {
		case req.RevocationID != "":
			id, derr := hex.DecodeString(req.RevocationID)
			if derr != nil {
				h.writeError(c, fmt.Errorf("%w: revocation_id must be hex", ErrBadRequest))
				return
			}
			res, err = h.a.RevokeID(ctx, p, id)
		case req.Session != "":
			res, err = h.a.RevokeSession(ctx, p, req.Session)
		case req.Agent != "":
			res, err = h.a.RevokeAgent(ctx, p, req.Agent)
		default:
			res, err = h.a.RevokeUser(ctx, p, req.User)
		}
	}
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, revokeResponseJSON{Entries: entriesOut(res.Entries), Total: res.Total, Created: res.Created, Expired: res.Expired})
}

// GET /v1/revocations?after=SEQ&wait=DURATION&nonce=HEX (public: revocation IDs are
// not secrets, and verifiers need the feed without a credential).
func (h *handler) feed(c *gin.Context) {
	var after uint64
	if s := c.Query("after"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			h.writeError(c, fmt.Errorf("%w: after must be a sequence number (a non-negative integer)", ErrBadRequest))
			return
		}
		after = v
	}
	var wait time.Duration
	if s := c.Query("wait"); s != "" {
		d, err := parseWait(s)
		if err != nil {
			h.writeError(c, err)
			return
		}
		wait = d
	}
	var nonce []byte
	if s := c.Query("nonce"); s != "" {
		n, err := hex.DecodeString(s)
		if err != nil || len(n) > token.MaxFeedNonce {
			h.writeError(c, fmt.Errorf("%w: nonce must be hex of at most %d bytes", ErrBadRequest, token.MaxFeedNonce))
			return
		}
		nonce = n
	}
	if wait > 0 {
		// Over a long-poll cap, answer at once (see longpoll.go).
		if release, ok := h.polls.acquire(c.Request.RemoteAddr); ok {
			defer release()
		} else {
			wait = 0
		}
	}
	f, err := h.a.RevocationsAfterNonce(c.Request.Context(), after, wait, nonce)
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, feedOut(after, f))
}

// feedOut is the wire form of a feed page. An entry carries the previous
// chain hash where a follower may not have it: on the first entry of the
// page (a follower that starts after the first entries expired) and on any
// entry after a gap (entries that expired). A follower that holds the hash
// at after checks the first one against it.
func feedOut(after uint64, f Feed) feedJSON {
	out := feedJSON{Entries: make([]feedEntryJSON, len(f.Entries)), Next: f.Next, Chain: feedChainJSON{
		HeadSeq: f.HeadSeq, HeadHash: hex.EncodeToString(f.HeadHash), KeyID: f.KeyID, Signature: hex.EncodeToString(f.Signature)}}
	prev := after
	for i, e := range f.Entries {
		out.Entries[i] = feedEntryJSON{Seq: e.Seq, RevocationID: hex.EncodeToString(e.ID), ExpiresAt: rfc3339(e.ExpiresAt), Hash: hex.EncodeToString(e.Hash)}
		if i == 0 || e.Seq != prev+1 {
			out.Entries[i].PrevHash = hex.EncodeToString(e.PrevHash)
		}
		prev = e.Seq
	}
	return out
}

// parseWait reads a Go duration ("25s", "1m") or a number of seconds.
func parseWait(s string) (time.Duration, error) {
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%w: wait must be a duration such as 25s, or a number of seconds", ErrBadRequest)
	}
	return d, nil
}

// GET /v1/keys (public).
func (h *handler) keys(c *gin.Context) {
	keys := h.a.Keys()
	out := make([]keyJSON, len(keys))
	for i, k := range keys {
		out[i] = keyJSON{KeyID: k.ID, Algorithm: "ed25519", PublicKey: hex.EncodeToString(k.PublicKey), Status: k.Status, NotAfter: rfc3339(k.NotAfter)}
	}
	ends := h.a.Endorsements()
	endOut := make([]endorsementJSON, len(ends))
	for i, e := range ends {
		endOut[i] = endorsementJSON{KeyID: e.Key.ID, PublicKey: hex.EncodeToString(e.Key.Key), SignerKeyID: e.SignerID, Signature: hex.EncodeToString(e.Signature)}
	}
	c.JSON(http.StatusOK, gin.H{"keys": out, "endorsements_v1": endOut})
}

// endorsementJSON is one key endorsement in GET /v1/keys: the key
// signer_key_id signed key_id / public_key (token.Endorse) when the authority
// rotated to it. Followers pinned to an earlier key follow these.
type endorsementJSON struct {
	KeyID       uint32 `json:"key_id"`
	PublicKey   string `json:"public_key"`
	SignerKeyID uint32 `json:"signer_key_id"`
	Signature   string `json:"signature"`
}

// GET /.well-known/biscuit-web-keys (public): the Biscuit web key set, a
// JSON array of {algorithm, key_bytes, key_id, issuer, expires_at} as the
// Biscuit specification's "Biscuit web keys" page defines it.
func (h *handler) biscuitWebKeys(c *gin.Context) {
	iss := h.issuer(c)
	keys := h.a.Keys()
	out := make([]biscuitWebKeyJSON, len(keys))
	for i, k := range keys {
		out[i] = biscuitWebKeyJSON{Algorithm: "ed25519", KeyBytes: hex.EncodeToString(k.PublicKey), KeyID: k.ID, Issuer: iss, ExpiresAt: rfc3339(k.NotAfter)}
	}
	c.JSON(http.StatusOK, out)
}

// POST /v1/keys/rotate (admin).
func (h *handler) rotate(c *gin.Context) {
	p, ok := h.principal(c, false)
	if !ok {
		return
	}
	if _, err := h.a.Rotate(c.Request.Context(), p); err != nil {
		h.writeError(c, err)
		return
	}
	h.keys(c)
}

// GET /v1/sessions/:id (admin or the session's client).
func (h *handler) session(c *gin.Context) {
	p, ok := h.principal(c, false)
	if !ok {
		return
	}
	v, err := h.a.Session(c.Request.Context(), p, strings.TrimPrefix(c.Param("id"), "/"))
	if err != nil {
		h.writeError(c, err)
		return
	}
	out := sessionJSONOut{
		Session: v.ID, ClientID: v.ClientID, Status: v.Status, ExpiresAt: rfc3339(v.ExpiresAt),
		RevokedAt: rfc3339(v.RevokedAt), TokenCount: v.TokenCount,
		Tokens: make([]sessionTokenJSON, len(v.Tokens)), Revocations: entriesOut(v.Revocations),
		Limits: usageOut(v.Limits),
	}
	for i, t := range v.Tokens {
		out.Tokens[i] = sessionTokenJSON{
			RevocationID: hex.EncodeToString(t.RevocationID), Agent: t.Agent, User: t.User, Org: t.Org,
			KeyID: t.KeyID, IssuedAt: rfc3339(t.IssuedAt), ExpiresAt: rfc3339(t.ExpiresAt), Revoked: t.Revoked,
		}
	}
	// The caller may see the session, so it may see its approvals.
	if out.Approvals, err = h.a.approvals.List(c.Request.Context(), approvals.Viewer{Admin: true}, approvals.Filter{Session: v.ID}); err != nil {
		h.writeApprovalError(c, err)
		return
	}
	if out.Approvals == nil {
		out.Approvals = []approvals.Request{}
	}
	c.JSON(http.StatusOK, out)
}

func ceilingOut(c Ceiling) ceilingJSON {
	return ceilingJSON{Services: c.Services, Tools: c.Tools, Operations: c.Operations,
		ResourcePrefixes: c.ResourcePrefixes, Orgs: c.Orgs, MaxTTLSeconds: int64(c.MaxTTL / time.Second), Limits: limitSpecs(c.Limits), RequireApproval: c.RequireApproval}
}

func clientOut(cl Client) clientJSONOut {
	return clientJSONOut{ClientID: cl.ID, Ceiling: ceilingOut(cl.Ceiling), CreatedAt: rfc3339(cl.CreatedAt)}
}

// POST /v1/clients (admin): registers a client; the secret is in this
// response only.
func (h *handler) registerClient(c *gin.Context) {
	p, ok := h.principal(c, false)
	if !ok {
		return
	}
	if err := requireAdmin(p, "register clients"); err != nil {
		h.writeError(c, err)
		return
	}
	var req registerClientJSON
	if !h.decodeJSON(c, &req) {
		return
	}
	if req.Ceiling.MaxTTLSeconds <= 0 || req.Ceiling.MaxTTLSeconds > int64(token.MaxTTL/time.Second) {
		h.writeError(c, fmt.Errorf("%w: ceiling.max_ttl_seconds must be between 1 and %d", ErrBadRequest, int64(token.MaxTTL/time.Second)))
		return
	}
	ceil := Ceiling{
		Services: req.Ceiling.Services, Tools: req.Ceiling.Tools, Operations: req.Ceiling.Operations,
		ResourcePrefixes: req.Ceiling.ResourcePrefixes, Orgs: req.Ceiling.Orgs,
		MaxTTL:          time.Duration(req.Ceiling.MaxTTLSeconds) * time.Second,
		RequireApproval: req.Ceiling.RequireApproval,
	}
	var err error
	if ceil.Limits, err = parseLimits(req.Ceiling.Limits); err != nil {
		h.writeError(c, err)
		return
	}
	rc, err := h.a.RegisterClient(c.Request.Context(), p, req.ClientID, ceil)
	if err != nil {
		h.writeError(c, err)
		return
	}
	out := clientOut(rc.Client)
	out.ClientSecret = rc.Secret
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, out)
}

// GET /v1/clients (admin).
func (h *handler) listClients(c *gin.Context) {
	p, ok := h.principal(c, false)
	if !ok {
		return
	}
	cls, err := h.a.Clients(c.Request.Context(), p)
	if err != nil {
		h.writeError(c, err)
		return
	}
	out := make([]clientJSONOut, len(cls))
	for i, cl := range cls {
		out[i] = clientOut(cl)
	}
	c.JSON(http.StatusOK, gin.H{"clients": out})
}

// GET /v1/clients/:id (admin).
func (h *handler) getClient(c *gin.Context) {
	p, ok := h.principal(c, false)
	if !ok {
		return
	}
	cl, err := h.a.Client(c.Request.Context(), p, c.Param("id"))
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, clientOut(cl))
}

// DELETE /v1/clients/:id (admin).
func (h *handler) deleteClient(c *gin.Context) {
	p, ok := h.principal(c, false)
	if !ok {
		return
	}
	if err := h.a.DeleteClient(c.Request.Context(), p, c.Param("id")); err != nil {
		h.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// POST /oauth2/revoke (RFC 7009): token=...&token_type_hint=... . Holding
// the token is enough, as for POST /v1/revocations; credentials, when
// sent, must be valid. The answer is 200 whether or not the token was
// valid (RFC 7009 §2.2); an unverifiable token is not revoked.
func (h *handler) oauthRevoke(c *gin.Context) {
	if len(c.Request.Header.Values("Authorization")) > 0 {
		if _, ok := h.principal(c, true); !ok {
			return
		}
	}
	form, ok := h.readForm(c)
	if !ok {
		return
	}
	tok := form.Get("token")
	if tok == "" {
		h.writeError(c, fmt.Errorf("%w: the token parameter is required", ErrBadRequest))
		return
	}
	// token_type_hint is only a hint (RFC 7009 §2.1): mandate has one kind
	// of token, so it is ignored.
	if _, err := h.a.RevokeToken(c.Request.Context(), tok); err != nil && !isInvalidToken(err) {
		h.writeError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusOK)
}

func isInvalidToken(err error) bool { return errors.Is(err, ErrInvalidToken) }

// POST /oauth2/introspect (RFC 7662), admin or client.
func (h *handler) oauthIntrospect(c *gin.Context) {
	p, ok := h.principal(c, true)
	if !ok {
		return
	}
	form, ok := h.readForm(c)
	if !ok {
		return
	}
	tok := form.Get("token")
	if tok == "" {
		h.writeError(c, fmt.Errorf("%w: the token parameter is required", ErrBadRequest))
		return
	}
	in, err := h.a.Introspect(c.Request.Context(), p, tok)
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	if !in.Active {
		c.JSON(http.StatusOK, gin.H{"active": false})
		return
	}
	sub := in.Subject.User
	if sub == "" {
		sub = in.Subject.Agent
	}
	ids := make([]string, len(in.RevocationIDs))
	for i, id := range in.RevocationIDs {
		ids[i] = hex.EncodeToString(id)
	}
	out := gin.H{
		"active":         true,
		"token_type":     "Bearer",
		"exp":            in.ExpiresAt.Unix(),
		"sub":            sub,
		"iss":            h.issuer(c),
		"session":        in.Subject.Session,
		"agent":          in.Subject.Agent,
		"key_id":         in.KeyID,
		"rights":         in.Rights,
		"revocation_ids": ids,
		"blocks":         in.Blocks,
	}
	if in.Subject.User != "" {
		out["user"] = in.Subject.User
	}
	if in.Subject.Org != "" {
		out["org"] = in.Subject.Org
	}
	if in.ClientID != "" {
		out["client_id"] = in.ClientID
	}
	if !in.IssuedAt.IsZero() {
		out["iat"] = in.IssuedAt.Unix()
	}
	c.JSON(http.StatusOK, out)
}

// GET /.well-known/oauth-authorization-server (RFC 8414).
func (h *handler) metadata(c *gin.Context) {
	c.JSON(http.StatusOK, h.a.Metadata(h.issuer(c)))
}

// Metadata returns the authority's RFC 8414 authorization server metadata
// for issuer (its base URL, see Issuer). The OAuth room (package
// authority/oauth), when it is served, extends it with its endpoints and
// grants.
func (a *Authority) Metadata(issuer string) map[string]any {
	iss := issuer
	return map[string]any{
		"issuer":                 iss,
		"revocation_endpoint":    iss + "/oauth2/revoke",
		"introspection_endpoint": iss + "/oauth2/introspect",
		// Revocation needs no client authentication: holding the token is
		// enough. Introspection takes a Bearer credential (admin token or
		// client secret) or HTTP Basic client credentials.
		"revocation_endpoint_auth_methods_supported":    []string{"none", "client_secret_basic"},
		"introspection_endpoint_auth_methods_supported": []string{"client_secret_basic"},
		// Without the OAuth room, mandate mints through its own API
		// (POST /v1/tokens), not an OAuth grant: no authorization or
		// token endpoint.
		"response_types_supported": []string{},
		"grant_types_supported":    []string{},
		"mandate_token_endpoint":   iss + "/v1/tokens",
		"mandate_revocation_feed":  iss + "/v1/revocations",
		"mandate_keys_endpoint":    iss + "/v1/keys",
		"biscuit_web_keys_uri":     iss + "/.well-known/biscuit-web-keys",
	}
}

func (h *handler) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

func (h *handler) readyz(c *gin.Context) {
	if !h.a.Ready() {
		if err := h.a.Corrupt(); err != nil {
			h.writeError(c, err)
			return
		}
		h.writeError(c, fmt.Errorf("%w: shutting down", ErrUnavailable))
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready", "last_seq": h.a.LastSeq()})
}
