// Package browsertest finds and starts the headless Chromium that the web
// pages' tests drive (Debian's chromium package; .ci/run installs it).
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
)

// Exec returns the path of a Chromium binary. Without one the test is
// skipped, unless MANDATE_REQUIRE_BROWSER is set (CI), when it fails.
func Exec(t testing.TB) string {
	t.Helper()
	for _, name := range []string{os.Getenv("MANDATE_CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("MANDATE_REQUIRE_BROWSER") != "" {
		t.Fatal("no Chromium binary found (chromium, chromium-browser, google-chrome or MANDATE_CHROMIUM) and MANDATE_REQUIRE_BROWSER is set: install it with `apt-get install -y chromium`")
	}
	t.Skip("no Chromium binary found: install it with `apt-get install -y chromium` to run the browser tests (set MANDATE_REQUIRE_BROWSER=1 to make this a failure)")
	return ""
}

// Start starts a headless Chromium with a profile of its own and returns
// its browser context; it stops when the test ends.
func Start(t testing.TB) context.Context {
	t.Helper()
	exe := Exec(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900), chromedp.UserDataDir(t.TempDir()))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start Chromium (%s): %v", exe, err)
	}
	return bctx
}
