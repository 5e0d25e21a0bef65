package authority_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies holds DESIGN.md's line: the authority imports token (and
// its own storage and HTTP stack), never the verifier or attenuate.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/mandate-dev/mandate/authority").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/mandate-dev/mandate/verifier", "github.com/mandate-dev/mandate/attenuate", "github.com/prometheus/"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("authority depends on %s", dep)
			}
		}
	}
}
