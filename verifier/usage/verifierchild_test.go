package usage_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/usage"
)

// verifierEnv makes the test binary a verifier process: "URL KEYHEX
// TOKEN". It calls send_email until denied and prints ALLOWED for each
// allowed call.
const verifierEnv = "MANDATE_USAGE_TEST_VERIFIER"

// verifierChild runs the verifier process when verifierEnv is set.
func verifierChild() {
	spec := os.Getenv(verifierEnv)
	if spec == "" {
		return
	}
	f := strings.Fields(spec)
	pub, _ := token.ParsePublicKey(f[1])
	r, _ := usage.NewRemote(f[0], nil)
	enf, _ := usage.New(usage.Config{Leaser: r, IdleReturn: -1, MinLease: 16, MaxLease: 16})
	v, _ := verifier.New(verifier.Config{Keys: token.NewKeySet(token.PublicKey{ID: token.KeyID(pub), Key: pub}), InsecureNoRevocation: true, Limits: enf})
	for {
		d := v.Authorize(context.Background(), f[2], call("send_email", nil))
		if !d.Allowed {
			fmt.Println("DENIED", d.Kind())
			os.Exit(0)
		}
		fmt.Println("ALLOWED")
	}
}

// TestCrashVerifierMidBurst kills a verifier process with SIGKILL while it
// spends a limit: what it held in its lease is wasted, nothing more, and
// the limit is never exceeded.
func TestCrashVerifierMidBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("starts verifier processes")
	}
	e := newEnv(t, nil)
	const max, lease = 1000, 16
	tok := attenuated(t, e.mint(t), time.Now, "send_email:calls=1000/24h")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), verifierEnv+"="+e.url+" "+token.FormatPublicKey(e.a.KeySet().Keys()[0].Key)+" "+tok)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(out)
	counted := 0
	for counted < 300 && sc.Scan() {
		if sc.Text() != "ALLOWED" {
			t.Fatalf("the verifier process: %s", sc.Text())
		}
		counted++
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	for sc.Scan() { // what it wrote before it died
		if sc.Text() == "ALLOWED" {
			counted++
		}
	}
	_ = cmd.Wait()
	if u := e.usage(t, tok)["send_email:calls=1000/24h@1"]; u.Used > max || u.Used < int64(counted) {
		t.Fatalf("ledger after the crash: %+v; want between %d counted and %d", u, counted, max)
	}
	v, enf := e.verifier(t)
	drained := 0
	for range max {
		if d := v.Authorize(context.Background(), tok, call("send_email", nil)); d.Allowed {
			drained++
		}
	}
	_ = enf.Close()
	total := counted + drained
	if total > max || max-total > lease {
		t.Fatalf("%d allowed by the killed verifier, %d by a new one: %d of %d; want at most the limit, and at most one lease (%d) wasted", counted, drained, total, max, lease)
	}
	t.Logf("killed verifier: %d allowed; new verifier: %d; wasted %d", counted, drained, max-total)
}
