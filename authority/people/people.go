// Package people keeps the authority's people: the named persons who sign
// in to the console and approve calls. A person is not a client (clients
// mint tokens for agents) and not the admin token (a shared secret for
// operators and automation): approving a call, for instance, takes a
// person's own credential, so that every decision names who made it.
//
// Each person has one role:
//
//   - admin: sees and does everything, and may approve for every org;
//   - approver: sees the orgs it is given and approves their calls;
//   - viewer: sees the orgs it is given, changes nothing.
//
// A person's credential is generated ("mp_" and 256 random bits, base64url),
// shown once when the person is created or the credential is reset, and
// stored only as its SHA-256: the credential is as strong as a key, so a
// slow password hash would add nothing but latency. Deleting a person or
// resetting its credential makes the old one fail at once.
//
// The directory lives in a kv namespace:
//
//	p/NAME        the person (JSON)
//	c/HASH_HEX    credential hash → NAME
package people

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mandate-dev/mandate/authority/kv"
)

// Role is what a person may do.
type Role string

// The roles.
const (
	RoleAdmin    Role = "admin"
	RoleApprover Role = "approver"
	RoleViewer   Role = "viewer"
)

// AllOrgs in Person.Orgs stands for every org.
const AllOrgs = "*"

// CredentialPrefix starts every person's credential, so that the authority
// (and a person reading a leaked secret in a log) can tell it from a client
// secret or the admin token.
const CredentialPrefix = "mp_"

// Limits.
const (
	MaxNameLen = 254 // an email address at most
	MaxOrgs    = 64
	MaxOrgLen  = 128
	// MaxPeople bounds the directory (List reads it whole).
	MaxPeople = 10000
)

// Errors; match with errors.Is.
var (
	ErrNotFound        = errors.New("no such person")
	ErrExists          = errors.New("a person with this name exists")
	ErrInvalid         = errors.New("invalid person")
	ErrUnauthenticated = errors.New("not a valid person credential")
	ErrFull            = errors.New("the directory is full")
)

// Person is a person as stored and shown: never the credential.
type Person struct {
	// Name is the sign-in name, an email-like ID ("alice@acme.test").
	Name string `json:"name"`
	Role Role   `json:"role"`
	// Orgs are the orgs an approver approves for and a viewer sees
	// (AllOrgs: every org). Empty for an admin, who has every org.
	Orgs      []string  `json:"orgs,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// MayApprove reports whether p may approve the calls of org: an admin for
// every org, an approver for its orgs, a viewer never.
func (p Person) MayApprove(org string) bool {
	switch p.Role {
	case RoleAdmin:
		return true
	case RoleApprover:
		return p.hasOrg(org)
	}
	return false
}

// MaySee reports whether p may see the sessions, decisions and requests of
// org.
func (p Person) MaySee(org string) bool {
	return p.Role == RoleAdmin || p.hasOrg(org)
}

// IsAdmin reports whether p has the admin role.
func (p Person) IsAdmin() bool { return p.Role == RoleAdmin }

func (p Person) hasOrg(org string) bool {
	return slices.Contains(p.Orgs, AllOrgs) || (org != "" && slices.Contains(p.Orgs, org))
}

// Check validates a person to be created.
func (p Person) Check() error {
	if p.Name == "" || len(p.Name) > MaxNameLen || !utf8.ValidString(p.Name) {
		return fmt.Errorf("%w: the name must be 1 to %d bytes of UTF-8 (an email address such as alice@acme.test)", ErrInvalid, MaxNameLen)
	}
	for _, r := range p.Name {
		if r <= ' ' || r == 0x7f || r == '/' || r == '%' {
			return fmt.Errorf("%w: the name %q holds a space, control character, '/' or '%%'", ErrInvalid, p.Name)
		}
	}
	switch p.Role {
	case RoleAdmin:
		if len(p.Orgs) > 0 {
			return fmt.Errorf("%w: an admin has every org; give orgs only to approvers and viewers", ErrInvalid)
		}
	case RoleApprover, RoleViewer:
		if len(p.Orgs) == 0 {
			return fmt.Errorf("%w: an %s needs at least one org (--org acme, or --org '*' for every org)", ErrInvalid, p.Role)
		}
	default:
		return fmt.Errorf("%w: unknown role %q (admin, approver or viewer)", ErrInvalid, p.Role)
	}
	if len(p.Orgs) > MaxOrgs {
		return fmt.Errorf("%w: %d orgs (at most %d)", ErrInvalid, len(p.Orgs), MaxOrgs)
	}
	for _, o := range p.Orgs {
		if o == "" || len(o) > MaxOrgLen || !utf8.ValidString(o) || strings.ContainsFunc(o, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return fmt.Errorf("%w: org %q must be 1 to %d printable characters", ErrInvalid, o, MaxOrgLen)
		}
	}
	return nil
}

// Directory is the set of people, kept in a kv namespace. It is safe for
// concurrent use.
type Directory struct {
	ns  kv.KV
	now func() time.Time
}

// NewDirectory returns the directory kept in ns. now is its clock (nil:
// time.Now).
func NewDirectory(ns kv.KV, now func() time.Time) *Directory {
	if now == nil {
		now = time.Now
	}
	return &Directory{ns: ns, now: now}
}

type stored struct {
	Person
	CredHash string `json:"cred_hash"` // hex SHA-256 of the credential
}

func personKey(name string) string { return "p/" + name }
func credKey(hash string) string   { return "c/" + hash }

func hashCredential(cred string) string {
	sum := sha256.Sum256([]byte(cred))
	return hex.EncodeToString(sum[:])
}

func newCredential() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate a credential: %w", err)
	}
	return CredentialPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Create adds a person and returns its credential, which is shown only
// this once.
func (d *Directory) Create(ctx context.Context, p Person) (string, error) {
	p.Orgs = slices.Compact(slices.Sorted(slices.Values(p.Orgs)))
	if err := p.Check(); err != nil {
		return "", err
	}
	n := 0
	if err := d.ns.Scan(ctx, kv.ScanOptions{Prefix: "p/", KeysOnly: true}, func(kv.Entry) bool { n++; return n < MaxPeople }); err != nil {
		return "", err
	}
	if n >= MaxPeople {
		return "", fmt.Errorf("%w: %d people; remove someone first", ErrFull, MaxPeople)
	}
	cred, err := newCredential()
	if err != nil {
		return "", err
	}
	p.CreatedAt = d.now().UTC().Truncate(time.Second)
	s := stored{Person: p, CredHash: hashCredential(cred)}
	raw, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	_, err = d.ns.Apply(ctx, kv.Create(personKey(p.Name), raw, time.Time{}), kv.Create(credKey(s.CredHash), []byte(p.Name), time.Time{}))
	if errors.Is(err, kv.ErrConflict) {
		return "", fmt.Errorf("%w: %q (reset its credential with people reset, or remove it first)", ErrExists, p.Name)
	}
	if err != nil {
		return "", err
	}
	return cred, nil
}

func (d *Directory) get(ctx context.Context, name string) (stored, uint64, error) {
	if name == "" || len(name) > MaxNameLen {
		return stored{}, 0, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	e, err := d.ns.Get(ctx, personKey(name))
	if errors.Is(err, kv.ErrNotFound) {
		return stored{}, 0, fmt.Errorf("%w: %q (list them with people list)", ErrNotFound, name)
	}
	if err != nil {
		return stored{}, 0, err
	}
	var s stored
	if err := json.Unmarshal(e.Value, &s); err != nil {
		return stored{}, 0, fmt.Errorf("%w: person %q: %v", kv.ErrCorrupt, name, err)
	}
	return s, e.Rev, nil
}

// Get returns a person.
func (d *Directory) Get(ctx context.Context, name string) (Person, error) {
	s, _, err := d.get(ctx, name)
	return s.Person, err
}

// List returns every person, ordered by name.
func (d *Directory) List(ctx context.Context) ([]Person, error) {
	var out []Person
	var bad error
	err := d.ns.Scan(ctx, kv.ScanOptions{Prefix: "p/"}, func(e kv.Entry) bool {
		var s stored
		if err := json.Unmarshal(e.Value, &s); err != nil {
			bad = fmt.Errorf("%w: person %q: %v", kv.ErrCorrupt, e.Key, err)
			return false
		}
		out = append(out, s.Person)
		return true
	})
	if err == nil {
		err = bad
	}
	return out, err
}

// Authenticate returns the person whose credential cred is.
func (d *Directory) Authenticate(ctx context.Context, cred string) (Person, error) {
	if !strings.HasPrefix(cred, CredentialPrefix) || len(cred) > 128 {
		return Person{}, fmt.Errorf("%w: a person's credential starts with %q", ErrUnauthenticated, CredentialPrefix)
	}
	h := hashCredential(cred)
	e, err := d.ns.Get(ctx, credKey(h))
	if errors.Is(err, kv.ErrNotFound) {
		return Person{}, fmt.Errorf("%w: unknown or reset credential", ErrUnauthenticated)
	}
	if err != nil {
		return Person{}, err
	}
	s, _, err := d.get(ctx, string(e.Value))
	if errors.Is(err, ErrNotFound) || (err == nil && s.CredHash != h) {
		return Person{}, fmt.Errorf("%w: unknown or reset credential", ErrUnauthenticated)
	}
	if err != nil {
		return Person{}, err
	}
	return s.Person, nil
}

// Delete removes a person: its credential stops working at once.
func (d *Directory) Delete(ctx context.Context, name string) error {
	s, rev, err := d.get(ctx, name)
	if err != nil {
		return err
	}
	_, err = d.ns.Apply(ctx, kv.Op{Key: personKey(name), Delete: true, Match: kv.AtRev, Rev: rev}, kv.Delete(credKey(s.CredHash)))
	if errors.Is(err, kv.ErrConflict) {
		return fmt.Errorf("person %q changed while being removed; try again: %w", name, err)
	}
	return err
}

// ResetCredential gives a person a new credential (returned, shown once);
// the old one stops working at once.
func (d *Directory) ResetCredential(ctx context.Context, name string) (string, error) {
	s, rev, err := d.get(ctx, name)
	if err != nil {
		return "", err
	}
	cred, err := newCredential()
	if err != nil {
		return "", err
	}
	old := s.CredHash
	s.CredHash = hashCredential(cred)
	raw, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	_, err = d.ns.Apply(ctx, kv.Update(personKey(name), raw, rev, time.Time{}), kv.Delete(credKey(old)), kv.Create(credKey(s.CredHash), []byte(name), time.Time{}))
	if errors.Is(err, kv.ErrConflict) {
		return "", fmt.Errorf("person %q changed while its credential was reset; try again: %w", name, err)
	}
	if err != nil {
		return "", err
	}
	return cred, nil
}
