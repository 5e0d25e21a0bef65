package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/internal/natstest"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier/follow"
	"github.com/mandate-dev/mandate/verifier/revocation"
)

const natsAdmin = "admin-token-for-the-nats-fault-test-0123456789"

// authorityProc is "mandate authority serve" running as a process.
type authorityProc struct {
	cmd  *exec.Cmd
	url  string
	root string
	done chan struct{}
}

// startAuthorityProc starts the binary with args after "authority serve"
// and waits until it listens.
func startAuthorityProc(t *testing.T, args ...string) *authorityProc {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"authority", "serve", "--addr", "127.0.0.1:0", "--log-level", "warn", "--data", t.TempDir()}, args...)...)
	cmd.Env = append(os.Environ(), "MANDATE_ADMIN_TOKEN="+natsAdmin)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &authorityProc{cmd: cmd, done: make(chan struct{})}
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-p.done })
	ready := make(chan struct{})
	var lines bytes.Buffer
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			l := sc.Text()
			if p.url == "" {
				lines.WriteString(l + "\n")
			}
			if m := regexp.MustCompile(`root public key .*: ([0-9a-f]{64})$`).FindStringSubmatch(l); m != nil {
				p.root = m[1]
			}
			if m := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`).FindStringSubmatch(l); m != nil {
				p.url = m[1]
				close(ready)
			}
		}
		_ = cmd.Wait()
		close(p.done)
	}()
	select {
	case <-ready:
	case <-p.done:
		t.Fatalf("authority exited before listening:\n%s", lines.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("authority did not listen within 60s:\n%s", lines.String())
	}
	return p
}

// kill stops the process with SIGKILL: no graceful shutdown.
func (p *authorityProc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func postJSON(url, bearer string, body any, out any) (int, error) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+bearer)
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode < 300 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return resp.StatusCode, err
		}
	}
	return resp.StatusCode, nil
}

// TestNATSFaults: two authority processes on a 3-node JetStream cluster,
// a verifier following one of them. During a burst of mints and
// revocations through both, one authority is killed (SIGKILL) and one
// NATS node stopped. Every revocation an authority acknowledged reaches
// the verifier, both feeds serve one log with the same sequence numbers,
// and service resumes when the killed authority is started again.
func TestNATSFaults(t *testing.T) {
	c := natstest.Start(t, 3)
	storeArgs := []string{"--store", c.URLs(), "--nats-replicas", "3"}
	a := startAuthorityProc(t, storeArgs...)
	b := startAuthorityProc(t, storeArgs...)
	if a.root == "" || a.root != b.root {
		t.Fatalf("the replicas print different root keys: %q and %q", a.root, b.root)
	}

	// The verifier follows b.
	root, err := token.ParsePublicKey(b.root)
	if err != nil {
		t.Fatal(err)
	}
	store := revocation.NewMemory()
	f, err := follow.New(follow.Config{Authority: b.url, TrustAnchors: []token.PublicKey{{ID: token.KeyID(root), Key: root}}, Store: store, Keys: token.NewKeySet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Run(ctx)

	type minted struct {
		Token string `json:"token"`
	}
	type revoked struct {
		Entries []struct {
			RevocationID string `json:"revocation_id"`
		} `json:"entries"`
	}
	var (
		mu    sync.Mutex
		acked [][]byte
		ops   atomic.Int64
		aDown atomic.Bool
	)
	urls := func() []string {
		if aDown.Load() {
			return []string{b.url, b.url}
		}
		return []string{a.url, b.url}
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				us := urls()
				var m minted
				code, err := postJSON(us[(w+i)%2]+"/v1/tokens", natsAdmin, map[string]any{
					"agent": "bot", "org": "acme", "session": fmt.Sprintf("burst-%d", w), "ttl_seconds": 3600,
					"rights": []map[string]string{{"service": "crm", "tool": "get", "operation": "read", "resource": "account:acme/"}},
				}, &m)
				ops.Add(1)
				if err != nil || code != http.StatusCreated {
					continue // not acknowledged: nothing to check
				}
				var r revoked
				code, err = postJSON(urls()[(w+i+1)%2]+"/v1/revocations", natsAdmin, map[string]string{"token": m.Token}, &r)
				ops.Add(1)
				if err != nil || code != http.StatusOK || len(r.Entries) != 1 {
					continue
				}
				id, _ := hex.DecodeString(r.Entries[0].RevocationID)
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
			}
		}()
	}
	// Mid-burst: kill authority a and stop NATS node 1.
	for ops.Load() < 60 {
		time.Sleep(5 * time.Millisecond)
	}
	aDown.Store(true)
	a.kill()
	c.StopNode(0)
	wg.Wait()

	mu.Lock()
	n := len(acked)
	mu.Unlock()
	if n < 25 {
		t.Fatalf("only %d of 100 revocations were acknowledged: the surviving replica should have taken the load", n)
	}
	// Every acknowledged revocation reaches the verifier.
	deadline := time.Now().Add(60 * time.Second)
	for _, id := range acked {
		for store.Revoked([][]byte{id}) != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("acknowledged revocation %x… never reached the verifier", id[:8])
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// Service resumes without an operator: the node and the authority
	// come back, and the restarted replica serves the same log.
	c.StartNode(0)
	a2 := startAuthorityProc(t, storeArgs...)
	feed := func(u string) []byte {
		resp, err := http.Get(u + "/v1/revocations?after=0")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Entries []json.RawMessage `json:"entries"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(out.Entries)
		return b
	}
	var fa, fb []byte
	deadline = time.Now().Add(60 * time.Second)
	for {
		fa, fb = feed(a2.url), feed(b.url)
		if bytes.Equal(fa, fb) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replicas' feeds differ:\n%s\n%s", fa, fb)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var entries []struct {
		Seq uint64 `json:"seq"`
	}
	_ = json.Unmarshal(fa, &entries)
	for i, e := range entries {
		if e.Seq != uint64(i+1) {
			t.Fatalf("feed entry %d has seq %d: the log has a gap or a duplicate", i, e.Seq)
		}
	}
	if len(entries) < n {
		t.Fatalf("the feed holds %d entries, %d revocations were acknowledged", len(entries), n)
	}
	var m minted
	if code, err := postJSON(a2.url+"/v1/tokens", natsAdmin, map[string]any{"agent": "bot", "org": "acme", "ttl_seconds": 60,
		"rights": []map[string]string{{"service": "crm", "tool": "get", "operation": "read", "resource": "account:acme/"}}}, &m); err != nil || code != http.StatusCreated {
		t.Fatalf("mint at the restarted replica: %d %v", code, err)
	}
}
