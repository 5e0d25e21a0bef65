// Package followauth wires a verifier to a mandate authority for the example
// tool servers: keys from GET /v1/keys, revocations from the feed.
package followauth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/follow"
	"github.com/mandate-dev/mandate/verifier/revocation"
)

// Trust says which root key the follower pins.
type Trust struct {
	// Key is the authority's root public key in hex, as `mandate
	// authority serve` prints it. Keys the authority publishes are trusted
	// only if it endorsed them (rotation), and its feed only if signed by
	// one of them.
	Key string
	// InsecureNoKey trusts whatever keys the URL answers: a man in the
	// middle could install their own. A demo on one machine only.
	InsecureNoKey bool
}

// Verifier returns a verifier that trusts the keys the authority
// publishes (those reachable from trust.Key) and follows its revocation
// feed, once the first sync is done. Decisions fail closed if the feed goes
// stale. stop ends the follower. Each mut may set more of the verifier's
// configuration (such as Config.Decisions).
func Verifier(ctx context.Context, authority string, trust Trust, mut ...func(*verifier.Config)) (v *verifier.Verifier, stop func(), err error) {
	var anchors []token.PublicKey
	switch {
	case trust.Key != "":
		pub, err := token.ParsePublicKey(trust.Key)
		if err != nil {
			return nil, nil, fmt.Errorf("--trust-key: %w (`mandate authority serve` prints the root public key)", err)
		}
		anchors = []token.PublicKey{{ID: token.KeyID(pub), Key: pub}}
	case !trust.InsecureNoKey:
		return nil, nil, errors.New("--authority needs the authority's root public key: pass --trust-key HEX (or set MANDATE_TRUST_KEY) as `mandate authority serve` printed it; --insecure-no-trust-key skips this (a demo on one machine only)")
	}
	keys := token.NewKeySet() // filled and rotated from GET /v1/keys
	// An in-memory replica: a restart reads the log again from the start.
	// A production server keeps it on disk (verifier/revocation/badgerstore)
	// and resumes where it stopped.
	store := revocation.NewMemory()
	f, err := follow.New(follow.Config{Authority: authority, Store: store, Keys: keys, TrustAnchors: anchors, InsecureNoTrustAnchor: trust.InsecureNoKey})
	if err != nil {
		return nil, nil, err
	}
	vc := verifier.Config{Keys: keys, Revocations: store, Fresh: f.Fresh}
	for _, m := range mut {
		m(&vc)
	}
	if v, err = verifier.New(vc); err != nil {
		return nil, nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if stop, err = f.Start(wctx); err != nil {
		return nil, nil, fmt.Errorf("%w (is `mandate authority serve` running?)", err)
	}
	return v, stop, nil
}
