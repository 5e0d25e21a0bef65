package authority

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mandate-dev/mandate/authority/people"
	"github.com/mandate-dev/mandate/token"
)

// Ceiling bounds what a client may mint. Every right of a mint request must
// fit it on every dimension, and so must the org and the TTL:
//
//   - the service must be one of Services (services are never "*");
//   - the tool must be one of Tools, or Tools must contain "*"; a request
//     for tool "*" needs "*" in Tools;
//   - likewise for the operation and Operations;
//   - the resource must start with one of ResourcePrefixes (plain string
//     prefixes, as in token.Right: "account:acme/" covers
//     "account:acme/42"; list "" to allow every resource);
//   - the org must be one of Orgs (a client always mints for a named org);
//   - the TTL must not exceed MaxTTL.
//
// Limits are usage limits (token.Limit) that every token the client mints
// carries in its authority block, on top of those its mint request asks
// for: a client cannot mint a session without them.
type Ceiling struct {
	Services         []string
	Tools            []string
	Operations       []string
	ResourcePrefixes []string
	Orgs             []string
	MaxTTL           time.Duration
	Limits           []token.Limit
	// RequireApproval lists calls that need a person's approval in every
	// token the client mints (checks of the authority block, added to the
	// mint request's own): the platform cannot mint them away.
	RequireApproval []token.ApprovalRequirement
}

func (c Ceiling) clone() Ceiling {
	c.Services = slices.Clone(c.Services)
	c.Tools = slices.Clone(c.Tools)
	c.Operations = slices.Clone(c.Operations)
	c.ResourcePrefixes = slices.Clone(c.ResourcePrefixes)
	c.Orgs = slices.Clone(c.Orgs)
	c.Limits = slices.Clone(c.Limits)
	c.RequireApproval = slices.Clone(c.RequireApproval)
	return c
}

// Validate checks a ceiling before a client is registered with it.
func (c Ceiling) Validate() error {
	lists := []struct {
		name     string
		v        []string
		wildcard bool // "*" allowed
		empty    bool // "" allowed as an element
	}{
		{"services", c.Services, false, false},
		{"tools", c.Tools, true, false},
		{"operations", c.Operations, true, false},
		{"resource_prefixes", c.ResourcePrefixes, false, true},
		{"orgs", c.Orgs, false, false},
	}
	for _, l := range lists {
		if len(l.v) == 0 {
			return fmt.Errorf("%w: ceiling %s must list at least one entry", ErrBadRequest, l.name)
		}
		if len(l.v) > MaxCeilingEntries {
			return fmt.Errorf("%w: ceiling %s has %d entries, over the limit of %d", ErrBadRequest, l.name, len(l.v), MaxCeilingEntries)
		}
		for _, s := range l.v {
			if s == "" && !l.empty {
				return fmt.Errorf("%w: ceiling %s contains an empty string", ErrBadRequest, l.name)
			}
			if s == token.Wildcard && !l.wildcard {
				return fmt.Errorf("%w: ceiling %s cannot contain \"*\"", ErrBadRequest, l.name)
			}
			if err := checkText("ceiling "+l.name, s, token.MaxStringBytes); err != nil {
				return err
			}
			if l.name == "resource_prefixes" {
				if err := token.CheckResource(s); err != nil {
					return fmt.Errorf("%w: ceiling resource_prefixes %q: %w", ErrBadRequest, s, err)
				}
			}
		}
	}
	if len(c.Limits) > token.MaxLimitsPerToken {
		return fmt.Errorf("%w: ceiling limits has %d entries, over the limit of %d", ErrBadRequest, len(c.Limits), token.MaxLimitsPerToken)
	}
	for i := range c.Limits {
		if err := c.Limits[i].Validate(); err != nil {
			return fmt.Errorf("%w: ceiling limits: %w", ErrBadRequest, err)
		}
	}
	if c.MaxTTL <= 0 || c.MaxTTL > token.MaxTTL {
		return fmt.Errorf("%w: ceiling max_ttl_seconds must be between 1 and %d", ErrBadRequest, int64(token.MaxTTL/time.Second))
	}
	if len(c.RequireApproval) > token.MaxApprovalRequirements {
		return fmt.Errorf("%w: ceiling require_approval has %d entries, over the limit of %d", ErrBadRequest, len(c.RequireApproval), token.MaxApprovalRequirements)
	}
	for i := range c.RequireApproval {
		if err := c.RequireApproval[i].Validate(); err != nil {
			return fmt.Errorf("%w: ceiling require_approval %d: %w", ErrBadRequest, i+1, err)
		}
	}
	return nil
}

// Allows reports whether a mint request fits the ceiling. The error wraps
// ErrCeiling and names the dimension that does not fit.
func (c Ceiling) Allows(req MintRequest) error {
	if !slices.Contains(c.Orgs, req.Org) {
		return fmt.Errorf("%w: org %q is not in the ceiling's orgs", ErrCeiling, req.Org)
	}
	if req.TTL > c.MaxTTL {
		return fmt.Errorf("%w: ttl %s is over the ceiling's %s", ErrCeiling, req.TTL, c.MaxTTL)
	}
	for i, r := range req.Rights {
		if !slices.Contains(c.Services, r.Service) {
			return fmt.Errorf("%w: right %d: service %q is not in the ceiling's services", ErrCeiling, i, r.Service)
		}
		if !fitsWildcard(c.Tools, r.Tool) {
			return fmt.Errorf("%w: right %d: tool %q is not in the ceiling's tools", ErrCeiling, i, r.Tool)
		}
		if !fitsWildcard(c.Operations, r.Operation) {
			return fmt.Errorf("%w: right %d: operation %q is not in the ceiling's operations", ErrCeiling, i, r.Operation)
		}
		if !slices.ContainsFunc(c.ResourcePrefixes, func(p string) bool { return strings.HasPrefix(r.Resource, p) }) {
			return fmt.Errorf("%w: right %d: resource %q does not start with any of the ceiling's resource prefixes", ErrCeiling, i, r.Resource)
		}
	}
	return nil
}

// fitsWildcard: v is allowed when the list holds "*" or v itself; v == "*"
// (any) is allowed only when the list holds "*".
func fitsWildcard(list []string, v string) bool {
	return slices.Contains(list, token.Wildcard) || (v != token.Wildcard && slices.Contains(list, v))
}

// checkText refuses strings that are too long, not UTF-8, or hold control,
// format or separator characters (token.UnsafeNameRune), which would let a
// name forge lines in logs or look like another name.
func checkText(what, v string, max int) error {
	if len(v) > max {
		return fmt.Errorf("%w: %s is over %d bytes", ErrBadRequest, what, max)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("%w: %s is not UTF-8", ErrBadRequest, what)
	}
	if err := token.CheckNameRunes(v); err != nil {
		return fmt.Errorf("%w: %s %w", ErrBadRequest, what, err)
	}
	return nil
}

// validClientID: 1 to MaxClientIDBytes of [A-Za-z0-9._-], starting with a
// letter or digit. A client's secret is "ID.RANDOM", so the ID must not be
// confusable with the random part; the charset also keeps IDs safe in URLs
// and logs.
func validClientID(id string) error {
	if id == "" || len(id) > MaxClientIDBytes {
		return fmt.Errorf("%w: client_id must be 1 to %d characters", ErrBadRequest, MaxClientIDBytes)
	}
	for i, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || (i > 0 && (r == '.' || r == '_' || r == '-'))
		if !ok {
			return fmt.Errorf("%w: client_id %q: use letters, digits, '.', '_' and '-', starting with a letter or digit", ErrBadRequest, clip(id))
		}
	}
	return nil
}

// Client is a registered client as the API shows it: never its secret.
type Client struct {
	ID        string
	Ceiling   Ceiling
	CreatedAt time.Time
}

// RegisteredClient is returned once, at registration: Secret is the
// client's bearer credential and is not stored (only its hash is).
type RegisteredClient struct {
	Client
	Secret string
}

// Principal is who a request comes from: the admin (the admin token, or a
// person with the admin role), a registered client, or a person.
type Principal struct {
	Admin    bool
	ClientID string // set for a client
	// Person is set when the credential is a person's (see package
	// people). A person with the admin role is also Admin; approvers and
	// viewers own no session and no token, mint nothing and revoke
	// nothing through the client paths.
	Person *people.Person
}

// String names the principal for audit events.
func (p Principal) String() string {
	switch {
	case p.Person != nil:
		return "person:" + p.Person.Name
	case p.Admin:
		return "admin"
	}
	return "client:" + p.ClientID
}

// owns reports whether p may act on what the client clientID minted ("" is
// the admin's): the admin always, a client its own, a person that is not
// an admin never.
func (p Principal) owns(clientID string) bool {
	return p.Admin || (p.Person == nil && p.ClientID == clientID)
}

// isClient reports whether p is a registered client.
func (p Principal) isClient() bool { return !p.Admin && p.Person == nil && p.ClientID != "" }

// SessionID is the session a principal means by id. Sessions are scoped per
// client, so that no client can claim, read or probe another's session by
// guessing its name: a client's sessions are named "CLIENT/NAME", and a
// client may give either the full ID or just NAME (an ID that already
// starts with "CLIENT/" is taken as is). Client IDs hold no '/', so no two
// clients' IDs can meet. The admin names sessions in full; the sessions it
// creates are its own. "" stays "" (a new session is generated).
func (p Principal) SessionID(id string) string {
	if !p.isClient() || id == "" || strings.HasPrefix(id, p.ClientID+"/") {
		return id
	}
	return p.ClientID + "/" + id
}

// newSecret returns 32 random bytes, base64url without padding (43
// characters, no '.').
func newSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// hashSecret hashes a credential for storage and comparison.
//
// A plain SHA-256 is the right tool here, not bcrypt/scrypt/argon2: client
// secrets and generated admin tokens carry 256 random bits (and admin
// tokens from the environment must be at least MinAdminTokenBytes long), so
// inverting the hash by brute force is infeasible however fast the hash
// is. Slow password hashes exist to protect low-entropy passwords, and
// would add tens of milliseconds of CPU to every authenticated request,
// which the mint throughput goal cannot afford. Comparison of hashes is
// constant-time (subtle.ConstantTimeCompare).
func hashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// RegisterClient registers a client with a ceiling and returns its secret,
// which is shown only this once. Admin only.
func (a *Authority) RegisterClient(ctx context.Context, p Principal, id string, c Ceiling) (*RegisteredClient, error) {
	if err := requireAdmin(p, "register clients"); err != nil {
		return nil, err
	}
	if err := validClientID(id); err != nil {
		return nil, err
	}
	c = c.clone()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	rnd, err := newSecret()
	if err != nil {
		return nil, err
	}
	secret := id + "." + rnd
	rec := ClientRecord{ID: id, SecretHash: hashSecret(secret), Ceiling: c, CreatedAt: a.now().UTC()}
	a.clientsMu.Lock()
	defer a.clientsMu.Unlock()
	if err := a.store.CreateClient(ctx, rec); err != nil {
		return nil, err
	}
	a.clients[id] = &rec
	a.audit(ctx, "client_registered").Str("by", p.String()).Str("client_id", id).
		Strs("services", c.Services).Strs("orgs", c.Orgs).Int64("max_ttl_s", int64(c.MaxTTL/time.Second)).Msg("client registered")
	return &RegisteredClient{Client: Client{ID: id, Ceiling: c.clone(), CreatedAt: rec.CreatedAt}, Secret: secret}, nil
}

// Clients lists the registered clients. Admin only.
func (a *Authority) Clients(ctx context.Context, p Principal) ([]Client, error) {
	if err := requireAdmin(p, "list clients"); err != nil {
		return nil, err
	}
	a.clientsMu.RLock()
	defer a.clientsMu.RUnlock()
	out := make([]Client, 0, len(a.clients))
	for _, c := range a.clients {
		out = append(out, Client{ID: c.ID, Ceiling: c.Ceiling.clone(), CreatedAt: c.CreatedAt})
	}
	slices.SortFunc(out, func(a, b Client) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Client returns one registered client. Admin only.
func (a *Authority) Client(ctx context.Context, p Principal, id string) (Client, error) {
	if err := requireAdmin(p, "read clients"); err != nil {
		return Client{}, err
	}
	a.clientsMu.RLock()
	defer a.clientsMu.RUnlock()
	c, ok := a.clients[id]
	if !ok {
		return Client{}, fmt.Errorf("client %q: %w", clip(id), ErrNotFound)
	}
	return Client{ID: c.ID, Ceiling: c.Ceiling.clone(), CreatedAt: c.CreatedAt}, nil
}

// DeleteClient unregisters a client: its secret stops working at once.
// Tokens it minted stay valid until they expire; revoke its sessions first
// to end them. Admin only.
func (a *Authority) DeleteClient(ctx context.Context, p Principal, id string) error {
	if err := requireAdmin(p, "delete clients"); err != nil {
		return err
	}
	a.clientsMu.Lock()
	defer a.clientsMu.Unlock()
	if err := a.store.DeleteClient(ctx, id); err != nil {
		return err
	}
	delete(a.clients, id)
	a.audit(ctx, "client_deleted").Str("by", p.String()).Str("client_id", id).Msg("client deleted")
	return nil
}

// Authenticate maps a bearer credential to a principal: the admin token,
// or a client secret ("CLIENT_ID.RANDOM"). Errors wrap ErrUnauthenticated.
func (a *Authority) Authenticate(credential string) (Principal, error) {
	if credential == "" {
		return Principal{}, fmt.Errorf("%w: no credentials", ErrUnauthenticated)
	}
	if len(credential) > MaxCredentialBytes {
		return Principal{}, fmt.Errorf("%w: credential is over %d bytes", ErrUnauthenticated, MaxCredentialBytes)
	}
	if strings.HasPrefix(credential, people.CredentialPrefix) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		person, err := a.people.Authenticate(ctx, credential)
		if err != nil {
			if errors.Is(err, people.ErrUnauthenticated) {
				return Principal{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
			}
			return Principal{}, fmt.Errorf("%w: people: %w", ErrUnavailable, err)
		}
		return Principal{Admin: person.IsAdmin(), Person: &person}, nil
	}
	h := hashSecret(credential)
	a.clientsMu.RLock()
	admin := a.adminHash
	a.clientsMu.RUnlock()
	if subtle.ConstantTimeCompare(h, admin) == 1 {
		return Principal{Admin: true}, nil
	}
	i := strings.LastIndexByte(credential, '.')
	if i <= 0 {
		return Principal{}, fmt.Errorf("%w: unknown credential", ErrUnauthenticated)
	}
	id := credential[:i]
	a.clientsMu.RLock()
	c, ok := a.clients[id]
	a.clientsMu.RUnlock()
	if !ok || subtle.ConstantTimeCompare(h, c.SecretHash) != 1 {
		return Principal{}, fmt.Errorf("%w: unknown credential", ErrUnauthenticated)
	}
	return Principal{ClientID: id}, nil
}

// AuthenticateClient checks a client ID and secret given separately (HTTP
// Basic authentication on the OAuth endpoints). The secret is the whole
// credential that RegisterClient returned.
func (a *Authority) AuthenticateClient(id, secret string) (Principal, error) {
	p, err := a.Authenticate(secret)
	if err != nil {
		return Principal{}, err
	}
	if !p.isClient() || p.ClientID != id {
		return Principal{}, fmt.Errorf("%w: client ID and secret do not match", ErrUnauthenticated)
	}
	return p, nil
}

func (a *Authority) ceilingOf(id string) (Ceiling, bool) {
	a.clientsMu.RLock()
	defer a.clientsMu.RUnlock()
	c, ok := a.clients[id]
	if !ok {
		return Ceiling{}, false
	}
	return c.Ceiling, true
}

func requireAdmin(p Principal, what string) error {
	if !p.Admin {
		return fmt.Errorf("%w: only the admin may %s", ErrForbidden, what)
	}
	return nil
}

// clip shortens caller-supplied text echoed in an error message.
func clip(s string) string {
	if len(s) > 64 {
		s = strings.ToValidUTF8(s[:64], "") + "…"
	}
	return s
}
