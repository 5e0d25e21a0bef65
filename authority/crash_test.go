package authority_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"sync"
	"testing"

	"github.com/mandate-dev/mandate/internal/authoritychild"
)

func TestMain(m *testing.M) {
	authoritychild.Main(adminToken) // serves and exits in a child (see startChild)
	os.Exit(m.Run())
}

// child is an authority process on Badger, for tests that kill it.
type child struct {
	*authoritychild.Child
	base string
}

func startChild(t *testing.T, dir string) *child {
	t.Helper()
	c := authoritychild.Start(t, dir)
	return &child{Child: c, base: c.Base}
}

// kill sends SIGKILL: no shutdown code runs, nothing is flushed.
func (c *child) kill() { c.Kill() }

func (c *child) post(t *testing.T, path string, body any) (int, []byte) {
	t.Helper()
	j, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, c.base+path, bytes.NewReader(j))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func (c *child) feed(t *testing.T) map[string]uint64 {
	t.Helper()
	res, err := http.Get(c.base + "/v1/revocations?after=0")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var f feed
	if err := json.NewDecoder(res.Body).Decode(&f); err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, e := range f.Entries {
		out[e.RevocationID] = e.Seq
	}
	return out
}

// TestCrashDurability kills the authority with SIGKILL right after it
// acknowledged a write, restarts it on the same data folder, and checks that
// nothing acknowledged was lost: revocations (invariant 8), and minted
// tokens' records (so that revoking the session after the crash still
// revokes the token).
func TestCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()
	c := startChild(t, dir)

	// 1. A mint acknowledged, then kill -9.
	status, body := c.post(t, "/v1/tokens", crmMint("s_crash"))
	c.kill()
	if status != http.StatusCreated {
		t.Fatalf("mint: %d %s", status, body)
	}
	var m minted
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}

	// 2. Restart; revoking the session finds the token; kill -9 on the
	// 2xx.
	c = startChild(t, dir)
	status, body = c.post(t, "/v1/revocations", map[string]string{"session": "s_crash"})
	c.kill()
	if status != http.StatusOK {
		t.Fatalf("revoke session after restart: %d %s", status, body)
	}
	var rr revokeResp
	_ = json.Unmarshal(body, &rr)
	if rr.Total != 1 || rr.Entries[0].RevocationID != m.RevocationIDs[0] {
		t.Fatalf("revoking the session after a crash revoked %+v, want the token minted before the crash", rr)
	}

	// 3. Restart: the revocation is in the feed.
	c = startChild(t, dir)
	if got := c.feed(t); got[m.RevocationIDs[0]] != rr.Entries[0].Seq {
		t.Fatalf("feed after kill -9 = %v, want %s at seq %d", got, m.RevocationIDs[0][:16], rr.Entries[0].Seq)
	}

	// 4. Many revocations in flight; kill -9 as soon as the first is
	// acknowledged. Every acknowledged one must survive.
	var mu sync.Mutex
	acked := map[string]bool{}
	first := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := make([]byte, 64)
			_, _ = rand.Read(id)
			h := hex.EncodeToString(id)
			if status, _ := c.post(t, "/v1/revocations", map[string]string{"revocation_id": h}); status == http.StatusOK {
				mu.Lock()
				acked[h] = true
				mu.Unlock()
				once.Do(func() { close(first) })
			}
		}()
	}
	<-first
	mu.Lock()
	c.kill()
	mu.Unlock()
	wg.Wait()
	c = startChild(t, dir)
	got := c.feed(t)
	for id := range acked {
		if _, ok := got[id]; !ok {
			t.Errorf("acknowledged revocation %s… lost in the crash", id[:16])
		}
	}
	t.Logf("%d revocations acknowledged before kill -9, all present after restart (log holds %d)", len(acked), len(got))
	// Sequence numbers stay dense after crashes.
	seqs := map[uint64]bool{}
	for _, s := range got {
		seqs[s] = true
	}
	for s := uint64(1); s <= uint64(len(got)); s++ {
		if !seqs[s] {
			t.Errorf("seq %d missing after restart", s)
		}
	}
}
