package follow

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/verifier/revocation"
	"github.com/mandate-dev/mandate/verifier/revocation/revocationtest"
)

func TestDefaults(t *testing.T) {
	tests := []struct {
		name                     string
		maxStale, wait, grace    time.Duration
		wantWait, wantGrace      time.Duration
		wantStale                time.Duration
		wantMinBack, wantMaxBack time.Duration
	}{
		{"all defaults", 0, 0, 0, 12 * time.Second, 3 * time.Second, 30 * time.Second, 100 * time.Millisecond, 10 * time.Second},
		{"short bound", 5 * time.Second, 0, 0, 2 * time.Second, 500 * time.Millisecond, 5 * time.Second, 100 * time.Millisecond, 10 * time.Second},
		{"long bound", 10 * time.Minute, 0, 0, 25 * time.Second, 3 * time.Second, 10 * time.Minute, 100 * time.Millisecond, 10 * time.Second},
		{"explicit", time.Minute, 29 * time.Second, time.Second, 29 * time.Second, time.Second, time.Minute, 100 * time.Millisecond, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := New(Config{Authority: "http://127.0.0.1:1", Store: revocation.NewMemory(), InsecureNoTrustAnchor: true,
				MaxStaleness: tt.maxStale, Wait: tt.wait, Grace: tt.grace})
			if err != nil {
				t.Fatal(err)
			}
			c := f.cfg
			if c.Wait != tt.wantWait || c.Grace != tt.wantGrace || c.MaxStaleness != tt.wantStale ||
				c.MinBackoff != tt.wantMinBack || c.MaxBackoff != tt.wantMaxBack || c.KeyRefresh != time.Minute {
				t.Errorf("defaults: wait %v grace %v stale %v backoff %v..%v keys %v", c.Wait, c.Grace, c.MaxStaleness, c.MinBackoff, c.MaxBackoff, c.KeyRefresh)
			}
			if tt.wait == 0 && (2*c.Wait >= c.MaxStaleness || 2*c.Wait+c.Grace >= c.MaxStaleness) {
				t.Errorf("default Wait %v, Grace %v: a quiet healthy follower (staleness up to 2*Wait) or one that reconnects after a hung poll would report stale under MaxStaleness %v",
					c.Wait, c.Grace, c.MaxStaleness)
			}
			if f.revURL != "http://127.0.0.1:1/v1/revocations" || f.keysURL != "http://127.0.0.1:1/v1/keys" {
				t.Errorf("URLs %q, %q", f.revURL, f.keysURL)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	b := backoff{min: 100 * time.Millisecond, max: time.Second}
	steps := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for round := range 2 {
		for i, ms := range steps {
			step := ms * time.Millisecond
			for range 50 { // jitter: many draws stay within [step/2, step)
				bb := b
				d := bb.next()
				if d < step/2 || d >= step {
					t.Fatalf("round %d step %d: delay %v outside [%v, %v)", round, i, d, step/2, step)
				}
			}
			b.next()
		}
		b.reset()
	}
	tiny := backoff{min: 1, max: 1}
	if d := tiny.next(); d != 1 {
		t.Errorf("1ns backoff = %v", d)
	}
}

func TestCapReader(t *testing.T) {
	for _, tt := range []struct {
		size    int
		wantErr error
	}{{9, nil}, {10, nil}, {11, errTooLarge}} {
		c := &capReader{r: bytes.NewReader(make([]byte, tt.size)), n: 10}
		var got int
		var err error
		buf := make([]byte, 4)
		for range 100 {
			var n int
			n, err = c.Read(buf)
			got += n
			if err != nil {
				break
			}
		}
		if tt.wantErr == nil && err.Error() != "EOF" {
			t.Errorf("size %d: err %v, want EOF", tt.size, err)
		}
		if tt.wantErr != nil && err != tt.wantErr {
			t.Errorf("size %d: err %v, want %v", tt.size, err, tt.wantErr)
		}
		if got != min(tt.size, 10) {
			t.Errorf("size %d: read %d bytes", tt.size, got)
		}
	}
}

// FuzzDecodeRevocations: no input panics, and whatever is accepted obeys
// the invariants the follower relies on.
func FuzzDecodeRevocations(f *testing.F) {
	f.Add([]byte(`{"entries":[{"seq":4,"revocation_id":"0102","expires_at":"2026-11-22T10:00:00Z"}],"next":4}`), uint64(3))
	f.Add([]byte(`{"entries":[],"next":1}`), uint64(5))
	f.Add([]byte(`{"entries":null,"next":0}`), uint64(0))
	f.Add([]byte(`{"entries":[{"seq":1,"revocation_id":"zz"}],"next":1}`), uint64(0))
	f.Fuzz(func(t *testing.T, body []byte, after uint64) {
		b, err := decodeRevocations(bytes.NewReader(body), after)
		if err != nil {
			return
		}
		prev := after
		for _, e := range b.entries {
			if e.Seq <= prev || e.Validate() != nil {
				t.Fatalf("accepted entry %+v after seq %d", e, prev)
			}
			prev = e.Seq
		}
		if len(b.entries) > 0 && b.next < prev {
			t.Fatalf("accepted next %d below seq %d", b.next, prev)
		}
		if b.reset != (len(b.entries) == 0 && b.next < after) {
			t.Fatalf("reset %v for %d entries, next %d, after %d", b.reset, len(b.entries), b.next, after)
		}
	})
}

func FuzzDecodeKeys(f *testing.F) {
	f.Add([]byte(`{"keys":[{"key_id":1,"algorithm":"ed25519","public_key":"` + hex.EncodeToString(make([]byte, 32)) + `","status":"active"}]}`))
	f.Add([]byte(`{"keys":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ks, err := decodeKeys(bytes.NewReader(body))
		if err != nil {
			return
		}
		if len(ks.keys) == 0 || len(ks.keys) > MaxKeys {
			t.Fatalf("accepted %d keys", len(ks.keys))
		}
		for _, k := range ks.keys {
			if len(k.Key) != 32 {
				t.Fatalf("accepted a %d-byte key", len(k.Key))
			}
		}
	})
}

// batchBody is a /v1/revocations response of n entries after seq `after`,
// with IDs distinct across calls for distinct after.
func batchBody(after uint64, n int) []byte {
	var b bytes.Buffer
	exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	b.WriteString(`{"entries":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		seq := after + uint64(i) + 1
		fmt.Fprintf(&b, `{"seq":%d,"revocation_id":"%s","expires_at":"%s"}`, seq, hex.EncodeToString(revocationtest.ID(seq)), exp)
	}
	fmt.Fprintf(&b, `],"next":%d}`, after+uint64(n))
	return b.Bytes()
}

// BenchmarkFollowerApply measures how fast a follower applies the log:
// decoding and validating a response, and adding its entries to a Memory
// store, without the network (see BenchmarkFollowerCatchUp for the same
// over HTTP). Reported as entries/s.
//
//	go test -run='^$' -bench=FollowerApply ./verifier/follow/
func BenchmarkFollowerApply(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			// Distinct IDs per iteration, so that every Add inserts.
			const bodies = 64
			bs := make([][]byte, bodies)
			for i := range bs {
				bs[i] = batchBody(uint64(i*n), n)
			}
			store := revocation.NewMemory()
			ctx := context.Background()
			b.ReportAllocs()
			b.SetBytes(int64(len(bs[0])))
			i := 0
			for b.Loop() {
				if i%bodies == 0 {
					store = revocation.NewMemory()
				}
				bt, err := decodeRevocations(bytes.NewReader(bs[i%bodies]), uint64((i%bodies)*n))
				if err != nil {
					b.Fatal(err)
				}
				if err := store.Add(ctx, bt.entries...); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(i*n)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}
