package interop

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/biscuit-auth/biscuit-go/v2/pb"
	"google.golang.org/protobuf/proto"

	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
)

// wasmVersion is the biscuit-wasm version package.json pins.
const wasmVersion = "0.6.0"

// installHint says what to do when the Rust side cannot run.
const installHint = "run `npm ci --prefix interop` from the repository root (Node.js 20 or newer is required); " +
	"a developer without Node may set MANDATE_SKIP_INTEROP=1 to skip these tests locally, CI never"

// nodeTimeout bounds starting node and every batch. Starting node and
// compiling the wasm module takes about a second, but CI machines are
// shared and loaded.
const nodeTimeout = 60 * time.Second

// One node process runs biscuit.mjs for all the tests of the package:
// starting it costs more than everything it then does.
var (
	serverOnce sync.Once
	server     *rustServer
	serverErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if server != nil {
		server.close()
	}
	os.Exit(code)
}

// requireRust fails the test unless node and the pinned biscuit-wasm are
// installed and running, or skips it, loudly, when MANDATE_SKIP_INTEROP=1.
func requireRust(t *testing.T) *rustServer {
	t.Helper()
	if os.Getenv("MANDATE_SKIP_INTEROP") == "1" {
		if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
			t.Fatalf("interop: MANDATE_SKIP_INTEROP=1 is refused when CI=%q: CI must run these tests; %s", ci, installHint)
		}
		t.Skip("SKIPPING the interoperability tests against Biscuit's Rust implementation because MANDATE_SKIP_INTEROP=1; " +
			"these tests are required in CI: unset it and " + installHint)
	}
	serverOnce.Do(func() {
		var path string
		if path, serverErr = findNode(); serverErr == nil {
			server, serverErr = startServer(path)
		}
	})
	if serverErr != nil {
		t.Fatalf("interop: %v; %s", serverErr, installHint)
	}
	return server
}

var nodeMajor = regexp.MustCompile(`^v(\d+)\.`)

func findNode() (string, error) {
	path, err := exec.LookPath("node")
	if err != nil {
		return "", errors.New("node is not on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), nodeTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("node --version: %v", err)
	}
	m := nodeMajor.FindStringSubmatch(strings.TrimSpace(string(out)))
	if m == nil {
		return "", fmt.Errorf("node --version printed %q", strings.TrimSpace(string(out)))
	}
	if major, _ := strconv.Atoi(m[1]); major < 20 {
		return "", fmt.Errorf("node %s is too old", strings.TrimSpace(string(out)))
	}
	data, err := os.ReadFile(filepath.Join("node_modules", "@biscuit-auth", "biscuit-wasm", "package.json"))
	if err != nil {
		return "", errors.New("@biscuit-auth/biscuit-wasm is not installed in interop/node_modules")
	}
	var pkg struct{ Version string }
	if err := json.Unmarshal(data, &pkg); err != nil || pkg.Version != wasmVersion {
		return "", fmt.Errorf("interop/node_modules holds @biscuit-auth/biscuit-wasm %q, want %s", pkg.Version, wasmVersion)
	}
	return path, nil
}

// rustServer is a running biscuit.mjs: one batch a line in, one answer a
// line out. It is safe for concurrent use; batches run one at a time.
type rustServer struct {
	mu     sync.Mutex
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr *tailBuffer
	broken error // set once the process can no longer be trusted
}

func startServer(node string) (*rustServer, error) {
	cmd := exec.Command(node, "--experimental-wasm-modules", "biscuit.mjs")
	s := &rustServer{cmd: cmd, stderr: &tailBuffer{}}
	cmd.Stderr = s.stderr
	cmd.WaitDelay = 5 * time.Second
	var err error
	if s.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s.stdout = bufio.NewReader(out)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting node: %v", err)
	}
	res, err := s.call([]op{{Op: "info"}})
	if err != nil {
		s.close()
		return nil, err
	}
	if !res[0].OK || res[0].Version != wasmVersion {
		s.close()
		return nil, fmt.Errorf("biscuit.mjs loaded biscuit-wasm %q (%s), want %s", res[0].Version, res[0].Error, wasmVersion)
	}
	return s, nil
}

// call sends one batch and waits for its answer, at most nodeTimeout; past
// that it kills node, and every later call fails.
func (s *rustServer) call(ops []op) ([]result, error) {
	in, err := json.Marshal(struct {
		Ops []op `json:"ops"`
	}{ops})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken != nil {
		return nil, s.broken
	}
	type answer struct {
		line []byte
		err  error
	}
	ch := make(chan answer, 1)
	go func() {
		if _, err := s.stdin.Write(append(in, '\n')); err != nil {
			ch <- answer{nil, err}
			return
		}
		line, err := s.stdout.ReadBytes('\n')
		ch <- answer{line, err}
	}()
	timer := time.NewTimer(nodeTimeout)
	defer timer.Stop()
	var a answer
	select {
	case a = <-ch:
	case <-timer.C:
		_ = s.cmd.Process.Kill()
		<-ch // the pipes close with the process
		a.err = fmt.Errorf("no answer within %s", nodeTimeout)
	}
	if a.err != nil {
		s.broken = fmt.Errorf("node biscuit.mjs: %v\nstderr:\n%s", a.err, s.stderr.String())
		return nil, s.broken
	}
	var out struct {
		Results []result `json:"results"`
		Error   string   `json:"error"`
	}
	if err := json.Unmarshal(a.line, &out); err != nil || out.Error != "" || len(out.Results) != len(ops) {
		return nil, fmt.Errorf("node biscuit.mjs: bad answer (%v %s, %d results for %d ops)", err, out.Error, len(out.Results), len(ops))
	}
	return out.Results, nil
}

// close ends node by closing its stdin, killing it if it lingers.
func (s *rustServer) close() {
	_ = s.stdin.Close()
	done := make(chan struct{})
	go func() {
		_ = s.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

// tailBuffer keeps the last 4 KiB written to it; node's stderr goes there
// for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - 4096; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// op is one operation of biscuit.mjs (see its header).
type op struct {
	Op         string  `json:"op"`
	PublicKey  string  `json:"public_key,omitempty"`
	PrivateKey string  `json:"private_key,omitempty"`
	Token      string  `json:"token,omitempty"`
	Code       string  `json:"code,omitempty"`
	RootKeyID  *uint32 `json:"root_key_id,omitempty"`
}

// rustCheck is a failed check as Rust reports it; block -1 is the
// authorizer's.
type rustCheck struct {
	Block int    `json:"block"`
	Check int    `json:"check"`
	Rule  string `json:"rule"`
}

// result is biscuit.mjs's answer to one op.
type result struct {
	OK            bool        `json:"ok"`
	Error         string      `json:"error"`
	Version       string      `json:"version"`
	Token         string      `json:"token"`
	PublicKey     string      `json:"public_key"`
	RevocationIDs []string    `json:"revocation_ids"`
	Blocks        int         `json:"blocks"`
	Sources       []string    `json:"sources"`
	Allowed       bool        `json:"allowed"`
	Policy        int         `json:"policy"`
	Reason        string      `json:"reason"`
	FailedChecks  []rustCheck `json:"failed_checks"`
}

// rust runs ops as one batch in Rust and returns one result per op. Ops
// that fail in Rust come back with OK false; anything else wrong is fatal.
func rust(t *testing.T, ops ...op) []result {
	t.Helper()
	res, err := requireRust(t).call(ops)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// must fails the test when a Rust op failed.
func must(t *testing.T, what string, r result) result {
	t.Helper()
	if !r.OK {
		t.Fatalf("%s in Rust: %s", what, r.Error)
	}
	return r
}

// rustString quotes a Datalog string for Rust's parser. Test values are
// plain, so anything that would need an escape is refused rather than
// guessed at.
func rustString(t *testing.T, s string) string {
	t.Helper()
	if strings.ContainsAny(s, `"\`) || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		t.Fatalf("test value %q needs escaping; use plain strings", s)
	}
	return `"` + s + `"`
}

// rustTerm renders an argument value as Rust Datalog, as the verifier turns
// it into a term: a list becomes one set, written {..} in Rust.
func rustTerm(t *testing.T, v any) string {
	t.Helper()
	switch x := v.(type) {
	case string:
		return rustString(t, x)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	case []string:
		el := make([]string, len(x))
		for i, s := range x {
			el[i] = rustString(t, s)
		}
		return "{" + strings.Join(el, ", ") + "}"
	}
	t.Fatalf("rustTerm: unsupported test value %T", v)
	return ""
}

// requestFacts writes the request facts the verifier derives from req at
// now (token.FactTime etc.), in Rust Datalog.
func requestFacts(t *testing.T, now time.Time, req verifier.Request) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s(%s);\n", token.FactTime, now.UTC().Truncate(time.Second).Format(time.RFC3339))
	for _, kv := range [][2]string{
		{token.FactService, req.Service}, {token.FactTool, req.Tool},
		{token.FactOperation, req.Operation}, {token.FactResource, req.Resource},
	} {
		fmt.Fprintf(&b, "%s(%s);\n", kv[0], rustString(t, kv[1]))
	}
	names := make([]string, 0, len(req.Args))
	for k := range req.Args {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		fmt.Fprintf(&b, "%s(%s, %s);\n", token.FactArg, rustString(t, k), rustTerm(t, req.Args[k]))
	}
	return b.String()
}

// rustPolicy is mandate's policy as Rust authorizer code. token.Policy uses
// only syntax that Rust reads the same way (no set or array literals).
const rustPolicy = token.Policy + ";\n"

// authorizeOp is the Rust authorization of req at now, with mandate's
// policy.
func authorizeOp(t *testing.T, pub, tok string, now time.Time, req verifier.Request) op {
	t.Helper()
	return op{Op: "authorize", PublicKey: pub, Token: tok, Code: requestFacts(t, now, req) + rustPolicy}
}

// rawBlockVersion returns the version field of block i (0: authority) of a
// raw token, read with plain protobuf.
func rawBlockVersion(raw []byte, i int) (uint32, error) {
	var c pb.Biscuit
	if err := proto.Unmarshal(raw, &c); err != nil {
		return 0, err
	}
	signed := append([]*pb.SignedBlock{c.GetAuthority()}, c.GetBlocks()...)
	if i < 0 || i >= len(signed) {
		return 0, fmt.Errorf("the token has %d blocks", len(signed))
	}
	var b pb.Block
	if err := proto.Unmarshal(signed[i].GetBlock(), &b); err != nil {
		return 0, err
	}
	return b.GetVersion(), nil
}
