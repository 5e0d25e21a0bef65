package main

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mandate-dev/mandate/token"
)

func readKey(t *testing.T, path string) ed25519.PrivateKey {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := token.ParsePrivateKey(data)
	if err != nil {
		t.Fatalf("key file does not parse: %v", err)
	}
	return priv
}

func wantMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != want {
		t.Fatalf("%s has mode %o, want %o", path, got, want)
	}
}

func TestKeygenOut(t *testing.T) {
	c := newCLI(t)
	path := filepath.Join(t.TempDir(), "key.pem")
	r := c.run("", "keygen", "--out", path)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	wantMode(t, path, 0o600)
	priv := readKey(t, path)
	pub := token.FormatPublicKey(priv.Public().(ed25519.PublicKey))
	if r.stdout != pub+"\n" {
		t.Fatalf("stdout = %q, want the public key %q alone", r.stdout, pub)
	}
	id := token.KeyID(priv.Public().(ed25519.PublicKey))
	if !strings.Contains(r.stderr, "key ID ") || !strings.Contains(r.stderr, "mode 0600") || !strings.Contains(r.stderr, path) {
		t.Fatalf("stderr %q should name the file, its mode and the key ID %d", r.stderr, id)
	}
	if strings.Contains(r.stdout+r.stderr, "PRIVATE KEY") {
		t.Fatal("the private key was printed")
	}

	// A second keygen refuses to overwrite the key.
	before, _ := os.ReadFile(path)
	r = c.run("", "keygen", "--out", path)
	wantFail(t, r, exitFailure, "already exists; choose another file or pass --force")
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Fatal("keygen without --force changed the existing key file")
	}

	// --force replaces it, and a file that had a wider mode ends up 0600.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	r = c.run("", "keygen", "--out", path, "--force")
	if r.code != 0 {
		t.Fatalf("--force: exit %d: %s", r.code, r.stderr)
	}
	wantMode(t, path, 0o600)
	if readKey(t, path).Equal(priv) {
		t.Fatal("--force kept the old key")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestKeygenStdout(t *testing.T) {
	r := newCLI(t).run("", "keygen")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	priv, err := token.ParsePrivateKey([]byte(r.stdout))
	if err != nil || !strings.HasPrefix(r.stdout, "-----BEGIN PRIVATE KEY-----") {
		t.Fatalf("stdout is not a PEM PKCS#8 key (%v): %q", err, r.stdout)
	}
	pub := token.FormatPublicKey(priv.Public().(ed25519.PublicKey))
	if !strings.Contains(r.stderr, "public key: "+pub+"\n") {
		t.Fatalf("stderr %q lacks the public key %s", r.stderr, pub)
	}
	if strings.Contains(r.stderr, "PRIVATE") {
		t.Fatal("the private key went to stderr")
	}
}

func TestKeygenErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"argument", []string{"keygen", "key.pem"}, exitUsage, `unexpected argument "key.pem"`},
		{"missing folder", []string{"keygen", "--out", filepath.Join(dir, "no", "key.pem")}, exitFailure, "--out: open"},
		{"directory with force", []string{"keygen", "--out", dir, "--force"}, exitFailure, "is a directory"},
		{"directory", []string{"keygen", "--out", dir}, exitFailure, "already exists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantFail(t, newCLI(t).run("", tt.args...), tt.code, tt.want)
		})
	}
}
