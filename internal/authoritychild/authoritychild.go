// Package authoritychild runs an authority in a child process of a test
// binary, so that crash tests can kill it with SIGKILL (no shutdown code
// runs, nothing is flushed) and start it again on the same data folder.
//
// A test package calls Main from its TestMain, then Start in its tests:
// Start runs the test binary again with EnvDir set, and Main, seeing it,
// serves an authority instead of running tests.
package authoritychild

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/authority"
)

// EnvDir names the data folder of a child authority.
const EnvDir = "MANDATE_TEST_AUTHORITY_CHILD_DIR"

// Main serves an authority with Badger in $EnvDir and admin token admin,
// and exits, when EnvDir is set; otherwise it returns at once. It prints
// "LISTENING addr" on stdout once it serves on 127.0.0.1.
func Main(admin string) {
	dir := os.Getenv(EnvDir)
	if dir == "" {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := authority.Serve(ctx, authority.ServeConfig{
		Config: authority.Config{DataDir: dir, AdminToken: admin},
		Addr:   "127.0.0.1:0",
		Ready:  func(a net.Addr) { fmt.Printf("LISTENING %s\n", a) },
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Child is a running child authority.
type Child struct {
	Cmd    *exec.Cmd
	Base   string // http://127.0.0.1:PORT
	Addr   string // 127.0.0.1:PORT
	Stderr *bytes.Buffer
	once   sync.Once
}

// Start runs a child authority on dir; it is killed when the test ends.
func Start(t testing.TB, dir string) *Child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), EnvDir+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "LISTENING "); ok {
				lines <- addr
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	c := &Child{Cmd: cmd, Stderr: &stderr}
	select {
	case addr := <-lines:
		c.Addr, c.Base = addr, "http://"+addr
		t.Cleanup(c.Kill)
		return c
	case <-time.After(30 * time.Second):
		c.Kill()
		t.Fatalf("child authority did not start: %s", stderr.String())
		return nil
	}
}

// Kill sends SIGKILL and waits for the process to end.
func (c *Child) Kill() {
	c.once.Do(func() {
		_ = c.Cmd.Process.Signal(syscall.SIGKILL)
		_ = c.Cmd.Wait()
	})
}
