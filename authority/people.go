package authority

import (
	"context"
	"errors"
	"fmt"

	"github.com/mandate-dev/mandate/authority/kv"
	"github.com/mandate-dev/mandate/authority/people"
)

// People returns the directory of people (console sign-in, approvers).
// Rooms that need to know who a person is (approvals, the console) read it;
// changes go through AddPerson, RemovePerson and ResetPerson, which check
// the principal and write the audit trail.
func (a *Authority) People() *people.Directory { return a.people }

// Namespace returns a namespace of the authority's durable key-value state
// for one of its rooms (see kv.Provider), on the authority's own storage.
func (a *Authority) Namespace(name string) kv.KV { return a.store.Namespace(name) }

// peopleErr maps the directory's errors onto the authority's.
func peopleErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, people.ErrInvalid), errors.Is(err, people.ErrFull):
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	case errors.Is(err, people.ErrExists):
		return fmt.Errorf("%w: %w", ErrExists, err)
	case errors.Is(err, people.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return fmt.Errorf("%w: people: %w", ErrUnavailable, err)
}

// AddPerson creates a person (admin only) and returns its credential,
// shown once.
func (a *Authority) AddPerson(ctx context.Context, p Principal, person people.Person) (people.Person, string, error) {
	if err := requireAdmin(p, "add people"); err != nil {
		return people.Person{}, "", err
	}
	cred, err := a.people.Create(ctx, person)
	if err != nil {
		return people.Person{}, "", peopleErr(err)
	}
	created, err := a.people.Get(ctx, person.Name)
	if err != nil {
		return people.Person{}, "", peopleErr(err)
	}
	a.audit(ctx, "person_added").Str("by", p.String()).Str("person", created.Name).Str("role", string(created.Role)).Strs("orgs", created.Orgs).Msg("person added")
	return created, cred, nil
}

// RemovePerson deletes a person (admin only): its credential stops working
// at once.
func (a *Authority) RemovePerson(ctx context.Context, p Principal, name string) error {
	if err := requireAdmin(p, "remove people"); err != nil {
		return err
	}
	if err := a.people.Delete(ctx, name); err != nil {
		return peopleErr(err)
	}
	a.audit(ctx, "person_removed").Str("by", p.String()).Str("person", name).Msg("person removed")
	return nil
}

// ResetPerson gives a person a new credential (admin only) and returns it;
// the old one stops working at once.
func (a *Authority) ResetPerson(ctx context.Context, p Principal, name string) (string, error) {
	if err := requireAdmin(p, "reset people's credentials"); err != nil {
		return "", err
	}
	cred, err := a.people.ResetCredential(ctx, name)
	if err != nil {
		return "", peopleErr(err)
	}
	a.audit(ctx, "person_credential_reset").Str("by", p.String()).Str("person", name).Msg("person credential reset")
	return cred, nil
}

// Person returns a person: the admin sees everyone, a person itself.
func (a *Authority) Person(ctx context.Context, p Principal, name string) (people.Person, error) {
	if !p.Admin && (p.Person == nil || p.Person.Name != name) {
		return people.Person{}, fmt.Errorf("%w: only the admin may look up other people", ErrForbidden)
	}
	person, err := a.people.Get(ctx, name)
	return person, peopleErr(err)
}

// ListPeople returns every person (admin only).
func (a *Authority) ListPeople(ctx context.Context, p Principal) ([]people.Person, error) {
	if err := requireAdmin(p, "list people"); err != nil {
		return nil, err
	}
	ps, err := a.people.List(ctx)
	return ps, peopleErr(err)
}
