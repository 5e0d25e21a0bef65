package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/follow"
	"github.com/mandate-dev/mandate/verifier/revocation"
)

// followAuthority fills cfg with the authority's keys and a replica of its
// revocation log, synced once, and a freshness check. The returned stop
// releases the replica.
//
// anchors are the pinned root keys (see trustAnchors); nil means
// --insecure-no-trust-key.
func (a *app) followAuthority(ctx context.Context, base string, cfg *verifier.Config, anchors []token.PublicKey) (stop func(), err error) {
	store := revocation.NewMemory()
	keys := token.NewKeySet()
	f, err := follow.New(follow.Config{Authority: base, Store: store, Keys: keys, Now: a.now,
		TrustAnchors: anchors, InsecureNoTrustAnchor: len(anchors) == 0})
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

// envTrustKey names the variable that gives --trust-key a default.
const envTrustKey = "MANDATE_TRUST_KEY"

// trustAnchors reads the pinned root keys of --trust-key (or
// $MANDATE_TRUST_KEY, keys separated by commas or spaces). Without any, it
// is a usage error unless insecure (--insecure-no-trust-key) is set; then
// it returns nil.
func trustAnchors(cmd *cobra.Command, getenv func(string) string, flags []string, insecure bool) ([]token.PublicKey, error) {
	if len(flags) == 0 {
		flags = strings.FieldsFunc(getenv(envTrustKey), func(r rune) bool { return r == ',' || r == ' ' })
	}
	if len(flags) == 0 {
		if insecure {
			return nil, nil
		}
		return nil, usagef(cmd, "--authority needs the authority's root public key: pass --trust-key HEX (or set %s) as \"mandate authority serve\" printed it, "+
			"so that nobody between you and the authority can install keys or hide revocations; --insecure-no-trust-key skips this (a test on one machine only)", envTrustKey)
	}
	out := make([]token.PublicKey, 0, len(flags))
	for _, h := range flags {
		pub, err := token.ParsePublicKey(h)
		if err != nil {
			return nil, usagef(cmd, "--trust-key %q: %v (\"mandate authority serve\" prints the root public key)", clip(h), err)
		}
		out = append(out, token.PublicKey{ID: token.KeyID(pub), Key: pub})
	}
	return out, nil
}
