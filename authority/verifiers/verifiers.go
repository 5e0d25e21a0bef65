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
// "verifiers"), one entry per verifier, and in memory for the hot path.
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
	"sync"
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

	mu   sync.RWMutex // serializes Add and Delete; guards byID
	byID map[string]record
}

// Open loads the registry from store. now is the clock (nil: time.Now).
func Open(ctx context.Context, store kv.KV, now func() time.Time) (*Registry, error) {
	if now == nil {
		now = time.Now
	}
	r := &Registry{kv: store, now: now, byID: map[string]record{}}
	var bad error
	err := store.Scan(ctx, kv.ScanOptions{Prefix: "v/"}, func(e kv.Entry) bool {
		var rec record
		if err := json.Unmarshal(e.Value, &rec); err != nil || "v/"+rec.Name != e.Key || len(rec.SecretHash) != sha256.Size {
			bad = fmt.Errorf("%w: verifier credential %q is unreadable", kv.ErrCorrupt, e.Key)
			return false
		}
		r.byID[rec.Name] = rec
		return true
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return nil, fmt.Errorf("verifiers: %w", err)
	}
	return r, nil
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
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.kv.Apply(ctx, kv.Create("v/"+name, raw, time.Time{})); err != nil {
		if errors.Is(err, kv.ErrConflict) {
			return Verifier{}, "", fmt.Errorf("%w: %q; delete it first to issue a new credential", ErrExists, name)
		}
		return Verifier{}, "", fmt.Errorf("verifiers: %w", err)
	}
	r.byID[name] = rec
	return Verifier{Name: name, CreatedAt: rec.CreatedAt}, secret, nil
}

// List returns the verifiers, by name.
func (r *Registry) List() []Verifier {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Verifier, 0, len(r.byID))
	for _, rec := range r.byID {
		out = append(out, Verifier{Name: rec.Name, CreatedAt: rec.CreatedAt})
	}
	slices.SortFunc(out, func(a, b Verifier) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Delete removes a verifier: its credential stops working at once.
func (r *Registry) Delete(ctx context.Context, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.byID[name]; !ok {
		return fmt.Errorf("%w: %.64q", ErrNotFound, name)
	}
	if _, err := r.kv.Apply(ctx, kv.Delete("v/"+name)); err != nil {
		return fmt.Errorf("verifiers: %w", err)
	}
	delete(r.byID, name)
	return nil
}

// Authenticate maps a credential to its verifier's name. The comparison
// of hashes is constant-time.
func (r *Registry) Authenticate(credential string) (string, error) {
	if !strings.HasPrefix(credential, Prefix) || len(credential) > maxCredential {
		return "", ErrUnauthenticated
	}
	i := strings.LastIndexByte(credential, '.')
	if i <= len(Prefix) {
		return "", ErrUnauthenticated
	}
	name := credential[len(Prefix):i]
	r.mu.RLock()
	rec, ok := r.byID[name]
	r.mu.RUnlock()
	if !ok || subtle.ConstantTimeCompare(hash(credential), rec.SecretHash) != 1 {
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
