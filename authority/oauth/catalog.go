package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/mandate-dev/mandate/authority/kv"
	"github.com/mandate-dev/mandate/token"
)

// Catalog limits.
const (
	MaxServices        = 256
	MaxScopesPerSvc    = 64
	MaxRightsPerScope  = 16
	MaxScopeBytes      = 512 // one scope token
	MaxRequestedScopes = 32  // scopes in one request
	MaxTextBytes       = 512 // descriptions
)

// OrgPlaceholder in a right template's resource is replaced by the org the
// token is minted for.
const OrgPlaceholder = "{org}"

// Service is one resource server in the scope catalog: its mandate service
// name, the resource identifier OAuth clients name it by (RFC 8707; for an
// MCP server the URL of its MCP endpoint, the Resource of its RFC 9728
// metadata) and its scopes. The admin manages the catalog
// (PUT /v1/oauth/services/{name}).
type Service struct {
	Name     string           `json:"name"`
	Resource string           `json:"resource"`
	Title    string           `json:"title,omitempty"`
	Scopes   map[string]Scope `json:"scopes"`
}

// Scope is one catalog scope: the rights it stands for, in plain words
// for the consent page.
type Scope struct {
	Description string          `json:"description"`
	Rights      []RightTemplate `json:"rights"`
}

// RightTemplate is a right of the service; "{org}" in Resource is replaced
// by the token's org ("account:{org}/" → "account:acme/").
type RightTemplate struct {
	Tool      string `json:"tool"`
	Operation string `json:"operation"`
	Resource  string `json:"resource"`
}

// right instantiates t for org.
func (t RightTemplate) right(service, org string) token.Right {
	return token.Right{Service: service, Tool: t.Tool, Operation: t.Operation, Resource: strings.ReplaceAll(t.Resource, OrgPlaceholder, org)}
}

// validScopeToken: RFC 6749 §3.3 scope-token characters, bounded.
func validScopeToken(s string) bool {
	if s == "" || len(s) > MaxScopeBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == 0x21 || 0x23 <= c && c <= 0x5b || 0x5d <= c && c <= 0x7e) {
			return false
		}
	}
	return true
}

// checkResourceURL checks a resource identifier (RFC 8707 §2): an absolute
// URI without a fragment; https, or http on a loopback host.
func checkResourceURL(s string) error {
	if len(s) > token.MaxStringBytes {
		return fmt.Errorf("resource is over %d bytes", token.MaxStringBytes)
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("resource %q must be an absolute https URL without a fragment", clip(s))
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return fmt.Errorf("resource %q: http is allowed on loopback hosts only; use https", clip(s))
		}
	default:
		return fmt.Errorf("resource %q must be an https URL", clip(s))
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Validate checks a service before it is stored.
func (s *Service) Validate() error {
	if err := token.CheckNameRunes(s.Name); err != nil || s.Name == "" || s.Name == token.Wildcard || len(s.Name) > 64 || strings.ContainsAny(s.Name, "/: ") {
		return fmt.Errorf("service name %q: use 1 to 64 letters, digits, '.', '_' or '-'", clip(s.Name))
	}
	if err := checkResourceURL(s.Resource); err != nil {
		return err
	}
	if len(s.Title) > MaxTextBytes {
		return fmt.Errorf("title is over %d bytes", MaxTextBytes)
	}
	if len(s.Scopes) == 0 || len(s.Scopes) > MaxScopesPerSvc {
		return fmt.Errorf("a service needs 1 to %d scopes", MaxScopesPerSvc)
	}
	for name, sc := range s.Scopes {
		if !validScopeToken(name) {
			return fmt.Errorf("scope %q: use printable ASCII without spaces, '\"' or '\\', at most %d bytes", clip(name), MaxScopeBytes)
		}
		if _, err := token.ParseScope(name); err == nil {
			return fmt.Errorf("scope %q reads as a right (service:tool:operation[:resource]); name catalog scopes differently, such as %q", clip(name), s.Name+":read")
		}
		if len(sc.Description) > MaxTextBytes {
			return fmt.Errorf("scope %q: description is over %d bytes", clip(name), MaxTextBytes)
		}
		if len(sc.Rights) == 0 || len(sc.Rights) > MaxRightsPerScope {
			return fmt.Errorf("scope %q needs 1 to %d rights", clip(name), MaxRightsPerScope)
		}
		for i, t := range sc.Rights {
			r := t.right(s.Name, "org")
			req := token.MintRequest{Subject: token.Subject{Agent: "a"}, Rights: []token.Right{r}, TTL: 1}
			if err := req.Validate(); err != nil {
				return fmt.Errorf("scope %q right %d: %w", clip(name), i, err)
			}
		}
	}
	return nil
}

// catalog reads and writes the scope catalog.
type catalog struct{ kv kv.KV }

var errNoService = errors.New("no such service")

func (c catalog) put(ctx context.Context, s Service) error {
	if err := s.Validate(); err != nil {
		return err
	}
	all, err := c.list(ctx)
	if err != nil {
		return err
	}
	for _, o := range all {
		if o.Name != s.Name && o.Resource == s.Resource {
			return fmt.Errorf("resource %q already belongs to service %q", clip(s.Resource), o.Name)
		}
	}
	if len(all) >= MaxServices && !slices.ContainsFunc(all, func(o Service) bool { return o.Name == s.Name }) {
		return fmt.Errorf("the catalog holds %d services, the limit", MaxServices)
	}
	v, err := json.Marshal(s)
	if err != nil {
		return err
	}
	_, err = c.kv.Apply(ctx, kv.Put("service/"+s.Name, v, noExpiry))
	return err
}

func (c catalog) delete(ctx context.Context, name string) error {
	if _, err := c.kv.Get(ctx, "service/"+name); errors.Is(err, kv.ErrNotFound) {
		return errNoService
	} else if err != nil {
		return err
	}
	_, err := c.kv.Apply(ctx, kv.Delete("service/"+name))
	return err
}

func (c catalog) list(ctx context.Context) ([]Service, error) {
	var out []Service
	var decErr error
	err := c.kv.Scan(ctx, kv.ScanOptions{Prefix: "service/"}, func(e kv.Entry) bool {
		var s Service
		if decErr = json.Unmarshal(e.Value, &s); decErr != nil {
			return false
		}
		out = append(out, s)
		return true
	})
	if err == nil {
		err = decErr
	}
	return out, err
}

// byResource finds the service a resource indicator names.
func (c catalog) byResource(ctx context.Context, resource string) (Service, error) {
	all, err := c.list(ctx)
	if err != nil {
		return Service{}, err
	}
	for _, s := range all {
		if s.Resource == resource {
			return s, nil
		}
	}
	return Service{}, errNoService
}

// scopeNames lists every catalog scope (the metadata's scopes_supported).
func (c catalog) scopeNames(ctx context.Context) ([]string, error) {
	all, err := c.list(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range all {
		for name := range s.Scopes {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// resolve maps requested scopes to the rights of org. A catalog scope
// stands for its rights; a scope written as a right
// (service:tool:operation[:resource], what mcpmw names in an
// insufficient_scope challenge) is granted as that right when a catalog
// right of the service covers it. Anything else is an error: unknown
// scopes are refused, never ignored.
func (s Service) resolve(scopes []string, org string) ([]token.Right, error) {
	if len(scopes) == 0 {
		return nil, fmt.Errorf("no scope requested; %s offers %s", s.Name, strings.Join(s.scopeList(), ", "))
	}
	if len(scopes) > MaxRequestedScopes {
		return nil, fmt.Errorf("%d scopes requested, at most %d", len(scopes), MaxRequestedScopes)
	}
	var rights []token.Right
	for _, name := range scopes {
		if sc, ok := s.Scopes[name]; ok {
			for _, t := range sc.Rights {
				rights = append(rights, t.right(s.Name, org))
			}
			continue
		}
		r, err := token.ParseScope(name)
		if err != nil {
			return nil, fmt.Errorf("unknown scope %q; %s offers %s", clip(name), s.Name, strings.Join(s.scopeList(), ", "))
		}
		if !s.covers(r, org) {
			return nil, fmt.Errorf("scope %q is not within any scope of %s (%s)", clip(name), s.Name, strings.Join(s.scopeList(), ", "))
		}
		rights = append(rights, r)
	}
	return rights, nil
}

// check is resolve before the org is known (the consent page, before the
// person chose): a right-form scope passes when a catalog right covers it
// for the org its resource names.
func (s Service) check(scopes []string) error {
	if len(scopes) == 0 || len(scopes) > MaxRequestedScopes {
		_, err := s.resolve(scopes, "")
		return err
	}
	for _, name := range scopes {
		org := ""
		if r, err := token.ParseScope(name); err == nil {
			org = s.impliedOrg(r)
		}
		if _, err := s.resolve([]string{name}, org); err != nil {
			return err
		}
	}
	return nil
}

// impliedOrg is the org a right's resource names in the catalog's
// templates ("repo:acme/api" under "repo:{org}/" names "acme"), or "".
func (s Service) impliedOrg(r token.Right) string {
	for _, sc := range s.Scopes {
		for _, t := range sc.Rights {
			pre, post, ok := strings.Cut(t.Resource, OrgPlaceholder)
			if !ok || !strings.HasPrefix(r.Resource, pre) {
				continue
			}
			rest := r.Resource[len(pre):]
			if post == "" {
				return rest
			}
			if i := strings.Index(rest, post[:1]); i > 0 {
				return rest[:i]
			}
		}
	}
	return ""
}

// covers reports whether a catalog right of s, for org, covers r.
func (s Service) covers(r token.Right, org string) bool {
	if r.Service != s.Name {
		return false
	}
	for _, sc := range s.Scopes {
		for _, t := range sc.Rights {
			c := t.right(s.Name, org)
			if (c.Tool == token.Wildcard || c.Tool == r.Tool) &&
				(c.Operation == token.Wildcard || c.Operation == r.Operation) &&
				strings.HasPrefix(r.Resource, c.Resource) {
				return true
			}
		}
	}
	return false
}

func (s Service) scopeList() []string {
	out := make([]string, 0, len(s.Scopes))
	for name := range s.Scopes {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// clip shortens caller-supplied text echoed in an error message.
func clip(s string) string {
	if len(s) > 64 {
		s = strings.ToValidUTF8(s[:64], "") + "…"
	}
	return s
}

// checkFor is resolve for org, or check when org is not known yet.
func (s Service) checkFor(scopes []string, org string) error {
	if org == "" {
		return s.check(scopes)
	}
	_, err := s.resolve(scopes, org)
	return err
}
