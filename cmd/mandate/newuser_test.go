package main

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/token"
)

// TestMintRefusesPublicKey: --private-key given the public key that keygen
// prints (or any other public key form) is refused with a message that
// names the file to use, instead of minting tokens nobody trusts.
func TestMintRefusesPublicKey(t *testing.T) {
	dir := t.TempDir()
	c := newCLI(t)
	key := filepath.Join(dir, "key.pem")
	pub := strings.TrimSpace(c.ok("", "keygen", "--out", key))
	priv := readKey(t, key)
	der, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	right := "service=s,tool=t,op=o,resource=r"
	for _, tt := range []struct{ name, content, want string }{
		{"pub.hex, as keygen prints it", pub + "\n", "holds 32 bytes of hex: that is a public key, as \"mandate keygen\" prints it on stdout; pass the private key file that \"mandate keygen --out FILE\" wrote"},
		{"upper-case hex", strings.ToUpper(pub), "that is a public key"},
		{"ed25519/ prefix", token.PublicKeyPrefix + pub, `holds a public key ("ed25519/" prefix)`},
		{"PEM public key", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), "holds a public key (PEM PUBLIC KEY)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(dir, "pub.hex")
			if err := writeFile(f, tt.content); err != nil {
				t.Fatal(err)
			}
			r := c.run("", "mint", "--private-key", f, "--agent", "a", "--right", right)
			wantFail(t, r, exitFailure, "--private-key "+f+" holds ")
			if !strings.Contains(r.stderr, tt.want) || r.stdout != "" {
				t.Fatalf("stderr %q lacks %q (stdout %q)", r.stderr, tt.want, r.stdout)
			}
		})
	}

	// Every private form signs with the key whose public half keygen printed.
	seed := hex.EncodeToString(priv.Seed())
	for _, tt := range []struct{ name, content string }{
		{"keygen's PEM", ""},
		{"seed with the Biscuit CLI prefix", "ed25519-private/" + seed},
		{"64-byte hex", hex.EncodeToString(priv)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := c.in(t)
			f := key
			if tt.content != "" {
				f = filepath.Join(dir, "priv.hex")
				if err := writeFile(f, tt.content); err != nil {
					t.Fatal(err)
				}
			}
			tok := oneTokenLine(t, c.ok("", "mint", "--private-key", f, "--agent", "a", "--right", right))
			c.ok(tok, "inspect", "--public-key", pub)
		})
	}
	// A 64-byte key whose public half is another key's is refused.
	other := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	f := filepath.Join(dir, "mixed.hex")
	if err := writeFile(f, seed+hex.EncodeToString(other.Public().(ed25519.PublicKey))); err != nil {
		t.Fatal(err)
	}
	wantFail(t, c.run("", "mint", "--private-key", f, "--agent", "a", "--right", right), exitFailure, "the public half does not match the seed")
}

// TestMintShowsWhatComesNext: mint prints the token alone on stdout and,
// on stderr, the session with the command that revokes it, the expiry and
// the revocation IDs; following that command works.
func TestMintShowsWhatComesNext(t *testing.T) {
	f := newFakeAuthority(t)
	c := newCLI(t)
	c.env[envToken] = fakeSecret
	r := c.run("", "mint", "--authority", f.URL, "--agent", "a", "--right", "service=s,tool=*,op=*,resource=doc:", "--ttl", "10m")
	if r.code != 0 {
		t.Fatalf("mint: exit %d: %s", r.code, r.stderr)
	}
	tok := oneTokenLine(t, r.stdout)
	if strings.Contains(r.stderr, tok) || strings.Contains(r.stderr, fakeSecret) {
		t.Fatal("mint printed the token or the credential on stderr")
	}
	m := regexp.MustCompile(`(?m)^to revoke the session: mandate (revoke --authority \S+ --session (s_\S+))$`).FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("stderr does not say how to revoke the session: %q", r.stderr)
	}
	for _, want := range []string{"session: " + m[2] + "\n", "expires at: ", "revocation ID of block 0: "} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q: %q", want, r.stderr)
		}
	}
	// The printed command, as is.
	c.ok("", strings.Fields(m[1])...)
	f.mu.Lock()
	got := f.revokes[len(f.revokes)-1]["session"]
	f.mu.Unlock()
	if got != m[2] {
		t.Fatalf("revoked session %q, want %q", got, m[2])
	}
}

// TestTokenInput: revoke takes its token like every other command (the
// argument, "-", or stdin with no argument), refuses a file name, and a
// pasted "Bearer " prefix is understood wherever a token or credential is
// read.
func TestTokenInput(t *testing.T) {
	f := newFakeAuthority(t)
	key, pub := testKey(t)
	c := newCLI(t)
	tok := session(t, c, key)
	dir := t.TempDir()
	file := filepath.Join(dir, "sub.tok")
	if err := writeFile(file, tok+"\n"); err != nil {
		t.Fatal(err)
	}

	revoked := func() string {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.revokes[len(f.revokes)-1]["token"]
	}
	for _, tt := range []struct {
		name  string
		stdin string
		args  []string
	}{
		{"stdin, no argument", tok + "\n", nil},
		{"stdin, -", tok, []string{"-"}},
		{"argument", "", []string{tok}},
		{"--token -", tok, []string{"--token", "-"}},
		{"Bearer on stdin", "Bearer " + tok + "\n", nil},
		{"Authorization header on stdin", "Authorization: bearer " + tok + "\n", nil},
		{"Bearer argument", "", []string{"Bearer " + tok}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c.in(t).ok(tt.stdin, append([]string{"revoke", "--authority", f.URL}, tt.args...)...)
			if got := revoked(); got != tok {
				t.Fatalf("sent token %.20q…, want the token", got)
			}
		})
	}
	n := len(f.revokes)
	wantFail(t, c.run("", "revoke", "--authority", f.URL, "--token", file), exitUsage,
		`is a file, but --token takes the token itself; read the file on stdin: mandate revoke < `+file)
	wantFail(t, c.run("", "revoke", "--authority", f.URL, file), exitUsage, "is a file, but the argument is the token itself")
	if len(f.revokes) != n {
		t.Fatal("a file name was sent as a token")
	}

	// Bearer wherever a token is read.
	bearer := "Bearer " + tok + "\n"
	c.ok(bearer, "inspect")
	c.ok("", "inspect", "Bearer "+tok)
	oneTokenLine(t, c.ok(bearer, "attenuate", "--op", "read"))
	c.ok(bearer, "verify", "--public-key", pub, "--service", "github", "--tool", "t", "--op", "read", "--resource", "repo:acme/x")
	// And in the credential.
	c.env[envToken] = "Bearer " + fakeSecret
	c.ok("", "mint", "--authority", f.URL, "--agent", "a", "--right", "service=s,tool=*,op=*,resource=")
	f.mu.Lock()
	last := f.bearers[len(f.bearers)-1]
	f.mu.Unlock()
	if last != "Bearer "+fakeSecret {
		t.Fatalf("Authorization = %q", last)
	}
}

// TestAttenuateLaterTTL: an expiry later than the token's own is said to
// change nothing, on stderr; the command still succeeds.
func TestAttenuateLaterTTL(t *testing.T) {
	key, _ := testKey(t)
	c := newCLI(t)
	tok := session(t, c, key, "--ttl", "10m")
	var in token.Inspection
	if err := json.Unmarshal([]byte(c.ok(tok, "inspect", "--json")), &in); err != nil {
		t.Fatal(err)
	}
	r := c.run(tok, "attenuate", "--op", "read", "--ttl", "48h")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	oneTokenLine(t, r.stdout)
	want := "mandate: note: --ttl 48h0m0s would end at "
	if !strings.HasPrefix(r.stderr, want) || !strings.Contains(r.stderr, "after the token's own expiry at "+*in.ExpiresAt) ||
		!strings.Contains(r.stderr, "so it still expires at "+*in.ExpiresAt) || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("stderr = %q", r.stderr)
	}
	later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if r := c.run(tok, "attenuate", "--expires", later); r.code != 0 || !strings.HasPrefix(r.stderr, "mandate: note: --expires "+later+" would end at ") {
		t.Fatalf("--expires later: exit %d, stderr %q", r.code, r.stderr)
	}
	// Sooner: no note.
	if r := c.run(tok, "attenuate", "--ttl", "5m"); r.code != 0 || r.stderr != "" {
		t.Fatalf("--ttl 5m: exit %d, stderr %q", r.code, r.stderr)
	}
}

// in returns a copy of c that reports to t (a subtest's).
func (c *cli) in(t *testing.T) *cli {
	cc := *c
	cc.t = t
	return &cc
}

// readmeLimits are the numbers the README's "Limits" paragraph states,
// with the constants they must equal.
var readmeLimits = []struct {
	text string
	n    int
}{
	{"%d KiB per token", token.MaxTokenBytes >> 10},
	{"%d blocks", token.MaxBlocks},
	{"%d facts", token.MaxFactsPerBlock},
	{"%d rules", token.MaxRulesPerBlock},
	{"%d checks per block", token.MaxChecksPerBlock},
	{"%d queries per check", token.MaxQueriesPerCheck},
	{"%d predicates per rule body", token.MaxBodyPredicates},
	{"%d operations\nper expression", token.MaxOpsPerExpression},
	{"%d KiB strings", token.MaxStringBytes >> 10},
	{"%d-element sets", token.MaxSetSize},
	{"%d symbols", token.MaxSymbols},
	{"a %s-step evaluation budget", token.EvalSteps},
	{"%d h maximum TTL", int(token.MaxTTL / time.Hour)},
}

// TestREADMELimits: the limits the README states are the code's.
func TestREADMELimits(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(b), "Limits (all in `token/limits.go`")
	if i < 0 {
		t.Fatal("README has no Limits paragraph")
	}
	para, _, _ := strings.Cut(string(b[i:]), "\n\n")
	flat := strings.Join(strings.Fields(para), " ")
	for _, l := range readmeLimits {
		var want string
		if strings.Contains(l.text, "%s") {
			want = strings.Replace(l.text, "%s", thousands(l.n), 1)
		} else {
			want = strings.Replace(l.text, "%d", strconv.Itoa(l.n), 1)
		}
		want = strings.Join(strings.Fields(want), " ")
		if !strings.Contains(flat, want) {
			t.Errorf("the README's limits do not say %q (token/limits.go): %s", want, flat)
		}
	}
}

// thousands writes n with a comma every three digits, as the README does.
func thousands(n int) string {
	digits := strconv.Itoa(n)
	var b strings.Builder
	for i, c := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// TestREADMEWalkthroughFiles: the README's walkthrough works in a scratch
// folder, and every file its commands write (keys, live tokens) would be
// ignored by git even if run in the repository.
func TestREADMEWalkthroughFiles(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	_, walk, ok := strings.Cut(readme, "## Five minutes with the CLI")
	if !ok {
		t.Fatal("README has no walkthrough")
	}
	walk, _, _ = strings.Cut(walk, "\n## ")
	first, _, _ := strings.Cut(strings.SplitN(walk, "```sh\n", 2)[1], "\n")
	if !strings.Contains(first, "mktemp -d") || !strings.Contains(first, "cd ") {
		t.Errorf("the walkthrough does not start in a scratch folder: %q", first)
	}
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("no git to ask about .gitignore")
	}
	written := regexp.MustCompile(`(?:[^0-9&]> ?|--out |-o )([A-Za-z0-9_./-]+)`)
	quoted := regexp.MustCompile(`'[^']*'`) // a > in quotes ('refund:amount>100') is no redirect
	var names []string
	for _, block := range strings.Split(readme, "```sh\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		for _, line := range strings.Split(block, "\n") {
			line, _, _ = strings.Cut(line, "#")
			line = quoted.ReplaceAllString(line, "''")
			for _, m := range written.FindAllStringSubmatch(line, -1) {
				if m[1] != "/dev/null" {
					names = append(names, m[1])
				}
			}
		}
	}
	if len(names) < 4 {
		t.Fatalf("found only %v written by the README's commands", names)
	}
	for _, name := range names {
		cmd := exec.Command(git, "check-ignore", "-q", "--no-index", name)
		cmd.Dir = "../.."
		if err := cmd.Run(); err != nil {
			t.Errorf("the README's commands write %s, which .gitignore does not cover (git check-ignore: %v)", name, err)
		}
	}
}

// TestREADMENode: the README names the Node version the interop tests
// need (the minimum interop/rust_test.go enforces) and, when the pinned
// Rust package declares a newer engine than that, says that npm's
// EBADENGINE warning about it is expected.
func TestREADMENode(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("../../interop/rust_test.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`major < (\d+)`).FindSubmatch(src)
	if m == nil {
		t.Fatal("interop/rust_test.go no longer checks the Node major version")
	}
	min := string(m[1])
	flat := strings.Join(strings.Fields(string(readme)), " ")
	if !strings.Contains(flat, "Node "+min+" or newer") {
		t.Errorf("the README does not say the tests need Node %s or newer", min)
	}
	var lock struct {
		Packages map[string]struct {
			Engines map[string]string `json:"engines"`
		} `json:"packages"`
	}
	b, err := os.ReadFile("../../interop/package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &lock); err != nil {
		t.Fatal(err)
	}
	engine := lock.Packages["node_modules/@biscuit-auth/biscuit-wasm"].Engines["node"]
	e := regexp.MustCompile(`^>=(\d+)`).FindStringSubmatch(engine)
	if e == nil {
		return
	}
	want, _ := strconv.Atoi(e[1])
	have, _ := strconv.Atoi(min)
	if want > have && (!strings.Contains(flat, "EBADENGINE") || !strings.Contains(flat, "node >="+e[1])) {
		t.Errorf("biscuit-wasm declares node %s, above the Node %s the tests need, and the README does not explain npm's EBADENGINE warning", engine, min)
	}
}

func TestShellWord(t *testing.T) {
	for in, want := range map[string]string{
		"s_abc-1.2":             "s_abc-1.2",
		"http://127.0.0.1:8421": "http://127.0.0.1:8421",
		"my session":            "'my session'",
		"it's":                  `'it'\''s'`,
		"$(rm -rf ~)":           "'$(rm -rf ~)'",
		"":                      "''",
	} {
		if got := shellWord(in); got != want {
			t.Errorf("shellWord(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestNoMsgpackTag: the README's advice holds: with -tags nomsgpack the CLI
// no longer depends on ugorji/go/codec, the package that takes 1.1 GB of
// memory to compile (gin pulls it in for MessagePack, which mandate does
// not use).
func TestNoMsgpackTag(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	deps := func(tags ...string) string {
		out, err := exec.Command(gobin, append(append([]string{"list", "-deps"}, tags...), ".")...).Output()
		if err != nil {
			t.Fatalf("go list: %v", err)
		}
		return string(out)
	}
	if !strings.Contains(deps(), "github.com/ugorji/go/codec\n") {
		t.Fatal("the CLI no longer depends on ugorji/go/codec at all: update the README's first-run numbers and drop its -tags nomsgpack advice")
	}
	if strings.Contains(deps("-tags", "nomsgpack"), "github.com/ugorji/go/codec\n") {
		t.Fatal("with -tags nomsgpack the CLI still depends on ugorji/go/codec: fix the README's advice")
	}
}
