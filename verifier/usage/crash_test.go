package usage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/internal/authoritychild"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/usage"
)

const adminToken = "usage-test-admin-token-0123456789abcdef"

func TestMain(m *testing.M) {
	authoritychild.Main(adminToken) // serves and exits in a child (see authoritychild.Start)
	verifierChild()                 // decides calls and exits in a child (see TestCrashVerifierMidBurst)
	os.Exit(m.Run())
}

func postJSON(base, path, bearer string, in, out any) (int, error) {
	j, _ := json.Marshal(in)
	req, _ := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(j))
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode/100 == 2 {
		if err := json.Unmarshal(b, out); err != nil {
			return res.StatusCode, err
		}
	}
	if res.StatusCode/100 != 2 {
		return res.StatusCode, fmt.Errorf("%s: %d %s", path, res.StatusCode, b)
	}
	return res.StatusCode, nil
}

// TestCrashAuthorityMidBurst kills the authority process with SIGKILL while
// four verifiers spend a limit, restarts it on the same data folder, and
// checks that the verifiers never allowed more than the limit in total,
// before, during and after the crash, and that the restarted ledger
// accounts for every call allowed.
func TestCrashAuthorityMidBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("starts authority processes")
	}
	dir := t.TempDir()
	child := authoritychild.Start(t, dir)
	addr, kill := child.Addr, child.Kill
	var cur atomic.Pointer[string]
	cur.Store(&addr)
	// Verifiers follow the authority to its new port after the restart.
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, *cur.Load())
	}}}
	base := "http://authority.test"

	var minted struct {
		Token string `json:"token"`
	}
	const max = 2000
	if _, err := postJSON("http://"+addr, "/v1/tokens", adminToken, map[string]any{
		"agent": "support-bot", "org": "acme", "ttl_seconds": 3600,
		"rights": []token.Right{crm}, "limits": []string{fmt.Sprintf("send_email:calls=%d/24h", max)},
	}, &minted); err != nil {
		t.Fatal(err)
	}
	var keys struct {
		Keys []struct {
			KeyID     uint32 `json:"key_id"`
			PublicKey string `json:"public_key"`
		} `json:"keys"`
	}
	res, err := http.Get("http://" + addr + "/v1/keys")
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(res.Body).Decode(&keys)
	res.Body.Close()
	pub, err := token.ParsePublicKey(keys.Keys[0].PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ks := token.NewKeySet(token.PublicKey{ID: keys.Keys[0].KeyID, Key: pub})

	var allowed, unavailable atomic.Int64
	var enfs []*usage.Enforcer
	burst := func(calls int) {
		var wg sync.WaitGroup
		for _, enf := range enfs {
			v, _ := verifier.New(verifier.Config{Keys: ks, InsecureNoRevocation: true, Limits: enf})
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range calls {
						d := v.Authorize(context.Background(), minted.Token, call("send_email", nil))
						switch {
						case d.Allowed:
							allowed.Add(1)
						case d.Kind() == verifier.KindUnavailable:
							unavailable.Add(1)
						case d.Kind() != verifier.KindLimitExceeded:
							t.Errorf("denied as %s: %s", d.Kind(), d.Reason)
						}
					}
				}()
			}
		}
		wg.Wait()
	}
	for range 4 {
		r, _ := usage.NewRemote(base, client)
		enf, _ := usage.New(usage.Config{Leaser: r, IdleReturn: -1, MinLease: 2, MaxLease: 32, Timeout: time.Second})
		enfs = append(enfs, enf)
	}
	// The burst runs while the authority is killed under it.
	done := make(chan struct{})
	go func() { defer close(done); burst(150) }()
	for wait := true; wait && allowed.Load() < 300; {
		select {
		case <-done:
			wait = false
		case <-time.After(time.Millisecond):
		}
	}
	kill()
	<-done
	before := allowed.Load()
	if before > max {
		t.Fatalf("%d allowed before the restart; limit %d", before, max)
	}
	addr2 := authoritychild.Start(t, dir).Addr
	cur.Store(&addr2)
	burst(200) // 4 verifiers × 4 goroutines × 200 calls: more than the limit
	for _, enf := range enfs {
		_ = enf.Close()
	}
	got := allowed.Load()
	if got > max {
		t.Fatalf("%d calls allowed in total across a crash of the authority; limit %d", got, max)
	}
	var u struct {
		Limits []struct {
			Used, Spent, Held int64
		} `json:"limits"`
	}
	if _, err := postJSON("http://"+addr2, "/v1/limits/usage", "", map[string]string{"token": minted.Token}, &u); err != nil {
		t.Fatal(err)
	}
	if len(u.Limits) != 1 || u.Limits[0].Used > max || u.Limits[0].Used < got {
		t.Fatalf("ledger after the restart: %+v; want between %d allowed and the limit %d used", u.Limits, got, max)
	}
	t.Logf("allowed %d (%d before the crash), denied while the authority was down %d, ledger %+v", got, before, unavailable.Load(), u.Limits[0])
}
