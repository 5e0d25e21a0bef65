// Package verifiers keeps the credentials verifiers authenticate to the
// authority with: a verifier (a tool server that embeds package verifier)
// ships its decisions to the decision log with one, and never holds a
// client secret (which could mint) or the admin token.
//
//  1. The admin adds a verifier by name (POST /v1/verifiers, or "mandate
//     authority verifier add NAME"): [Registry.Add] returns its secret,
//     "mdv_NAME.RANDOM", once. Only its SHA-256 is stored.
//  2. The verifier sends it as a bearer token; [Registry.Authenticate]
//     maps it back to the name, which the decision log records with every
//     decision the verifier ships.
//  3. [Registry.Delete] ends it at once.
//
// The credentials live in a kv namespace (authority.Store.Namespace
// "verifiers"), one entry per verifier, read on every authentication (a
// verifier authenticates once per batch), so that authority replicas on a
// shared store agree at once on an added or deleted credential.
package verifiers

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mandate-dev/mandate/authority/kv"
)

// Prefix starts every verifier credential, so that one is easy to tell from
// a client secret or the admin token (and to find in a leaked file).
const Prefix = "mdv_"

// MaxNameLen bounds a verifier's name.
const MaxNameLen = 64

// maxCredential bounds a credential presented for authentication.
const maxCredential = len(Prefix) + MaxNameLen + 1 + 43

// Errors, matched with errors.Is.
var (
	ErrInvalid         = errors.New("invalid verifier name")
	ErrExists          = errors.New("verifier already exists")
	ErrNotFound        = errors.New("no such verifier")
	ErrUnauthenticated = errors.New("unknown verifier credential")
)

// Verifier is a registered verifier as the API shows it: never its secret.
type Verifier struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

type record struct {
	Name       string    `json:"name"`
	SecretHash []byte    `json:"secret_sha256"`
	CreatedAt  time.Time `json:"created_at"`
}

// Registry holds the verifier credentials. It is safe for concurrent use.
type Registry struct {
	kv  kv.KV
	now func() time.Time
}

// Open opens the registry on store and checks every stored credential.
// now is the clock (nil: time.Now).
func Open(ctx context.Context, store kv.KV, now func() time.Time) (*Registry, error) {
	if now == nil {
		now = time.Now
	}
	r := &Registry{kv: store, now: now}
	if _, err := r.list(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

func decodeRecord(e kv.Entry) (record, error) {
	var rec record
	if err := json.Unmarshal(e.Value, &rec); err != nil || "v/"+rec.Name != e.Key || len(rec.SecretHash) != sha256.Size {
		return rec, fmt.Errorf("verifiers: %w: verifier credential %q is unreadable", kv.ErrCorrupt, e.Key)
	}
	return rec, nil
}

func (r *Registry) list(ctx context.Context) ([]record, error) {
	var out []record
	var bad error
	err := r.kv.Scan(ctx, kv.ScanOptions{Prefix: "v/"}, func(e kv.Entry) bool {
		rec, err := decodeRecord(e)
		bad = err
		out = append(out, rec)
		return err == nil
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return nil, fmt.Errorf("verifiers: %w", err)
	}
	return out, nil
}

// ValidName checks a verifier name: 1 to MaxNameLen lowercase letters,
// digits, '-' and '_', starting with a letter or digit (no '.', which ends
// the name in a credential).
func ValidName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("%w: a name is 1 to %d characters", ErrInvalid, MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || i > 0 && (c == '-' || c == '_')
		if !ok {
			return fmt.Errorf("%w: %.64q: use lowercase letters, digits, '-' and '_', starting with a letter or digit", ErrInvalid, name)
		}
	}
	return nil
}

// Add registers a verifier and returns its credential, which is not
// stored and cannot be shown again.
func (r *Registry) Add(ctx context.Context, name string) (Verifier, string, error) {
	if err := ValidName(name); err != nil {
		return Verifier{}, "", err
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Verifier{}, "", fmt.Errorf("verifiers: generate secret: %w", err)
	}
	secret := Prefix + name + "." + base64.RawURLEncoding.EncodeToString(b[:])
	rec := record{Name: name, SecretHash: hash(secret), CreatedAt: r.now().UTC()}
	raw, err := json.Marshal(rec)
	if err != nil {
		return Verifier{}, "", err
	}
	if _, err := r.kv.Apply(ctx, kv.Create("v/"+name, raw, time.Time{})); err != nil {
		if errors.Is(err, kv.ErrConflict) {
			return Verifier{}, "", fmt.Errorf("%w: %q; delete it first to issue a new credential", ErrExists, name)
		}
		return Verifier{}, "", fmt.Errorf("verifiers: %w", err)
	}
	return Verifier{Name: name, CreatedAt: rec.CreatedAt}, secret, nil
}

// List returns the verifiers, by name.
func (r *Registry) List(ctx context.Context) ([]Verifier, error) {
	recs, err := r.list(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Verifier, 0, len(recs))
	for _, rec := range recs {
		out = append(out, Verifier{Name: rec.Name, CreatedAt: rec.CreatedAt})
	}
	slices.SortFunc(out, func(a, b Verifier) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Delete removes a verifier: its credential stops working at once (on
// every replica: Authenticate reads the store).
func (r *Registry) Delete(ctx context.Context, name string) error {
	if ValidName(name) != nil {
		return fmt.Errorf("%w: %.64q", ErrNotFound, name)
	}
	e, err := r.kv.Get(ctx, "v/"+name)
	switch {
	case errors.Is(err, kv.ErrNotFound):
		return fmt.Errorf("%w: %.64q", ErrNotFound, name)
	case err != nil:
		return fmt.Errorf("verifiers: %w", err)
	}
	if _, err := r.kv.Apply(ctx, kv.Op{Key: e.Key, Delete: true, Match: kv.AtRev, Rev: e.Rev}); err != nil {
		if errors.Is(err, kv.ErrConflict) {
			return fmt.Errorf("%w: %.64q (deleted meanwhile)", ErrNotFound, name)
		}
		return fmt.Errorf("verifiers: %w", err)
	}
	return nil
}

// Authenticate maps a credential to its verifier's name. The comparison
// of hashes is constant-time. An error other than ErrUnauthenticated is a
// storage failure.
func (r *Registry) Authenticate(ctx context.Context, credential string) (string, error) {
	if !strings.HasPrefix(credential, Prefix) || len(credential) > maxCredential {
		return "", ErrUnauthenticated
	}
	i := strings.LastIndexByte(credential, '.')
	if i <= len(Prefix) {
		return "", ErrUnauthenticated
	}
	name := credential[len(Prefix):i]
	if ValidName(name) != nil {
		return "", ErrUnauthenticated
	}
	e, err := r.kv.Get(ctx, "v/"+name)
	switch {
	case errors.Is(err, kv.ErrNotFound):
		return "", ErrUnauthenticated
	case err != nil:
		return "", fmt.Errorf("verifiers: %w", err)
	}
	rec, err := decodeRecord(e)
	if err != nil {
		return "", err
	}
	if subtle.ConstantTimeCompare(hash(credential), rec.SecretHash) != 1 {
		return "", ErrUnauthenticated
	}
	return name, nil
}

// hash is SHA-256: a credential carries 256 random bits, so a slow
// password hash would add cost and no safety (as for client secrets).
func hash(secret string) []byte {
	s := sha256.Sum256([]byte(secret))
	return s[:]
}
