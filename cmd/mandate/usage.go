package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mandate-dev/mandate/authority"
	ausage "github.com/mandate-dev/mandate/authority/usage"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/usage"
)

// localLeaser is a usage ledger of this machine alone (a verifier without
// an authority): the same ledger the authority keeps, in a Badger database
// of its own. Every lease it grants says Local.
type localLeaser struct{ l *ausage.Ledger }

func (x localLeaser) Lease(ctx context.Context, r usage.LeaseRequest) (usage.Lease, error) {
	got, err := x.l.Lease(ctx, ausage.Request{Limit: *r.Limit, Session: r.Token.Subject().Session, Expires: r.Token.ExpiresAt(),
		Need: r.Need, Want: r.Want, Renew: r.Renew, RenewUnused: r.RenewUnused})
	if err != nil {
		return usage.Lease{}, err
	}
	return usage.Lease{ID: got.ID, Amount: got.Amount, ResetsIn: got.ResetsIn, ResetsAt: got.ResetsAt, Used: got.Used, Held: got.Held, Local: true}, nil
}

func (x localLeaser) Return(ctx context.Context, id string, unused int64) error {
	return x.l.Return(ctx, id, unused)
}

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
		s, err := authority.OpenBadgerStore(filepath.Join(dir, "db"), authority.BadgerOptions{})
		if err != nil {
			return nil, nil, fmt.Errorf("--usage-dir %s: %w", dir, err)
		}
		leaser = localLeaser{ausage.New(s.Namespace("usage"), a.now)}
		closeStore = func() { _ = s.Close() }
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
