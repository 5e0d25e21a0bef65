package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/kv"
)

// Client limits.
const (
	MaxClients          = 10000
	MaxRedirectURIs     = 8
	MaxRedirectURIBytes = 512
	MaxClientIDBytes    = 64
)

// Client is an OAuth client the admin registered for the authorization
// code flow (POST /v1/oauth/clients): a public client (an MCP client such
// as a desktop agent or an IDE) that proves itself with PKCE, not a
// secret. Confidential clients are mandate's registered clients (POST
// /v1/clients): they use the client credentials grant with their secret,
// within their ceiling.
type Client struct {
	ID           string    `json:"client_id"`
	Name         string    `json:"client_name"`
	RedirectURIs []string  `json:"redirect_uris"`
	CreatedAt    time.Time `json:"created_at"`
}

// Validate checks a client before it is stored. Redirect URIs are matched
// exactly, except that the port of a loopback redirect URI
// (http://127.0.0.1/…, http://[::1]/…) may differ (RFC 8252 §7.3).
func (c *Client) Validate() error { return c.validate(MaxClientIDBytes, false) }

// validate checks a client whose ID is at most maxID bytes: a registered
// client's ID is a short name, a metadata document's (urlID) its URL,
// checked by the fetcher.
func (c *Client) validate(maxID int, urlID bool) error {
	if c.ID == "" || len(c.ID) > maxID {
		return fmt.Errorf("client_id must be 1 to %d characters", maxID)
	}
	for i, r := range c.ID {
		if !urlID && !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || i > 0 && (r == '.' || r == '_' || r == '-')) {
			return fmt.Errorf("client_id '%s': use letters, digits, '.', '_' and '-', starting with a letter or digit", clip(c.ID))
		}
	}
	if len(c.Name) > 128 || !printable(c.Name) {
		return errors.New("client_name must be at most 128 printable characters")
	}
	if len(c.RedirectURIs) == 0 || len(c.RedirectURIs) > MaxRedirectURIs {
		return fmt.Errorf("a client needs 1 to %d redirect_uris", MaxRedirectURIs)
	}
	for _, s := range c.RedirectURIs {
		if err := checkRedirectURI(s); err != nil {
			return err
		}
	}
	return nil
}

// checkRedirectURI: absolute, no fragment, no user info; https, or http on
// a loopback host (RFC 8252 §7.3), or a private-use scheme with a dot
// (RFC 8252 §7.1, "com.example.app:/cb").
func checkRedirectURI(s string) error {
	if len(s) > MaxRedirectURIBytes {
		return fmt.Errorf("redirect URI is over %d bytes", MaxRedirectURIBytes)
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Fragment != "" || u.User != nil || !printable(s) {
		return fmt.Errorf("redirect URI '%s' must be an absolute URI without a fragment", clip(s))
	}
	switch {
	case u.Scheme == "https" && u.Host != "":
	case u.Scheme == "http" && isLoopback(u.Hostname()) && u.Hostname() != "localhost":
	case u.Scheme != "http" && u.Scheme != "https" && strings.Contains(u.Scheme, "."):
	default:
		return fmt.Errorf("redirect URI '%s': use https, http://127.0.0.1 or http://[::1] (RFC 8252), or a private-use scheme such as com.example.app:/callback", clip(s))
	}
	return nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// registry holds the OAuth clients, and presents mandate's registered
// clients to fosite as confidential clients.
type registry struct {
	kv kv.KV
	a  *authority.Authority
	// cimd, when set, resolves client IDs that are https URLs (Client ID
	// Metadata Documents).
	cimd *cimd
}

func (r registry) put(ctx context.Context, c Client) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if _, ok := r.a.ClientCeiling(c.ID); ok {
		return fmt.Errorf("client_id '%s' is a registered mandate client (with a secret); choose another ID for the OAuth client", clip(c.ID))
	}
	n := 0
	if err := r.kv.Scan(ctx, kv.ScanOptions{Prefix: "client/", KeysOnly: true}, func(kv.Entry) bool { n++; return n < MaxClients }); err != nil {
		return err
	}
	if n >= MaxClients {
		return fmt.Errorf("%d OAuth clients are registered, the limit", MaxClients)
	}
	v, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if _, err := r.kv.Apply(ctx, kv.Create("client/"+c.ID, v, noExpiry)); errors.Is(err, kv.ErrConflict) {
		return errClientExists
	} else if err != nil {
		return err
	}
	return nil
}

var (
	errClientExists = errors.New("an OAuth client with this client_id exists")
	errNoClient     = errors.New("no such client")
)

func (r registry) get(ctx context.Context, id string) (Client, error) {
	var c Client
	e, err := r.kv.Get(ctx, "client/"+id)
	if errors.Is(err, kv.ErrNotFound) {
		return c, errNoClient
	}
	if err != nil {
		return c, err
	}
	return c, json.Unmarshal(e.Value, &c)
}

func (r registry) list(ctx context.Context) ([]Client, error) {
	var out []Client
	var decErr error
	err := r.kv.Scan(ctx, kv.ScanOptions{Prefix: "client/"}, func(e kv.Entry) bool {
		var c Client
		if decErr = json.Unmarshal(e.Value, &c); decErr != nil {
			return false
		}
		out = append(out, c)
		return true
	})
	if err == nil {
		err = decErr
	}
	return out, err
}

func (r registry) delete(ctx context.Context, id string) error {
	if _, err := r.get(ctx, id); err != nil {
		return err
	}
	_, err := r.kv.Apply(ctx, kv.Delete("client/"+id))
	return err
}

// fositeClient returns the fosite view of a client: an OAuth client
// (public; authorization code and refresh token), or a registered mandate
// client (confidential; client credentials, authenticated by the
// authority).
func (r registry) fositeClient(ctx context.Context, id string) (fosite.Client, error) {
	if r.cimd != nil && isCIMD(id) {
		c, err := r.cimd.get(ctx, id)
		if err != nil {
			return nil, &metadataError{err}
		}
		return publicClient(c), nil
	}
	if len(id) > MaxClientIDBytes {
		return nil, fosite.ErrInvalidClient.WithHint("Unknown client.")
	}
	c, err := r.get(ctx, id)
	switch {
	case err == nil:
		return publicClient(c), nil
	case !errors.Is(err, errNoClient):
		return nil, err
	}
	if _, ok := r.a.ClientCeiling(id); ok {
		return &fosite.DefaultClient{
			ID:            id,
			Secret:        []byte(registeredSecretMark + id),
			GrantTypes:    []string{"client_credentials", GrantTypeTokenExchange},
			ResponseTypes: []string{},
		}, nil
	}
	return nil, fosite.ErrNotFound
}

// metadataError is why a client metadata document was refused; the
// person sees it (fosite would say only "does not exist").
type metadataError struct{ err error }

func (e *metadataError) Error() string { return e.err.Error() }
func (e *metadataError) Unwrap() error { return e.err }

// publicClient is the fosite view of a public client.
func publicClient(c Client) fosite.Client {
	return &fosite.DefaultClient{
		ID:            c.ID,
		RedirectURIs:  c.RedirectURIs,
		GrantTypes:    []string{"authorization_code", "refresh_token", GrantTypeTokenExchange},
		ResponseTypes: []string{"code"},
		Public:        true,
	}
}

// registeredSecretMark starts the "hashed secret" of a registered client
// in its fosite view: not a hash, but the client ID, which secretChecker
// hands to the authority with the presented secret. The authority keeps
// the hash; it is never copied here.
const registeredSecretMark = "mandate-client:"

// secretChecker is fosite's client secret hasher: it checks a registered
// client's secret with the authority (Authority.AuthenticateClient).
type secretChecker struct{ a *authority.Authority }

func (s secretChecker) Compare(_ context.Context, hash, data []byte) error {
	id, ok := strings.CutPrefix(string(hash), registeredSecretMark)
	if !ok {
		return errors.New("not a registered client")
	}
	if _, err := s.a.AuthenticateClient(id, string(data)); err != nil {
		return err
	}
	return nil
}

func (s secretChecker) Hash(context.Context, []byte) ([]byte, error) {
	return nil, errors.New("oauth: client secrets are the authority's")
}
