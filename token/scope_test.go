package token_test

import (
	"errors"
	"testing"

	"github.com/mandate-dev/mandate/token"
)

func TestScope(t *testing.T) {
	tests := []struct {
		name  string
		right token.Right
		want  string
	}{
		{name: "every resource", right: token.Right{Service: "crm", Tool: "get_account", Operation: "read"}, want: "crm:get_account:read"},
		{name: "resource keeps its colons", right: token.Right{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/42"}, want: "crm:get_account:read:account:acme/42"},
		{name: "wildcards", right: token.Right{Service: "github", Tool: "*", Operation: "*", Resource: "repo:acme/"}, want: "github:*:*:repo:acme/"},
		{name: "colon in a name", right: token.Right{Service: "a:b", Tool: "t", Operation: "o"}, want: "a%3Ab:t:o"},
		{name: "space, quote, backslash, percent, non-ASCII", right: token.Right{Service: "s", Tool: "t", Operation: "o", Resource: `x "y"\%é`}, want: "s:t:o:x%20%22y%22%5C%25%C3%A9"},
		{name: "URL resource", right: token.Right{Service: "http", Tool: "get", Operation: "read", Resource: "https://api.acme.test/v1"}, want: "http:get:read:https://api.acme.test/v1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.right.Scope()
			if got != tt.want {
				t.Fatalf("Scope() = %q, want %q", got, tt.want)
			}
			back, err := token.ParseScope(got)
			if err != nil || back != tt.right {
				t.Errorf("ParseScope(%q) = %+v, %v; want %+v", got, back, err, tt.right)
			}
		})
	}
}

func TestParseScopeRefuses(t *testing.T) {
	for _, s := range []string{
		"", "crm", "crm:get_account", "::read", "crm::read", "crm:get_account:read:",
		"crm:get%3aaccount:read", // lower-case escape: not canonical
		"crm:get%5Faccount:read", // needless escape
		"crm:get_account:read:%ZZ",
		"crm:get_account:read:account:acme/../globex",
		"crm:get%E2%80%AEaccount:read", // U+202E
		"crm:get_account:read:%FF",     // not UTF-8
		"crm get_account:read",
	} {
		if r, err := token.ParseScope(s); err == nil || !errors.Is(err, token.ErrScope) {
			t.Errorf("ParseScope(%q) = %+v, %v; want ErrScope", s, r, err)
		}
	}
}
