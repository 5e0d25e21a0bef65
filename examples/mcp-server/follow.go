package main

import (
	"context"
	"fmt"
	"time"

	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/follow"
	"github.com/mandate-dev/mandate/verifier/revocation"
)

// followAuthority returns a verifier that trusts the keys the authority
// publishes and follows its revocation feed, once the first sync is done.
// Decisions fail closed if the feed goes stale. stop ends the follower.
func followAuthority(ctx context.Context, authority string) (v *verifier.Verifier, stop func(), err error) {
	keys := token.NewKeySet() // filled and rotated from GET /v1/keys
	// An in-memory replica: a restart reads the log again from the start.
	// A production server keeps it on disk (verifier/revocation/badgerstore)
	// and resumes where it stopped.
	store := revocation.NewMemory()
	f, err := follow.New(follow.Config{Authority: authority, Store: store, Keys: keys})
	if err != nil {
		return nil, nil, err
	}
	if v, err = verifier.New(verifier.Config{Keys: keys, Revocations: store, Fresh: f.Fresh}); err != nil {
		return nil, nil, err
	}
	fctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(fctx)
	}()
	stop = func() {
		cancel()
		<-done
	}
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := f.WaitSeq(wctx, 0); err != nil {
		stop()
		return nil, nil, fmt.Errorf("cannot sync keys and revocations with the authority at %s (is `mandate authority serve` running?): %w", authority, err)
	}
	return v, stop, nil
}
