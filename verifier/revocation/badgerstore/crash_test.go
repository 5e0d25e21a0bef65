package badgerstore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/verifier/revocation"
)

// crashDirEnv selects the child mode of TestCrashHelper: the directory of
// the store the child writes until it is killed.
const crashDirEnv = "MANDATE_BADGERSTORE_CRASH_DIR"

// crashBatch returns the i-th batch the child adds: 1 to 40 entries with
// consecutive seqs from first, entry seq n having ID id(n).
func crashBatch(i int, first uint64) []revocation.Entry {
	n := 1 + (i*7)%40
	out := make([]revocation.Entry, n)
	for j := range out {
		out[j] = revocation.Entry{ID: id(first + uint64(j)), Seq: first + uint64(j), ExpiresAt: time.Now().Add(time.Hour)}
	}
	return out
}

// TestCrashHelper is the child process of TestCrash; run on its own it
// skips. It adds batches until killed, and prints "ack <seq>" once the Add
// of the batch ending at seq returned.
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("child process of TestCrash")
	}
	s, err := Open(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: open:", err)
		os.Exit(2)
	}
	// Small chunks, so a kill often lands inside a multi-transaction Add.
	s.chunk = 16
	deadline := time.Now().Add(30 * time.Second) // if the parent never kills us
	next := uint64(1)
	for i := 0; time.Now().Before(deadline); i++ {
		batch := crashBatch(i, next)
		if err := s.Add(context.Background(), batch...); err != nil {
			fmt.Fprintln(os.Stderr, "child: add:", err)
			os.Exit(3)
		}
		next += uint64(len(batch))
		// Unbuffered: the line is in the pipe when Write returns.
		if _, err := fmt.Fprintf(os.Stdout, "ack %d\n", next-1); err != nil {
			os.Exit(4)
		}
	}
	os.Exit(5)
}

// TestCrash kills (SIGKILL) a process in the middle of Adds and checks that
// every Add it acknowledged survived, and that LastSeq covers nothing that
// was lost.
func TestCrash(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	const killAfter = 150 // acknowledged Adds
	var lastAck uint64
	acks := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		seqText, ok := strings.CutPrefix(sc.Text(), "ack ")
		if !ok {
			continue // test framework output
		}
		seq, err := strconv.ParseUint(seqText, 10, 64)
		if err != nil || seq <= lastAck {
			t.Fatalf("child printed %q after ack %d", sc.Text(), lastAck)
		}
		lastAck = seq
		acks++
		if acks == killAfter {
			// A random delay, so that the kill lands anywhere in an Add:
			// before, between or after its transactions.
			time.AfterFunc(time.Duration(rand.Int64N(int64(20*time.Millisecond))), func() {
				if err := cmd.Process.Kill(); err != nil {
					t.Errorf("kill: %v", err)
				}
			})
		}
		// Keep reading: lines already in the pipe were acknowledged too.
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading the child's output: %v", err)
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || !exit.Sys().(syscall.WaitStatus).Signaled() || acks < killAfter {
		t.Fatalf("child was not killed mid-run: %d acks, wait: %v", acks, err)
	}

	s := openT(t, dir)
	defer s.Close()
	last := s.LastSeq()
	if last < lastAck {
		t.Errorf("LastSeq after the crash = %d, want ≥ %d (the last acknowledged)", last, lastAck)
	}
	for seq := uint64(1); seq <= last; seq++ {
		if s.Revoked([][]byte{id(seq)}) != 0 {
			t.Fatalf("entry with seq %d is missing after the crash, but LastSeq is %d (last acknowledged %d)", seq, last, lastAck)
		}
	}
	t.Logf("killed after %d acknowledged Adds (last seq %d); reopened with LastSeq %d and %d entries", acks, lastAck, last, s.Len())
}
