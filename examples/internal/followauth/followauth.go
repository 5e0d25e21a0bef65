// Package followauth wires a verifier to a mandate authority for the example
// tool servers: keys from GET /v1/keys, revocations from the feed.
package followauth

import (
	"context"
	"fmt"
	"time"

	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/follow"
	"github.com/mandate-dev/mandate/verifier/revocation"
)

// Verifier returns a verifier that trusts the keys the authority
// publishes and follows its revocation feed, once the first sync is done.
// Decisions fail closed if the feed goes stale. stop ends the follower.
func Verifier(ctx context.Context, authority string) (v *verifier.Verifier, stop func(), err error) {
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
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if stop, err = f.Start(wctx); err != nil {
		return nil, nil, fmt.Errorf("%w (is `mandate authority serve` running?)", err)
	}
	return v, stop, nil
}
