// Package layering holds the dependency lines of DESIGN.md and STYLE.md: a
// tool server that embeds the verifier pulls only what it uses.
package layering

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/mandate-dev/mandate/"

func TestDependencies(t *testing.T) {
	gin, badger, mcp := "github.com/gin-gonic/", "github.com/dgraph-io/", "github.com/modelcontextprotocol/"
	authority, verifier, attenuate := mod+"authority", mod+"verifier", mod+"attenuate"
	tests := []struct {
		pkg    string
		banned []string
	}{
		{"token", []string{gin, badger, mcp, authority, verifier, attenuate}},
		{"attenuate", []string{gin, badger, mcp, authority, verifier}},
		{"verifier", []string{gin, badger, mcp, authority, attenuate, "github.com/spf13/", verifier + "/approval", verifier + "/decisionlog"}},
		{"verifier/decisionlog", []string{gin, badger, mcp, authority, attenuate, "github.com/spf13/", verifier + "/approval"}},
		{"verifier/approval", []string{gin, badger, mcp, authority, attenuate, "github.com/spf13/"}},
		{"verifier/usage", []string{gin, badger, mcp, authority, attenuate, "github.com/spf13/"}},
		{"authority/usage", []string{gin, verifier, attenuate, mcp}},
		{"verifier/revocation", []string{gin, badger, mcp, authority}},
		{"verifier/follow", []string{gin, badger, mcp, authority}},
		{"verifier/ginmw", []string{badger, mcp, authority}},
		{"verifier/mcpmw", []string{gin, badger, authority}},
		{"authority", []string{verifier, attenuate, mcp, "github.com/prometheus/"}},
	}
	for _, tt := range tests {
		t.Run(tt.pkg, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", mod+tt.pkg).CombinedOutput()
			if err != nil {
				t.Fatalf("go list -deps %s: %v\n%s", tt.pkg, err, out)
			}
			for _, dep := range strings.Fields(string(out)) {
				for _, b := range tt.banned {
					// "x/" bans a whole module tree; "x" a package and its subpackages.
					if strings.HasSuffix(b, "/") && strings.HasPrefix(dep, b) || dep == b || strings.HasPrefix(dep, b+"/") {
						t.Errorf("%s depends on %s", tt.pkg, dep)
					}
				}
			}
		})
	}
}
