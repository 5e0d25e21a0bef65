package mcpmw_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps: an MCP tool server pulls neither gin nor the authority.
func TestDeps(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/mandate-dev/mandate/verifier/mcpmw").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/gin-gonic/") || strings.HasPrefix(dep, "github.com/mandate-dev/mandate/authority") {
			t.Errorf("verifier/mcpmw depends on %s", dep)
		}
	}
}
