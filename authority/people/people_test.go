package people_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/kv"
	"github.com/mandate-dev/mandate/authority/people"
)

// engines runs fn on a directory in memory and on Badger on disk.
func engines(t *testing.T, fn func(t *testing.T, d *people.Directory)) {
	t.Run("memory", func(t *testing.T) { fn(t, people.NewDirectory(kv.NewMemory(nil), nil)) })
	t.Run("badger", func(t *testing.T) {
		s, err := authority.OpenBadgerStore(t.TempDir(), authority.BadgerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		fn(t, people.NewDirectory(s.Namespace("people"), nil))
	})
}

func TestCredentialLifecycle(t *testing.T) {
	ctx := context.Background()
	engines(t, func(t *testing.T, d *people.Directory) {
		cred, err := d.Create(ctx, people.Person{Name: "alice@acme.test", Role: people.RoleApprover, Orgs: []string{"acme", "acme", "beta"}})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(cred, people.CredentialPrefix) || len(cred) < 40 {
			t.Fatalf("credential %q is not a prefixed 256-bit secret", cred)
		}
		p, err := d.Authenticate(ctx, cred)
		if err != nil || p.Name != "alice@acme.test" || p.Role != people.RoleApprover || strings.Join(p.Orgs, ",") != "acme,beta" {
			t.Fatalf("Authenticate = %+v, %v", p, err)
		}
		for _, bad := range []string{"", cred + "x", cred[:len(cred)-1], "mp_", strings.TrimPrefix(cred, people.CredentialPrefix), strings.Repeat("mp_", 100)} {
			if _, err := d.Authenticate(ctx, bad); !errors.Is(err, people.ErrUnauthenticated) {
				t.Errorf("Authenticate(%.12q…) = %v, want ErrUnauthenticated", bad, err)
			}
		}
		if _, err := d.Create(ctx, people.Person{Name: "alice@acme.test", Role: people.RoleViewer, Orgs: []string{"x"}}); !errors.Is(err, people.ErrExists) {
			t.Fatalf("second create = %v, want ErrExists", err)
		}
		if p, _ := d.Authenticate(ctx, cred); p.Role != people.RoleApprover {
			t.Fatalf("a refused create changed the person: %+v", p)
		}

		cred2, err := d.ResetCredential(ctx, "alice@acme.test")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Authenticate(ctx, cred); !errors.Is(err, people.ErrUnauthenticated) {
			t.Fatalf("the old credential still works after a reset: %v", err)
		}
		if _, err := d.Authenticate(ctx, cred2); err != nil {
			t.Fatalf("the new credential: %v", err)
		}

		if err := d.Delete(ctx, "alice@acme.test"); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Authenticate(ctx, cred2); !errors.Is(err, people.ErrUnauthenticated) {
			t.Fatalf("a deleted person's credential still works: %v", err)
		}
		if _, err := d.Get(ctx, "alice@acme.test"); !errors.Is(err, people.ErrNotFound) {
			t.Fatalf("Get after delete = %v", err)
		}
		if err := d.Delete(ctx, "alice@acme.test"); !errors.Is(err, people.ErrNotFound) {
			t.Fatalf("second delete = %v", err)
		}
		// A re-created person gets a new credential; the old ones stay dead.
		cred3, err := d.Create(ctx, people.Person{Name: "alice@acme.test", Role: people.RoleAdmin})
		if err != nil {
			t.Fatal(err)
		}
		for _, old := range []string{cred, cred2} {
			if _, err := d.Authenticate(ctx, old); !errors.Is(err, people.ErrUnauthenticated) {
				t.Fatalf("an old credential works for the re-created person: %v", err)
			}
		}
		if p, err := d.Authenticate(ctx, cred3); err != nil || !p.IsAdmin() {
			t.Fatalf("re-created: %+v %v", p, err)
		}
	})
}

func TestInvalidPeopleAreRefused(t *testing.T) {
	ctx := context.Background()
	d := people.NewDirectory(kv.NewMemory(nil), nil)
	for _, p := range []people.Person{
		{Name: "", Role: people.RoleAdmin},
		{Name: "a b", Role: people.RoleAdmin},
		{Name: "a/b", Role: people.RoleAdmin},
		{Name: "a%2f", Role: people.RoleAdmin},
		{Name: "a\x00", Role: people.RoleAdmin},
		{Name: strings.Repeat("a", 255), Role: people.RoleAdmin},
		{Name: "bob", Role: "root"},
		{Name: "bob", Role: people.RoleApprover},
		{Name: "bob", Role: people.RoleViewer, Orgs: []string{""}},
		{Name: "bob", Role: people.RoleAdmin, Orgs: []string{"acme"}},
	} {
		if _, err := d.Create(ctx, p); !errors.Is(err, people.ErrInvalid) {
			t.Errorf("Create(%+v) = %v, want ErrInvalid", p, err)
		}
	}
	if ps, _ := d.List(ctx); len(ps) != 0 {
		t.Fatalf("refused people were stored: %+v", ps)
	}
}

func TestRoles(t *testing.T) {
	admin := people.Person{Role: people.RoleAdmin}
	appr := people.Person{Role: people.RoleApprover, Orgs: []string{"acme"}}
	every := people.Person{Role: people.RoleApprover, Orgs: []string{people.AllOrgs}}
	viewer := people.Person{Role: people.RoleViewer, Orgs: []string{"acme"}}
	cases := []struct {
		p            people.Person
		org          string
		approve, see bool
	}{
		{admin, "acme", true, true},
		{admin, "", true, true},
		{appr, "acme", true, true},
		{appr, "beta", false, false},
		{appr, "", false, false},
		{every, "beta", true, true},
		{viewer, "acme", false, true},
		{viewer, "beta", false, false},
	}
	for _, c := range cases {
		if got := c.p.MayApprove(c.org); got != c.approve {
			t.Errorf("%s %v MayApprove(%q) = %v", c.p.Role, c.p.Orgs, c.org, got)
		}
		if got := c.p.MaySee(c.org); got != c.see {
			t.Errorf("%s %v MaySee(%q) = %v", c.p.Role, c.p.Orgs, c.org, got)
		}
	}
}

func TestListAndDurability(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := authority.OpenBadgerStore(dir, authority.BadgerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d := people.NewDirectory(s.Namespace("people"), nil)
	cred, err := d.Create(ctx, people.Person{Name: "zed@acme.test", Role: people.RoleViewer, Orgs: []string{"acme"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Create(ctx, people.Person{Name: "amy@acme.test", Role: people.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = authority.OpenBadgerStore(dir, authority.BadgerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d = people.NewDirectory(s.Namespace("people"), nil)
	ps, err := d.List(ctx)
	if err != nil || len(ps) != 2 || ps[0].Name != "amy@acme.test" || ps[1].Name != "zed@acme.test" {
		t.Fatalf("List after reopen = %+v, %v", ps, err)
	}
	if _, err := d.Authenticate(ctx, cred); err != nil {
		t.Fatalf("credential after reopen: %v", err)
	}
}
