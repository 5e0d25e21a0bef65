package token_test

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/mandate-dev/mandate/token"
)

// Names must be visible text: format characters (bidi overrides,
// zero-width characters, BOM), line and paragraph separators and non-ASCII
// spaces are refused like control characters, in every name of a mint
// request.
func TestMintRefusesInvisibleCharacters(t *testing.T) {
	chars := map[string]string{
		"RLO U+202E": "\u202e", "LINE SEPARATOR U+2028": "\u2028", "PARAGRAPH SEPARATOR U+2029": "\u2029",
		"ZWSP U+200B": "\u200b", "BOM U+FEFF": "\ufeff", "NBSP U+00A0": "\u00a0", "IDEOGRAPHIC SPACE U+3000": "\u3000",
		"ZWJ U+200D": "\u200d", "LRI U+2066": "\u2066", "SOFT HYPHEN U+00AD": "\u00ad",
	}
	fields := map[string]func(r *token.MintRequest, v string){
		"agent":     func(r *token.MintRequest, v string) { r.Subject.Agent = "bot" + v },
		"user":      func(r *token.MintRequest, v string) { r.Subject.User = "alice" + v + "@acme.test" },
		"org":       func(r *token.MintRequest, v string) { r.Subject.Org = "ac" + v + "me" },
		"session":   func(r *token.MintRequest, v string) { r.Subject.Session = "s_" + v },
		"service":   func(r *token.MintRequest, v string) { r.Rights[0].Service = "crm" + v },
		"tool":      func(r *token.MintRequest, v string) { r.Rights[0].Tool = "get" + v + "account" },
		"operation": func(r *token.MintRequest, v string) { r.Rights[0].Operation = v + "read" },
		"resource":  func(r *token.MintRequest, v string) { r.Rights[0].Resource = "account:acme/4" + v + "2" },
	}
	for cname, c := range chars {
		for fname, set := range fields {
			req := baseRequest()
			set(&req, c)
			err := req.Validate()
			if !errors.Is(err, token.ErrBadRequest) || !strings.Contains(err.Error(), "U+") {
				t.Errorf("%s in %s: Validate = %v, want ErrBadRequest naming the character", cname, fname, err)
			}
			if err != nil && strings.Contains(err.Error(), c) {
				t.Errorf("%s in %s: the error repeats the character: %q", cname, fname, err)
			}
		}
	}
	// Visible non-ASCII text stays allowed.
	req := baseRequest()
	req.Subject.User = "zoë@acme.test"
	req.Subject.Agent = "agent-日本"
	req.Rights[0].Resource = "account:acme/ünïcode"
	if err := req.Validate(); err != nil {
		t.Errorf("visible Unicode refused: %v", err)
	}
}

// TestCheckResource: relative and empty segments are refused, also when
// percent-encoded, so that no resource passes a prefix test while naming
// something outside it.
func TestCheckResource(t *testing.T) {
	tests := []struct {
		r       string
		wantErr string
	}{
		{r: ""},
		{r: "account:acme/42"},
		{r: "account:acme/"},
		{r: "account:"},
		{r: "repo:acme/web/README.md"},
		{r: "file:a.b/c..d/...x"},
		{r: "discount:10%"},
		{r: "a%20b"},
		{r: "account:acme/../globex/1", wantErr: `".." segment`},
		{r: "account:acme/./42", wantErr: `"." segment`},
		{r: "account:acme/42/..", wantErr: `".." segment`},
		{r: "..", wantErr: `".." segment`},
		{r: "account:..", wantErr: `".." segment`},
		{r: `account:acme\..\globex`, wantErr: `".." segment`},
		{r: "a//b", wantErr: "empty segment"},
		{r: "https://api.acme.test/v1/accounts/42"},
		{r: "account://globex"},
		{r: "https://api.acme.test//v1", wantErr: "empty segment"},
		{r: "https://api.acme.test/v1/../admin", wantErr: `".." segment`},
		{r: "x/https://a", wantErr: "empty segment"},
		{r: "1http://a", wantErr: "empty segment"},
		{r: "://a", wantErr: "empty segment"},
		{r: "https:%2F%2Fapi.acme.test/%2E%2E/admin", wantErr: "percent-decoded"},
		{r: "account:acme/%2e%2e/globex/1", wantErr: "percent-decoded"},
		{r: "account:acme/%2E%2e/globex/1", wantErr: "percent-decoded"},
		{r: "account:acme/%252e%252e/globex/1", wantErr: "percent-decoded"},
		{r: "account:acme/.%2e/globex/1", wantErr: "percent-decoded"},
		{r: "account:acme%2f%2fglobex", wantErr: "percent-decoded"},
		{r: "account:acme/42%00", wantErr: "control character"},
		{r: "account:acme/\u202e24", wantErr: "U+202E"},
	}
	for _, tt := range tests {
		err := token.CheckResource(tt.r)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("CheckResource(%q) = %v, want nil", tt.r, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("CheckResource(%q) = %v, want an error containing %q", tt.r, err, tt.wantErr)
		}
	}
	req := baseRequest()
	req.Rights[0].Resource = "account:acme/../globex/"
	if err := req.Validate(); !errors.Is(err, token.ErrBadRequest) || !errors.Is(err, token.ErrResourcePath) {
		t.Errorf("mint with a relative resource: %v, want ErrBadRequest and ErrResourcePath", err)
	}
}

// urlScheme is RFC 3986's scheme: a letter, then letters, digits, "+",
// "-" and ".".
var urlScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*$`)

// FuzzCheckResource: no input panics, and an accepted resource has no "."
// or ".." segment and no "//", raw or percent-decoded once.
func FuzzCheckResource(f *testing.F) {
	for _, s := range []string{"account:acme/42", "a/../b", "%2e%2e", "%", "%2", "%%2e", "a%2F%2Fb", "x:..", `a\..`, "%25252e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, r string) {
		if token.CheckResource(r) != nil {
			return
		}
		forms := []string{r}
		if d, err := url.PathUnescape(r); err == nil {
			forms = append(forms, d)
		}
		for _, s := range forms {
			// A URL's "scheme://" at the start is not an empty segment
			// (resources may be URLs: an MCP server's, for OAuth).
			rest := s
			if i := strings.Index(s, "://"); i > 0 && urlScheme.MatchString(s[:i]) {
				rest = s[i+3:]
			}
			if strings.Contains(rest, "//") {
				t.Fatalf("accepted %q: %q has an empty segment", r, s)
			}
			for _, seg := range strings.FieldsFunc(s, func(c rune) bool { return c == '/' || c == '\\' || c == ':' }) {
				if seg == "." || seg == ".." {
					t.Fatalf("accepted %q: %q has a %q segment", r, s, seg)
				}
			}
		}
	})
}
