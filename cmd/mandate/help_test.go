package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestHelp: every command has a summary, a description and examples, and
// --help prints them on stdout with exit 0.
func TestHelp(t *testing.T) {
	root := newRootCmd(&app{})
	var walk func(cmd *cobra.Command)
	seen := 0
	walk = func(cmd *cobra.Command) {
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
		if cmd.Hidden || cmd.Name() == "help" || cmd.Name() == "completion" || cmd.Parent() != nil && cmd.Parent().Name() == "completion" {
			return
		}
		seen++
		path := strings.Fields(cmd.CommandPath())[1:]
		t.Run(strings.Join(append([]string{"mandate"}, path...), " "), func(t *testing.T) {
			if cmd.Short == "" || cmd.Example == "" {
				t.Fatalf("missing Short or Example")
			}
			if cmd.Runnable() && cmd.Long == "" && cmd.Name() != "version" {
				t.Fatalf("missing Long")
			}
			r := newCLI(t).run("", append(path, "--help")...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			if !strings.Contains(r.stdout, "Examples:") || !strings.Contains(r.stdout, "Usage:") {
				t.Fatalf("help lacks Usage or Examples:\n%s", r.stdout)
			}
		})
	}
	walk(root)
	for _, name := range []string{"keygen", "mint", "attenuate", "inspect", "verify", "revoke", "demo", "version"} {
		if c, _, err := root.Find([]string{name}); err != nil || c.Name() != name {
			t.Errorf("command %s is missing", name)
		}
	}
	if seen < 9 {
		t.Fatalf("only %d commands checked", seen)
	}
	// A bare "mandate" prints the help.
	r := newCLI(t).run("")
	if r.code != 0 || !strings.Contains(r.stdout, "Available Commands:") {
		t.Fatalf("bare mandate: exit %d, %q", r.code, r.stdout)
	}
}

func TestVersion(t *testing.T) {
	r := newCLI(t).run("", "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "mandate ") || !strings.Contains(r.stdout, "go1.") {
		t.Fatalf("version: exit %d, %q", r.code, r.stdout)
	}
	wantFail(t, newCLI(t).run("", "version", "x"), exitUsage, "unexpected argument")
}
