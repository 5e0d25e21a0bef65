package usage_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/mcpmw"
	"github.com/mandate-dev/mandate/verifier/usage"
)

// TestConcurrentExact: 64 concurrent calls under a limit of 10 allow
// exactly 10; every other is limit_exceeded, naming the limit.
func TestConcurrentExact(t *testing.T) {
	e := newEnv(t, nil)
	tok := attenuated(t, e.mint(t), time.Now, "send_email:calls=10/1h")
	v, _ := e.verifier(t)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			d := v.Authorize(context.Background(), tok, call("send_email", nil))
			switch {
			case d.Allowed:
				allowed.Add(1)
			case d.Kind() != verifier.KindLimitExceeded:
				t.Errorf("denied as %s (%s); want limit_exceeded", d.Kind(), d.Reason)
			case !strings.Contains(d.Reason, "send_email:calls=10/1h of block 1") || !strings.Contains(d.Reason, "resets at"):
				t.Errorf("reason %q does not name the limit, its block and when it resets", d.Reason)
			}
		}()
	}
	close(start)
	wg.Wait()
	if n := allowed.Load(); n != 10 {
		t.Fatalf("%d of 64 concurrent calls allowed under a limit of 10; want exactly 10", n)
	}
}

// TestOtherToolsNotCounted: a limit on one tool leaves other tools alone,
// and "*" counts every tool.
func TestOtherToolsNotCounted(t *testing.T) {
	e := newEnv(t, nil)
	tok := attenuated(t, e.mint(t), time.Now, "send_email:calls=1", "*:calls=3")
	v, _ := e.verifier(t)
	want := []struct {
		tool string
		ok   bool
	}{{"send_email", true}, {"send_email", false}, {"get_account", true}, {"get_account", true}, {"get_account", false}}
	for i, w := range want {
		d := v.Authorize(context.Background(), tok, call(w.tool, nil))
		if d.Allowed != w.ok {
			t.Fatalf("call %d (%s): allowed=%v (%s); want %v", i, w.tool, d.Allowed, d.Reason, w.ok)
		}
	}
}

// TestSiblingsShareParent: two tokens attenuated from one parent share the
// parent's limit; each has its own where its own block declares one.
func TestSiblingsShareParent(t *testing.T) {
	e := newEnv(t, nil)
	parent := attenuated(t, e.mint(t), time.Now, "send_email:calls=5")
	a := attenuated(t, parent, time.Now, "send_email:calls=3")
	b := attenuated(t, parent, time.Now, "send_email:calls=3")
	v, _ := e.verifier(t)
	n := func(tok string, tries int) int {
		ok := 0
		for range tries {
			if d := v.Authorize(context.Background(), tok, call("send_email", nil)); d.Allowed {
				ok++
			}
		}
		return ok
	}
	if got := n(a, 10); got != 3 {
		t.Fatalf("sibling a: %d allowed; want 3 (its own limit)", got)
	}
	if got := n(b, 10); got != 2 {
		t.Fatalf("sibling b: %d allowed; want 2 (what a left of the parent's 5)", got)
	}
	if got := n(parent, 10); got != 0 {
		t.Fatalf("parent: %d allowed after its siblings spent its limit; want 0", got)
	}
	d := v.Authorize(context.Background(), b, call("send_email", nil))
	if !strings.Contains(d.Reason, "of block 1") || !strings.Contains(d.Reason, "5 of 5 used") {
		t.Fatalf("reason %q; want the parent's limit (block 1), 5 of 5 used", d.Reason)
	}
}

// TestAppendCannotEnlargeOrReset: a block appended below a limit can
// declare a larger one, or be fresh, and the limit above still binds.
func TestAppendCannotEnlargeOrReset(t *testing.T) {
	e := newEnv(t, nil)
	parent := attenuated(t, e.mint(t), time.Now, "send_email:calls=2/1h")
	v, _ := e.verifier(t)
	for i := range 2 {
		if d := v.Authorize(context.Background(), parent, call("send_email", nil)); !d.Allowed {
			t.Fatalf("call %d: %s", i, d.Reason)
		}
	}
	for _, child := range []string{
		attenuated(t, parent, time.Now, "send_email:calls=100/1h"), // "enlarge"
		attenuated(t, parent, time.Now, "send_email:calls=2/1h"),   // the same limit, again ("reset")
		attenuated(t, parent, time.Now),                            // a fresh block without limits
	} {
		d := v.Authorize(context.Background(), child, call("send_email", nil))
		if d.Allowed || d.Kind() != verifier.KindLimitExceeded || !strings.Contains(d.Reason, "of block 1") {
			t.Fatalf("child token: allowed=%v kind=%s (%s); want the parent's limit of block 1 to deny", d.Allowed, d.Kind(), d.Reason)
		}
	}
}

// TestMintLimit: a limit of the authority block binds the whole session.
func TestMintLimit(t *testing.T) {
	e := newEnv(t, nil)
	root := e.mint(t, limit(t, "*:calls=3/24h"))
	child := attenuated(t, root, time.Now)
	v, _ := e.verifier(t)
	ok := 0
	for _, tok := range []string{root, child, root, child, child} {
		if d := v.Authorize(context.Background(), tok, call("get_account", nil)); d.Allowed {
			ok++
		} else if d.Kind() != verifier.KindLimitExceeded || !strings.Contains(d.Reason, "of block 0") {
			t.Fatalf("denied as %s (%s); want limit_exceeded of block 0", d.Kind(), d.Reason)
		}
	}
	if ok != 3 {
		t.Fatalf("%d allowed; want 3", ok)
	}
}

// TestSum: a budget adds up an integer argument; bad amounts are denied
// without counting.
func TestSum(t *testing.T) {
	e := newEnv(t, nil)
	tok := attenuated(t, e.mint(t), time.Now, "refund:amount=1000")
	v, _ := e.verifier(t)
	steps := []struct {
		args map[string]any
		kind verifier.Kind // "" allowed
	}{
		{map[string]any{"amount": 400}, ""},
		{map[string]any{"amount": 400}, ""},
		{map[string]any{"amount": 300}, verifier.KindLimitExceeded},
		{map[string]any{"amount": -5}, verifier.KindBadRequest},
		{map[string]any{"amount": "lots"}, verifier.KindBadRequest},
		{map[string]any{"amount": 1.5}, verifier.KindBadRequest},
		{map[string]any{"amount": uint64(1 << 63)}, verifier.KindBadRequest},
		{map[string]any{"currency": "EUR"}, verifier.KindBadRequest},
		{nil, verifier.KindBadRequest},
		{map[string]any{"amount": 0}, ""},
		{map[string]any{"amount": 200}, ""},
		{map[string]any{"amount": 1}, verifier.KindLimitExceeded},
	}
	for i, s := range steps {
		d := v.Authorize(context.Background(), tok, call("refund", s.args))
		if d.Kind() != s.kind {
			t.Fatalf("step %d (%v): kind %q (%s); want %q", i, s.args, d.Kind(), d.Reason, s.kind)
		}
		if i == 2 && !strings.Contains(d.Reason, "this call adds 300") {
			t.Fatalf("reason %q does not say what the call adds", d.Reason)
		}
	}
	if d := v.Authorize(context.Background(), tok, call("get_account", nil)); !d.Allowed {
		t.Fatalf("a call of another tool: %s", d.Reason)
	}
}

// TestNoEnforcerDenies: a verifier that does not enforce limits denies a
// token that declares one, saying so.
func TestNoEnforcerDenies(t *testing.T) {
	e := newEnv(t, nil)
	tok := attenuated(t, e.mint(t), time.Now, "send_email:calls=10/1h")
	root := e.mint(t, limit(t, "send_email:calls=10/1h"))
	v, err := verifier.New(verifier.Config{Keys: e.a.KeySet(), InsecureNoRevocation: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range []string{tok, root} {
		for _, tool := range []string{"send_email", "get_account"} {
			d := v.Authorize(context.Background(), tk, call(tool, nil))
			if d.Allowed || !errors.Is(d.Err, verifier.ErrLimitUnenforced) || d.Kind() != verifier.KindDenied {
				t.Fatalf("%s: allowed=%v kind=%s err=%v; want access_denied (ErrLimitUnenforced)", tool, d.Allowed, d.Kind(), d.Err)
			}
			if !strings.Contains(d.Reason, "does not enforce usage limits") {
				t.Fatalf("reason %q", d.Reason)
			}
		}
	}
}

// TestWindowResets: a windowed limit starts again in the next window, and
// the denial says when.
func TestWindowResets(t *testing.T) {
	c := newClock()
	e := newEnv(t, c)
	tok := attenuated(t, e.mint(t), c.Now, "send_email:calls=2/1h")
	v, _ := e.verifier(t)
	ok := func() verifier.Decision { return v.Authorize(context.Background(), tok, call("send_email", nil)) }
	ok()
	ok()
	d := ok()
	end := c.Now().Truncate(time.Hour).Add(time.Hour)
	if d.Allowed || !strings.Contains(d.Reason, "resets at "+end.Format(time.RFC3339)) {
		t.Fatalf("third call: %v %s; want limit_exceeded resetting at %s", d.Allowed, d.Reason, end.Format(time.RFC3339))
	}
	var le *verifier.LimitExceededError
	if !errors.As(d.Err, &le) || le.Used != 2 || !le.ResetsAt.Equal(end) || le.Limit.Block != 1 {
		t.Fatalf("error %#v; want a LimitExceededError, 2 used, resetting at %s", d.Err, end)
	}
	c.Add(time.Hour)
	if d := ok(); !d.Allowed {
		t.Fatalf("in the next window: %s", d.Reason)
	}
}

// TestClockBackwards: a verifier clock that moves back cannot stretch a
// lease past its window: the verifier asks for a new one instead.
func TestClockBackwards(t *testing.T) {
	c := newClock()
	e := newEnv(t, c)
	tok := attenuated(t, e.mint(t), c.Now, "send_email:calls=1000/10m")
	vc := &clock{t: c.Now()}
	r, _ := usage.NewRemote(e.url, nil)
	enf, _ := usage.New(usage.Config{Leaser: r, IdleReturn: -1, Now: vc.Now})
	defer enf.Close()
	v, _ := verifier.New(verifier.Config{Keys: e.a.KeySet(), InsecureNoRevocation: true, Limits: enf, Now: vc.Now})
	send := func(step string) {
		t.Helper()
		if d := v.Authorize(context.Background(), tok, call("send_email", nil)); !d.Allowed {
			t.Fatalf("%s: %s", step, d.Reason)
		}
	}
	send("first call")
	trips := enf.RoundTrips.Load()
	vc.Add(11 * time.Minute) // past the window: the lease is dead
	c.Add(11 * time.Minute)
	send("next window")
	if enf.RoundTrips.Load() == trips {
		t.Fatal("a lease of an ended window was spent from")
	}
	trips = enf.RoundTrips.Load()
	vc.Add(-30 * time.Minute) // back before the lease was granted
	send("clock gone back")
	if enf.RoundTrips.Load() != trips {
		t.Fatal("a clock that went back made the lease look dead (it should count as the latest time seen)")
	}
	vc.Add(30*time.Minute + 10*time.Minute) // past the lease's window, measured from the latest time seen
	c.Add(10 * time.Minute)
	send("after the window")
	if enf.RoundTrips.Load() == trips {
		t.Fatal("the clock going back stretched a lease past its window")
	}
}

// TestAuthorityUnreachable: when a lease runs out and the authority cannot
// be reached, the call is denied (temporarily_unavailable) and nothing is
// overspent.
func TestAuthorityUnreachable(t *testing.T) {
	e := newEnv(t, nil)
	tok := attenuated(t, e.mint(t), time.Now, "send_email:calls=100/1h")
	v, enf := e.verifier(t, func(c *usage.Config) { c.MinLease, c.MaxLease = 3, 3 })
	for range 3 {
		if d := v.Authorize(context.Background(), tok, call("send_email", nil)); !d.Allowed {
			t.Fatal(d.Reason)
		}
	}
	e.srv.CloseClientConnections()
	e.srv.Config.SetKeepAlivesEnabled(false)
	e.srv.Listener.Close()
	d := v.Authorize(context.Background(), tok, call("send_email", nil))
	if d.Allowed || d.Kind() != verifier.KindUnavailable || !errors.Is(d.Err, verifier.ErrLimitUnavailable) {
		t.Fatalf("allowed=%v kind=%s (%s); want temporarily_unavailable", d.Allowed, d.Kind(), d.Reason)
	}
	if h := enf.Holding(token.LimitID(mustParse(t, tok).RevocationIDs()[1], 0)); h != 0 {
		t.Fatalf("the verifier holds %d after a failed renewal; want 0 (the old lease may have been returned)", h)
	}
}

func mustParse(t testing.TB, tok string) *token.Unverified {
	t.Helper()
	u, err := token.ParseString(tok)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestHTTPAdapter: the net/http adapter answers a spent limit with 429,
// the limit_exceeded body and a Retry-After until the window resets; the
// MCP adapter's sentence carries the same reason.
func TestHTTPAdapter(t *testing.T) {
	e := newEnv(t, nil)
	tok := attenuated(t, e.mint(t), time.Now, "send_email:calls=1/1h")
	v, _ := e.verifier(t)
	h := verifier.Middleware(v, func(r *http.Request) (verifier.Request, error) { return call("send_email", nil), nil }, verifier.HTTPOptions{})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func() *http.Response {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := get(); res.StatusCode != http.StatusNoContent {
		t.Fatalf("first call: %d", res.StatusCode)
	}
	res := get()
	defer res.Body.Close()
	var body verifier.DenialBody
	_ = json.NewDecoder(res.Body).Decode(&body)
	ra, _ := strconv.Atoi(res.Header.Get("Retry-After"))
	if res.StatusCode != http.StatusTooManyRequests || body.Error != "limit_exceeded" || !strings.Contains(body.Description, "1 of 1 used") ||
		ra < 1 || ra > 3600 || res.Header.Get("WWW-Authenticate") != "" {
		t.Fatalf("second call: %d %+v Retry-After %q; want 429 limit_exceeded with a Retry-After within the hour and no challenge", res.StatusCode, body, res.Header.Get("Retry-After"))
	}
	d := v.Authorize(context.Background(), tok, call("send_email", nil))
	if s := mcpmw.Sentence("send_email", &d); !strings.Contains(s, "usage limit send_email:calls=1/1h of block 1") || !strings.Contains(s, "wait until the limit resets") {
		t.Fatalf("MCP sentence %q", s)
	}
}
