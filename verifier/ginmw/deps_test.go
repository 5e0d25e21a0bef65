package ginmw_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps: a gin tool server pulls neither the MCP SDK nor the authority.
func TestDeps(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/mandate-dev/mandate/verifier/ginmw").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/modelcontextprotocol/") || strings.HasPrefix(dep, "github.com/mandate-dev/mandate/authority") {
			t.Errorf("verifier/ginmw depends on %s", dep)
		}
	}
}
