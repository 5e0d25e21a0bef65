package follow_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies holds the line DESIGN.md draws: a tool server that
// embeds the follower pulls in neither gin, nor Badger, nor the authority.
func TestDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/gin-gonic/", "github.com/dgraph-io/badger", "github.com/mandate-dev/mandate/authority"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("verifier/follow depends on %s", dep)
			}
		}
	}
}
