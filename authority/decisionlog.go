package authority

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"

	"github.com/mandate-dev/mandate/authority/decisions"
	"github.com/mandate-dev/mandate/authority/people"
	"github.com/mandate-dev/mandate/authority/verifiers"
)

// openRooms opens the rooms that keep their state in kv namespaces: the
// verifier credentials and the decision log.
func (a *Authority) openRooms(ctx context.Context) error {
	v, err := verifiers.Open(ctx, a.store.Namespace("verifiers"), a.now)
	if err != nil {
		return err
	}
	a.verifiers = v
	d, err := decisions.Open(ctx, a.store.Namespace("decisions"), decisions.Config{
		Retention:    a.cfg.DecisionRetention,
		SignInterval: a.cfg.DecisionSignInterval,
		Sign:         a.signDecisionHead,
		Now:          a.now,
		Logger:       &a.log,
	})
	if err != nil {
		return err
	}
	a.decisions = d
	return nil
}

// signDecisionHead signs a decision log head with the active root key.
func (a *Authority) signDecisionHead(msg []byte) (uint32, []byte) {
	k := a.keys.current().active
	return k.ID, ed25519.Sign(k.Private, msg)
}

// Decisions returns the decision log. Every read takes a decisions.Scope:
// build it with DecisionScope (or, in the console, from a person's roles).
func (a *Authority) Decisions() *decisions.Log { return a.decisions }

// DecisionScope is what principal p may read of the decision log: the
// admin (and a person with the admin role) reads everything; an approver
// or viewer reads the decisions of its orgs (every org with people.AllOrgs);
// clients read nothing. It is the one place that maps credentials to a
// Scope: the console calls it with the signed-in person's principal.
func (a *Authority) DecisionScope(p Principal) (decisions.Scope, error) {
	switch {
	case p.Admin:
		return decisions.Scope{All: true}, nil
	case p.Person != nil && slices.Contains(p.Person.Orgs, people.AllOrgs):
		return decisions.Scope{All: true}, nil
	case p.Person != nil && len(p.Person.Orgs) > 0:
		return decisions.Scope{Orgs: slices.Clone(p.Person.Orgs)}, nil
	}
	return decisions.Scope{}, fmt.Errorf("%w: only the admin and people with orgs may read the decision log", ErrForbidden)
}

// AddVerifier creates a verifier credential and returns it: shown only
// this once, stored hashed. Admin only.
func (a *Authority) AddVerifier(ctx context.Context, p Principal, name string) (verifiers.Verifier, string, error) {
	if err := requireAdmin(p, "add verifiers"); err != nil {
		return verifiers.Verifier{}, "", err
	}
	v, secret, err := a.verifiers.Add(ctx, name)
	if err != nil {
		return verifiers.Verifier{}, "", roomError(err)
	}
	a.audit(ctx, "verifier_added").Str("by", p.String()).Str("verifier", name).Msg("verifier credential created")
	return v, secret, nil
}

// Verifiers lists the verifier credentials (never their secrets). Admin
// only.
func (a *Authority) Verifiers(ctx context.Context, p Principal) ([]verifiers.Verifier, error) {
	if err := requireAdmin(p, "list verifiers"); err != nil {
		return nil, err
	}
	vs, err := a.verifiers.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return vs, nil
}

// DeleteVerifier removes a verifier credential: it stops working at once.
// Admin only.
func (a *Authority) DeleteVerifier(ctx context.Context, p Principal, name string) error {
	if err := requireAdmin(p, "delete verifiers"); err != nil {
		return err
	}
	if err := a.verifiers.Delete(ctx, name); err != nil {
		return roomError(err)
	}
	a.audit(ctx, "verifier_deleted").Str("by", p.String()).Str("verifier", name).Msg("verifier credential deleted")
	return nil
}

// AuthenticateVerifier maps a verifier credential to its name. Errors wrap
// ErrUnauthenticated (or ErrUnavailable when storage fails).
func (a *Authority) AuthenticateVerifier(ctx context.Context, credential string) (string, error) {
	name, err := a.verifiers.Authenticate(ctx, credential)
	switch {
	case errors.Is(err, verifiers.ErrUnauthenticated):
		return "", fmt.Errorf("%w: unknown verifier credential; the admin creates one with \"mandate authority verifier add NAME\"", ErrUnauthenticated)
	case err != nil:
		return "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return name, nil
}

// roomErr carries a room's error under the authority's error that names
// its status, keeping the room's message.
type roomErr struct{ kind, err error }

func (e *roomErr) Error() string   { return e.err.Error() }
func (e *roomErr) Unwrap() []error { return []error{e.kind, e.err} }

// roomError maps the errors of the decisions and verifiers rooms to the
// authority's.
func roomError(err error) error {
	var kind error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, decisions.ErrInvalid), errors.Is(err, verifiers.ErrInvalid):
		kind = ErrBadRequest
	case errors.Is(err, decisions.ErrForbidden):
		kind = ErrForbidden
	case errors.Is(err, decisions.ErrEmpty), errors.Is(err, verifiers.ErrNotFound):
		kind = ErrNotFound
	case errors.Is(err, verifiers.ErrExists):
		kind = ErrExists
	case errors.Is(err, decisions.ErrCorrupt), errors.Is(err, decisions.ErrBusy), errors.Is(err, decisions.ErrClosed):
		kind = ErrUnavailable
	default:
		return err
	}
	return &roomErr{kind: kind, err: err}
}
