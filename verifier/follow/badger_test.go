package follow_test

import (
	"slices"
	"testing"

	"github.com/mandate-dev/mandate/verifier/revocation/badgerstore"
)

// TestResumeAfterRestart: with the production store, a verifier that
// restarts resumes the log where its Badger says it stopped, and what it
// applied before the restart is still revoked.
func TestResumeAfterRestart(t *testing.T) {
	a := newFakeAuthority(t)
	a.addN(1, 40, farFuture)
	dir := t.TempDir()

	store, err := badgerstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(a)
	cfg.Store = store
	mustSync(t, newFollower(t, cfg))
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	a.addN(41, 2, farFuture)
	store, err = badgerstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	if got := store.LastSeq(); got != 40 {
		t.Fatalf("reopened LastSeq = %d, want 40", got)
	}
	cfg.Store = store
	f := newFollower(t, cfg)
	run(t, f)
	waitSeq(t, f, 42)
	if got, want := a.requestedAfters()[:3], []uint64{0, 40, 40}; !slices.Equal(got, want) {
		t.Errorf("requested after = %v, want %v (the restarted follower resumes at 40)", got, want)
	}
	if store.Len() != 42 || store.Revoked(ids(1)) != 0 || store.Revoked(ids(42)) != 0 {
		t.Errorf("after restart: Len %d, want all 42 revoked", store.Len())
	}
}
