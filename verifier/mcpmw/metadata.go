package mcpmw

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// WellKnownPath is the RFC 9728 well-known path of protected resource
// metadata.
const WellKnownPath = "/.well-known/oauth-protected-resource"

// Metadata is OAuth 2.0 protected resource metadata (RFC 9728 §2): what an
// MCP client fetches, from the resource_metadata URL of a challenge, to
// learn which authority issues tokens for this server.
type Metadata struct {
	// Resource is the server's resource identifier: the URL of its MCP
	// endpoint, e.g. "https://tools.example/mcp". Required.
	Resource string `json:"resource"`
	// AuthorizationServers are the authority URLs that issue tokens for
	// this server. Required.
	AuthorizationServers []string `json:"authorization_servers"`
	// BearerMethodsSupported defaults to ["header"]: mandate accepts tokens
	// only in the Authorization header.
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	// ScopesSupported lists the scopes of this server in the authority's
	// scope catalog (such as "github:read"), which MCP clients ask for
	// when a challenge names none; empty when clients are handed tokens
	// rather than authorized through the authority's OAuth endpoints.
	ScopesSupported []string `json:"scopes_supported,omitempty"`
	// ResourceName is a human-readable name of the server.
	ResourceName string `json:"resource_name,omitempty"`
	// ResourceDocumentation is a URL of documentation for developers.
	ResourceDocumentation string `json:"resource_documentation,omitempty"`
}

// MetadataURL returns the RFC 9728 §3.1 metadata URL of a resource: the
// well-known path inserted between the host and the resource's path, so
// "https://tools.example/mcp" has its metadata at
// "https://tools.example/.well-known/oauth-protected-resource/mcp". Serve
// [ProtectedResourceMetadata] there (and, for older clients, at
// WellKnownPath itself) and pass the URL as Options.ResourceMetadata.
func MetadataURL(resource string) (string, error) {
	u, err := url.Parse(resource)
	if err != nil {
		return "", err
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", errors.New("mcpmw: the resource must be an absolute http(s) URL")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("mcpmw: the resource must have no query or fragment (RFC 9728 §1.2)")
	}
	u.Path = WellKnownPath + strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u.String(), nil
}

// ProtectedResourceMetadata serves m as RFC 9728 protected resource
// metadata: GET (and HEAD) only, JSON, readable from any origin (it is
// public by design). It needs no token: mount it outside Guard.Middleware.
func ProtectedResourceMetadata(m Metadata) (http.Handler, error) {
	if m.Resource == "" {
		return nil, errors.New("mcpmw: Metadata.Resource is required")
	}
	if len(m.AuthorizationServers) == 0 {
		return nil, errors.New("mcpmw: Metadata.AuthorizationServers needs the authority URL")
	}
	if len(m.BearerMethodsSupported) == 0 {
		m.BearerMethodsSupported = []string{"header"}
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		switch r.Method {
		case http.MethodGet, http.MethodHead:
		case http.MethodOptions:
			w.Header().Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
			w.WriteHeader(http.StatusNoContent)
			return
		default:
			w.Header().Set("Allow", "GET, HEAD, OPTIONS")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
	}), nil
}
