// Package offline counts usage limits for a verifier that has no
// authority (it trusts root keys given to it, as "mandate verify
// --public-key" does): the authority's own ledger (package authority/usage)
// in a Badger database of the verifier's, behind the verifier/usage.Leaser
// interface. Counts are this machine's alone: every other verifier keeps
// its own, and every decision says "counted at this verifier only".
//
// It joins the two sides, so it imports both authority/usage and
// verifier/usage; neither imports it.
package offline

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/usage"
	vusage "github.com/mandate-dev/mandate/verifier/usage"
)

// Leaser is a verifier/usage.Leaser over a ledger of this process. Every
// lease it grants says Local.
type Leaser struct{ l *usage.Ledger }

var _ vusage.Leaser = Leaser{}

// New returns a Leaser over l.
func New(l *usage.Ledger) Leaser { return Leaser{l: l} }

// Open opens (or creates) a ledger in a Badger database in dir and returns
// a Leaser over it, and a function that closes the database. now is the
// ledger's clock (nil: time.Now).
func Open(dir string, now func() time.Time) (Leaser, func() error, error) {
	s, err := authority.OpenBadgerStore(filepath.Join(dir, "db"), authority.BadgerOptions{})
	if err != nil {
		return Leaser{}, nil, fmt.Errorf("usage ledger in %s: %w", dir, err)
	}
	return New(usage.New(s.Namespace("usage"), now)), s.Close, nil
}

// Lease implements verifier/usage.Leaser.
func (x Leaser) Lease(ctx context.Context, r vusage.LeaseRequest) (vusage.Lease, error) {
	got, err := x.l.Lease(ctx, usage.Request{Limit: *r.Limit, Session: r.Token.Subject().Session, Expires: r.Token.ExpiresAt(),
		Need: r.Need, Want: r.Want, Renew: r.Renew, RenewUnused: r.RenewUnused})
	if err != nil {
		return vusage.Lease{}, err
	}
	return vusage.Lease{ID: got.ID, Amount: got.Amount, ResetsIn: got.ResetsIn, ResetsAt: got.ResetsAt, Used: got.Used, Held: got.Held, Local: true}, nil
}

// Return implements verifier/usage.Leaser.
func (x Leaser) Return(ctx context.Context, id string, unused int64) error {
	return x.l.Return(ctx, id, unused)
}
