package main

import (
	"context"
	"fmt"

	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/follow"
	"github.com/mandate-dev/mandate/verifier/revocation"
)

// followAuthority fills cfg with the authority's keys and a replica of its
// revocation log, synced once, and a freshness check. The returned stop
// releases the replica.
func (a *app) followAuthority(ctx context.Context, base string, cfg *verifier.Config) (stop func(), err error) {
	store := revocation.NewMemory()
	keys := token.NewKeySet()
	f, err := follow.New(follow.Config{Authority: base, Store: store, Keys: keys, Now: a.now})
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	if err := f.SyncOnce(ctx); err != nil {
		_ = store.Close()
		return nil, fmt.Errorf("cannot fetch keys and revocations from the authority at %s (%v), so the call is denied; is it running? start one with \"mandate authority serve\", or verify offline with --public-key", base, rootCause(err))
	}
	cfg.Keys = keys
	cfg.Revocations = store
	cfg.Fresh = f.Fresh
	return func() { _ = store.Close() }, nil
}
