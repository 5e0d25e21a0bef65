package oauth

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document,
// the MCP specification's preferred registration): the client ID is an
// https URL whose JSON document describes the client. fosite has no
// support for them; this file is mandate's own.

// CIMD limits.
const (
	MaxCIMDURLBytes     = 200 // the client ID names sessions ("oauth:URL/s_…")
	DefaultCIMDMaxBytes = 5 << 10
	DefaultCIMDTimeout  = 5 * time.Second
	DefaultCIMDCacheTTL = 5 * time.Minute
	MaxCIMDCacheTTL     = 24 * time.Hour
	maxCIMDCacheEntries = 1000
)

// CIMDConfig turns on Client ID Metadata Documents.
type CIMDConfig struct {
	// AllowedHosts, when set, are the only hosts client IDs may name:
	// exact host names, or "*.example.com" for its subdomains.
	AllowedHosts []string
	// AllowPrivate lets the fetcher connect to loopback, private,
	// link-local and other non-public addresses (off: a client ID naming
	// one is refused, even through DNS, so that the authority cannot be
	// made to reach its own network).
	AllowPrivate bool
	// MaxBytes bounds a document (default DefaultCIMDMaxBytes).
	MaxBytes int64
	// Timeout bounds a fetch (default DefaultCIMDTimeout).
	Timeout time.Duration
	// CacheTTL is how long a document is reused when its response sets
	// no max-age (default DefaultCIMDCacheTTL; at most MaxCIMDCacheTTL).
	CacheTTL time.Duration
	// TLS, when set, configures the fetcher's TLS (such as a test's root
	// CAs).
	TLS *tls.Config
}

// clientMetadata is the part of a client metadata document (RFC 7591 §2)
// mandate reads.
type clientMetadata struct {
	ClientID                string   `json:"client_id"`
	ClientName              string   `json:"client_name"`
	RedirectURIs            []string `json:"redirect_uris"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
}

type cimdEntry struct {
	c       Client
	expires time.Time
}

// cimd fetches, validates and caches client metadata documents.
type cimd struct {
	cfg    CIMDConfig
	client *http.Client
	mu     sync.Mutex
	cache  map[string]cimdEntry
}

func newCIMD(cfg CIMDConfig) *cimd {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultCIMDMaxBytes
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultCIMDTimeout
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = DefaultCIMDCacheTTL
	}
	c := &cimd{cfg: cfg, cache: map[string]cimdEntry{}}
	dialer := &net.Dialer{Timeout: cfg.Timeout, Control: c.control}
	c.client = &http.Client{
		Timeout: cfg.Timeout,
		Transport: &http.Transport{
			DialContext:            dialer.DialContext,
			TLSClientConfig:        cfg.TLS,
			TLSHandshakeTimeout:    cfg.Timeout,
			ResponseHeaderTimeout:  cfg.Timeout,
			MaxResponseHeaderBytes: 16 << 10,
			DisableKeepAlives:      true,
			Proxy:                  nil, // never through a proxy: the address check is ours
		},
		// A document is fetched from its URL: no redirect anywhere.
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("the client metadata document URL redirects; serve the document at the client ID itself")
		},
	}
	return c
}

// control refuses connections to non-public addresses, on the address
// actually dialed (after DNS resolution, so DNS rebinding cannot slip one
// through).
func (c *cimd) control(_, address string, _ syscall.RawConn) error {
	if c.cfg.AllowPrivate {
		return nil
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return err
	}
	if !publicAddr(ip.Unmap()) {
		return fmt.Errorf("%s is not a public address", ip)
	}
	return nil
}

var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"), // NAT64 can reach private IPv4
	netip.MustParsePrefix("2002::/16"),    // 6to4 likewise
}

func publicAddr(ip netip.Addr) bool {
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsMulticast() || ip.IsUnspecified() || ip.IsInterfaceLocalMulticast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// isCIMD reports whether a client ID is a metadata document URL.
func isCIMD(id string) bool { return strings.HasPrefix(id, "https://") }

// checkURL validates a client ID URL and the allowlist.
func (c *cimd) checkURL(id string) (*url.URL, error) {
	if len(id) > MaxCIMDURLBytes {
		return nil, fmt.Errorf("a client ID URL is at most %d bytes", MaxCIMDURLBytes)
	}
	u, err := url.Parse(id)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" || u.RawQuery != "" ||
		u.Path == "" || u.Path == "/" || strings.Contains(u.Path, "/./") || strings.Contains(u.Path, "/../") || !printable(id) {
		return nil, errors.New("a client ID URL must be https with a path, and no query, fragment, credentials or dot segments")
	}
	if len(c.cfg.AllowedHosts) > 0 && !hostAllowed(u.Hostname(), c.cfg.AllowedHosts) {
		return nil, fmt.Errorf("client ID host %s is not on this authority's allowlist", clip(u.Hostname()))
	}
	return u, nil
}

func hostAllowed(host string, allowed []string) bool {
	host = strings.ToLower(host)
	for _, a := range allowed {
		a = strings.ToLower(a)
		if suffix, ok := strings.CutPrefix(a, "*."); ok {
			if strings.HasSuffix(host, "."+suffix) {
				return true
			}
		} else if host == a {
			return true
		}
	}
	return false
}

// get returns the client a metadata document describes, from the cache or
// fetched.
func (c *cimd) get(ctx context.Context, id string) (Client, error) {
	u, err := c.checkURL(id)
	if err != nil {
		return Client{}, err
	}
	now := time.Now()
	c.mu.Lock()
	e, ok := c.cache[id]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.c, nil
	}
	cl, ttl, err := c.fetch(ctx, u)
	if err != nil {
		return Client{}, err
	}
	c.mu.Lock()
	if len(c.cache) >= maxCIMDCacheEntries {
		for k, v := range c.cache {
			if !now.Before(v.expires) || len(c.cache) >= maxCIMDCacheEntries {
				delete(c.cache, k)
			}
		}
	}
	c.cache[id] = cimdEntry{c: cl, expires: now.Add(ttl)}
	c.mu.Unlock()
	return cl, nil
}

func (c *cimd) fetch(ctx context.Context, u *url.URL) (Client, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Client{}, 0, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return Client{}, 0, fmt.Errorf("fetching the client metadata document: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Client{}, 0, fmt.Errorf("the client metadata document answered %d", resp.StatusCode)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return Client{}, 0, errors.New("the client metadata document is not application/json")
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxBytes+1))
	if err != nil {
		return Client{}, 0, fmt.Errorf("reading the client metadata document: %w", err)
	}
	if int64(len(body)) > c.cfg.MaxBytes {
		return Client{}, 0, fmt.Errorf("the client metadata document is over %d bytes", c.cfg.MaxBytes)
	}
	var m clientMetadata
	if err := json.Unmarshal(body, &m); err != nil {
		return Client{}, 0, fmt.Errorf("the client metadata document is not valid JSON: %v", err)
	}
	if m.ClientID != u.String() {
		return Client{}, 0, errors.New("the client metadata document's client_id is not its own URL")
	}
	if m.TokenEndpointAuthMethod != "" && m.TokenEndpointAuthMethod != "none" {
		return Client{}, 0, errors.New("a client metadata document describes a public client (token_endpoint_auth_method none)")
	}
	cl := Client{ID: m.ClientID, Name: m.ClientName, RedirectURIs: m.RedirectURIs}
	if err := cl.validate(MaxCIMDURLBytes, true); err != nil {
		return Client{}, 0, err
	}
	return cl, cacheTTL(resp.Header.Get("Cache-Control"), c.cfg.CacheTTL), nil
}

// cacheTTL reads max-age (no-store, no-cache: not cached beyond this
// request), bounded by MaxCIMDCacheTTL.
func cacheTTL(cc string, def time.Duration) time.Duration {
	for _, d := range strings.Split(cc, ",") {
		d = strings.TrimSpace(strings.ToLower(d))
		if d == "no-store" || d == "no-cache" {
			return 0
		}
		if v, ok := strings.CutPrefix(d, "max-age="); ok {
			var n int64
			if _, err := fmt.Sscan(v, &n); err == nil && n >= 0 {
				return min(time.Duration(n)*time.Second, MaxCIMDCacheTTL)
			}
		}
	}
	return def
}
