package usage_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/usage"
)

// verifierEnv makes the test binary a verifier process: "URL KEYHEX
// TOKEN N". It makes N allowed send_email calls, printing ALLOWED for
// each, then PAUSED, and waits to be killed.
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
	n, _ := strconv.Atoi(f[3])
	for range n {
		d := v.Authorize(context.Background(), f[2], call("send_email", nil))
		if !d.Allowed {
			fmt.Println("DENIED", d.Kind())
			os.Exit(0)
		}
		fmt.Println("ALLOWED")
	}
	fmt.Println("PAUSED")
	select {}
}

// TestCrashVerifierMidBurst kills a verifier process with SIGKILL while it
// holds a partly spent lease: what it held is wasted, exactly, nothing
// more, and the limit is never exceeded.
func TestCrashVerifierMidBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("starts verifier processes")
	}
	e := newEnv(t, nil)
	const max, lease = 1000, 16
	tok := attenuated(t, e.mint(t), time.Now, "send_email:calls=1000/24h")
	// 310 calls from leases of 16: the 20th lease (320) holds 10 unspent.
	const calls, held = 310, 10
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %s %d", verifierEnv, e.url, token.FormatPublicKey(e.a.KeySet().Keys()[0].Key), tok, calls))
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
	for sc.Scan() && sc.Text() != "PAUSED" {
		if sc.Text() != "ALLOWED" {
			t.Fatalf("the verifier process: %s", sc.Text())
		}
		counted++
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if counted != calls {
		t.Fatalf("the verifier process made %d calls; want %d", counted, calls)
	}
	if u := e.usage(t, tok)["send_email:calls=1000/24h@1"]; u.Used != calls+held || u.Held != lease {
		t.Fatalf("ledger after the crash: %+v; want %d used, one lease of %d held", u, calls+held, lease)
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
	if total+held != max {
		t.Fatalf("%d allowed by the killed verifier, %d by a new one: %d of %d; want exactly what the killed verifier held (%d) wasted", counted, drained, total, max, held)
	}
	t.Logf("killed verifier: %d allowed; new verifier: %d; wasted %d", counted, drained, max-total)
}
