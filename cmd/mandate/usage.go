package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mandate-dev/mandate/authority/usage/offline"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/usage"
)

// parseLimitFlags reads --limit flags; a bad one is a usage error.
func parseLimitFlags(cmd *cobra.Command, specs []string) ([]token.Limit, error) {
	var out []token.Limit
	for _, s := range specs {
		l, err := token.ParseLimit(s)
		if err != nil {
			return nil, usagef(cmd, "--limit: %s", strings.TrimPrefix(err.Error(), token.ErrBadRequest.Error()+": "))
		}
		out = append(out, l)
	}
	return out, nil
}

// limitEnforcer returns the usage-limit enforcer of one verify run: the
// authority's ledger at base, or a ledger in dir, leasing exactly what the
// one call needs. close returns what is left.
func (a *app) limitEnforcer(base, dir string) (verifier.LimitEnforcer, func(), error) {
	var leaser usage.Leaser
	closeStore := func() {}
	switch {
	case base != "":
		r, err := usage.NewRemote(base, a.client)
		if err != nil {
			return nil, nil, err
		}
		leaser = r
	case dir != "":
		l, closeDB, err := offline.Open(dir, a.now)
		if err != nil {
			return nil, nil, fmt.Errorf("--usage-dir: %w", err)
		}
		leaser = l
		closeStore = func() { _ = closeDB() }
	default:
		return nil, func() {}, nil
	}
	enf, err := usage.New(usage.Config{Leaser: leaser, MinLease: 1, MaxLease: 1, IdleReturn: -1, Now: a.now})
	if err != nil {
		closeStore()
		return nil, nil, err
	}
	return enf, func() { _ = enf.Close(); closeStore() }, nil
}
