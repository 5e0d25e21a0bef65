package authority

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mandate-dev/mandate/token"
)

// Key statuses, as GET /v1/keys reports them.
const (
	KeyActive   = "active"   // signs new tokens
	KeyRetiring = "retiring" // rotated out; verifies its tokens until NotAfter
)

// KeyInfo describes a root public key.
type KeyInfo struct {
	ID        uint32
	PublicKey []byte // Ed25519, 32 bytes
	Status    string // KeyActive or KeyRetiring
	CreatedAt time.Time
	// NotAfter is set for retiring keys: the latest expiry of any token
	// the key signed. The key is dropped after it.
	NotAfter time.Time
}

// keyState is an immutable snapshot of the key ring; rotation swaps it.
type keyState struct {
	active token.SigningKey
	infos  []KeyInfo // active first, then retiring keys, newest first
	set    *token.KeySet
	// endorsements are every endorsement made by a rotation (each new
	// key signed by the key active before it, and that key by the new
	// one), oldest first, kept for ever so that a verifier pinned to any
	// key of the authority can reach every other.
	endorsements []token.Endorsement
}

// keyring keeps the root keys in DIR/keys: one PEM PKCS#8 file per key
// (mode 0600) and a manifest, keys.json, naming the active and retiring
// keys. Every file is written atomically (temporary file, fsync, rename,
// fsync of the folder), and the manifest is written last: it is the commit
// point of a rotation, so a crash leaves either the old or the new ring.
type keyring struct {
	store keyStorage
	mu    sync.Mutex // serializes rotations and refreshes
	state atomic.Pointer[keyState]
	// version is the manifest version state was loaded from (guarded by
	// mu): refresh reloads when the stored one moved.
	version uint64
}

// keyStorage is where a key ring lives: a private folder (one authority),
// or a kv namespace that several authority replicas share.
type keyStorage interface {
	// readManifest returns the manifest and its version, or an error
	// wrapping fs.ErrNotExist when there is none.
	readManifest() ([]byte, uint64, error)
	// readKey returns a key file's bytes.
	readKey(name string) ([]byte, error)
	// commit stores a new key (name and PEM, or "" for none) and then
	// the manifest, which must still be at version prev (0: must not
	// exist yet); it returns the manifest's new version. Another writer
	// having moved the manifest is an error wrapping errKeysRaced.
	commit(name string, pem []byte, manifest []byte, prev uint64) (uint64, error)
	// removeStrays deletes key files no manifest names (best effort).
	removeStrays(names map[string]bool)
	// where names the place for error messages.
	where() string
}

var errKeysRaced = errors.New("another authority replica changed the keys at the same time; retry")

const manifestName = "keys.json"

// manifest is keys.json. Its integrity is checked at every load: Checksum
// is the SHA-256 of the manifest written with an empty Checksum, and each
// key's SHA256 that of its key file, so a flipped byte in either is refused
// (a manifest from before checksums is upgraded at the next open).
type manifest struct {
	Version      int                   `json:"version"`
	Keys         []manifestKey         `json:"keys"`
	Endorsements []manifestEndorsement `json:"endorsements,omitempty"`
	Checksum     string                `json:"checksum,omitempty"`
}

type manifestKey struct {
	ID        uint32    `json:"key_id"`
	File      string    `json:"file"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	NotAfter  time.Time `json:"not_after,omitzero"`
	SHA256    string    `json:"sha256,omitempty"`
}

type manifestEndorsement struct {
	KeyID       uint32 `json:"key_id"`
	PublicKey   string `json:"public_key"`
	SignerKeyID uint32 `json:"signer_key_id"`
	Signature   string `json:"signature"`
}

func manifestEndorsementOf(e token.Endorsement) manifestEndorsement {
	return manifestEndorsement{KeyID: e.Key.ID, PublicKey: token.FormatPublicKey(e.Key.Key), SignerKeyID: e.SignerID, Signature: hex.EncodeToString(e.Signature)}
}

// sealed returns m with its checksum set.
func (m manifest) sealed() manifest {
	m.Checksum = ""
	sum := sha256.Sum256(mustJSON(m))
	m.Checksum = hex.EncodeToString(sum[:])
	return m
}

// verify checks the manifest's checksum; a manifest without one (written
// before checksums) passes and is sealed when next written.
func (m manifest) verify() error {
	if m.Checksum == "" {
		return nil
	}
	if m.sealed().Checksum != m.Checksum {
		return errors.New("its checksum does not match its content (altered or corrupted on disk)")
	}
	return nil
}

func keyFileName(id uint32) string { return fmt.Sprintf("key-%08x.pem", id) }

// openKeyring loads the key ring in dir, creating it with a new active key
// on first start. created reports whether a key was created.
func openKeyring(dir string, now time.Time) (k *keyring, created bool, err error) {
	if err := ensurePrivateDir(dir); err != nil {
		return nil, false, err
	}
	return openKeyringIn(fileKeys{dir: dir}, now)
}

// openKeyringIn loads the key ring kept in store, creating it with a new
// active key on first start. Several replicas may race to create it: one
// wins, the others load its ring.
func openKeyringIn(store keyStorage, now time.Time) (k *keyring, created bool, err error) {
	k = &keyring{store: store}
	m, ver, err := k.readManifest()
	if errors.Is(err, fs.ErrNotExist) {
		key, err := token.GenerateKey()
		if err != nil {
			return nil, false, err
		}
		pem, sum, err := keyPEM(key)
		if err != nil {
			return nil, false, err
		}
		m = manifest{Version: 1, Keys: []manifestKey{{ID: key.ID, File: keyFileName(key.ID), Status: KeyActive, CreatedAt: now.UTC(), SHA256: sum}}}
		ver, err = store.commit(keyFileName(key.ID), pem, mustJSON(m.sealed()), 0)
		switch {
		case errors.Is(err, errKeysRaced):
			// Another replica created the ring first: use it.
			m, ver, err = k.readManifest()
			if err != nil {
				return nil, false, err
			}
		case err != nil:
			return nil, false, err
		default:
			created = true
		}
	} else if err != nil {
		return nil, false, err
	}
	if m.Checksum == "" || slices.ContainsFunc(m.Keys, func(mk manifestKey) bool { return mk.SHA256 == "" }) {
		// Written before checksums: add them now.
		if ver, err = k.upgradeManifest(&m, ver); err != nil {
			return nil, false, err
		}
	}
	st, err := k.load(m, now)
	if err != nil {
		return nil, false, err
	}
	k.state.Store(st)
	k.version = ver
	k.removeStrays(m)
	return k, created, nil
}

// refresh reloads the ring if another replica changed it (a rotation).
func (k *keyring) refresh(now time.Time) (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	m, ver, err := k.readManifest()
	if err != nil {
		return false, err
	}
	if ver == k.version {
		return false, nil
	}
	st, err := k.load(m, now)
	if err != nil {
		return false, err
	}
	k.state.Store(st)
	k.version = ver
	return true, nil
}

func (k *keyring) readManifest() (manifest, uint64, error) {
	var m manifest
	b, ver, err := k.store.readManifest()
	if err != nil {
		return m, 0, err
	}
	where := k.store.where()
	if err := json.Unmarshal(b, &m); err != nil {
		return m, 0, fmt.Errorf("%w: key manifest in %s: %w; restore it from a backup", ErrCorrupt, where, err)
	}
	if err := m.verify(); err != nil {
		return m, 0, fmt.Errorf("%w: key manifest in %s: %w; restore the keys from a backup", ErrCorrupt, where, err)
	}
	if m.Version != 1 {
		return m, 0, fmt.Errorf("key manifest in %s: version %d is not supported", where, m.Version)
	}
	return m, ver, nil
}

// load reads the private keys a manifest names. Keys whose NotAfter has
// passed are kept out of the state (they verify nothing any more).
func (k *keyring) load(m manifest, now time.Time) (*keyState, error) {
	st := &keyState{}
	var pubs []token.PublicKey
	actives := 0
	for _, mk := range m.Keys {
		if mk.Status == KeyRetiring && !mk.NotAfter.IsZero() && now.After(mk.NotAfter) {
			continue
		}
		path := filepath.Base(mk.File)
		b, err := k.store.readKey(path)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", mk.ID, err)
		}
		if sum := sha256.Sum256(b); mk.SHA256 != "" && hex.EncodeToString(sum[:]) != mk.SHA256 {
			return nil, fmt.Errorf("%w: key file %s does not match its checksum in %s (altered or corrupted on disk); restore the keys folder from a backup", ErrCorrupt, path, manifestName)
		}
		priv, err := token.ParsePrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("%w: key file %s: %w; restore the keys folder from a backup", ErrCorrupt, path, err)
		}
		sk := token.NewSigningKey(priv)
		if sk.ID != mk.ID {
			return nil, fmt.Errorf("%w: key file %s holds key %d, the manifest says %d; restore the keys folder from a backup", ErrCorrupt, path, sk.ID, mk.ID)
		}
		info := KeyInfo{ID: sk.ID, PublicKey: sk.Public().Key, Status: mk.Status, CreatedAt: mk.CreatedAt, NotAfter: mk.NotAfter}
		switch mk.Status {
		case KeyActive:
			actives++
			st.active = sk
			st.infos = append([]KeyInfo{info}, st.infos...)
		case KeyRetiring:
			st.infos = append(st.infos, info)
		default:
			return nil, fmt.Errorf("key manifest: key %d has unknown status %q", mk.ID, mk.Status)
		}
		pubs = append(pubs, token.PublicKey{ID: sk.ID, Key: sk.Public().Key, NotAfter: mk.NotAfter})
	}
	if actives != 1 {
		return nil, fmt.Errorf("key manifest in %s names %d active keys, want 1; restore the keys from a backup", k.store.where(), actives)
	}
	for _, me := range m.Endorsements {
		pub, err := token.ParsePublicKey(me.PublicKey)
		sig, serr := hex.DecodeString(me.Signature)
		if err != nil || serr != nil {
			return nil, fmt.Errorf("%w: key manifest: the endorsement of key %d is unreadable; restore the keys folder from a backup", ErrCorrupt, me.KeyID)
		}
		st.endorsements = append(st.endorsements, token.Endorsement{Key: token.PublicKey{ID: me.KeyID, Key: pub}, SignerID: me.SignerKeyID, Signature: sig})
	}
	st.set = token.NewKeySet(pubs...)
	return st, nil
}

// upgradeManifest adds the checksums a manifest written before them lacks.
func (k *keyring) upgradeManifest(m *manifest, ver uint64) (uint64, error) {
	for i := range m.Keys {
		mk := &m.Keys[i]
		if mk.SHA256 != "" {
			continue
		}
		b, err := k.store.readKey(filepath.Base(mk.File))
		if err != nil {
			continue // load reports it
		}
		sum := sha256.Sum256(b)
		mk.SHA256 = hex.EncodeToString(sum[:])
	}
	return k.store.commit("", nil, mustJSON(m.sealed()), ver)
}

// removeStrays deletes key files that no manifest entry names (a rotation
// that crashed before its commit point, or keys that were retired).
func (k *keyring) removeStrays(m manifest) {
	names := make(map[string]bool, len(m.Keys))
	for _, mk := range m.Keys {
		names[filepath.Base(mk.File)] = true
	}
	k.store.removeStrays(names)
}

// keyPEM encodes a key and returns its SHA-256, hex.
func keyPEM(key token.SigningKey) ([]byte, string, error) {
	pemBytes, err := token.MarshalPrivateKeyPEM(key.Private)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(pemBytes)
	return pemBytes, hex.EncodeToString(sum[:]), nil
}

// rotate makes a new key active. The previous active key becomes retiring
// until now + KeyRetention; retiring keys past their NotAfter are dropped.
func (k *keyring) rotate(now time.Time) (old, cur KeyInfo, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	m, ver, err := k.readManifest()
	if err != nil {
		return old, cur, err
	}
	if ver != k.version {
		// Another replica rotated since this one loaded: rotate from
		// the ring as it is now.
		st, err := k.load(m, now)
		if err != nil {
			return old, cur, err
		}
		k.state.Store(st)
		k.version = ver
	}
	var key token.SigningKey
	for range 8 {
		if key, err = token.GenerateKey(); err != nil {
			return old, cur, err
		}
		if !slices.ContainsFunc(m.Keys, func(mk manifestKey) bool { return mk.ID == key.ID }) {
			break
		}
	}
	if slices.ContainsFunc(m.Keys, func(mk manifestKey) bool { return mk.ID == key.ID }) {
		return old, cur, errors.New("rotate: could not draw a key with a fresh key ID; retry")
	}
	pem, sum, err := keyPEM(key)
	if err != nil {
		return old, cur, err
	}
	// The key active until now endorses its successor: a verifier that
	// trusts it (or any key before it) can trust the new one.
	// And the new key endorses the one it replaces, which keeps verifying
	// its tokens until they expire: a verifier pinned to the new key
	// trusts it too.
	was := k.current().active
	fwd, back := token.Endorse(was, key.Public()), token.Endorse(key, was.Public())
	next := manifest{Version: 1, Keys: []manifestKey{{ID: key.ID, File: keyFileName(key.ID), Status: KeyActive, CreatedAt: now.UTC(), SHA256: sum}},
		Endorsements: append(slices.Clone(m.Endorsements), manifestEndorsementOf(fwd), manifestEndorsementOf(back))}
	for _, mk := range m.Keys {
		switch {
		case mk.Status == KeyActive:
			mk.Status = KeyRetiring
			mk.NotAfter = now.Add(KeyRetention).UTC().Truncate(time.Second).Add(time.Second)
			next.Keys = append(next.Keys, mk)
		case !mk.NotAfter.IsZero() && now.After(mk.NotAfter):
			// retired: dropped
		default:
			next.Keys = append(next.Keys, mk)
		}
	}
	// Commit point: the key, then the manifest that names it.
	newVer, err := k.store.commit(keyFileName(key.ID), pem, mustJSON(next.sealed()), ver)
	if err != nil {
		return old, cur, err
	}
	st, err := k.load(next, now)
	if err != nil {
		return old, cur, err
	}
	prev := k.state.Swap(st)
	k.version = newVer
	k.removeStrays(next)
	old = prev.infos[0]
	for _, in := range st.infos {
		if in.ID == old.ID {
			old = in
		}
	}
	return old, st.infos[0], nil
}

func (k *keyring) current() *keyState { return k.state.Load() }

// Rotate makes a new root key active: new tokens are signed with it, and the
// previous key keeps verifying its tokens until they have all expired
// (rotation time + token.MaxTTL), then it is dropped. Admin only.
func (a *Authority) Rotate(ctx context.Context, p Principal) (KeyInfo, error) {
	if err := requireAdmin(p, "rotate keys"); err != nil {
		return KeyInfo{}, err
	}
	if a.closing.Load() {
		return KeyInfo{}, ErrClosed
	}
	old, cur, err := a.keys.rotate(a.now())
	if err != nil {
		a.log.Error().Err(err).Msg("key rotation failed")
		return KeyInfo{}, fmt.Errorf("%w: key rotation failed: %w", ErrUnavailable, err)
	}
	a.audit(ctx, "key_rotation").Str("by", p.String()).Uint32("key_id", cur.ID).
		Uint32("previous_key_id", old.ID).Time("previous_not_after", old.NotAfter).Msg("root key rotated")
	return cur, nil
}

// Keys returns the public keys verifiers should trust at now: the active
// key first, then retiring keys whose NotAfter has not passed.
func (a *Authority) Keys() []KeyInfo {
	now := a.now()
	st := a.keys.current()
	out := make([]KeyInfo, 0, len(st.infos))
	for _, in := range st.infos {
		if in.Status == KeyRetiring && now.After(in.NotAfter) {
			continue
		}
		in.PublicKey = slices.Clone(in.PublicKey)
		out = append(out, in)
	}
	return out
}

// Endorsements returns every key endorsement the authority made, oldest
// first: at each rotation, the key active until then signs the new one, and
// the new one signs it.
// GET /v1/keys publishes them so that a verifier pinned to any earlier key
// can reach the current one.
func (a *Authority) Endorsements() []token.Endorsement {
	return slices.Clone(a.keys.current().endorsements)
}

// KeySet returns the key set the authority verifies tokens with (active and
// retiring keys). It is replaced, not modified, on rotation.
func (a *Authority) KeySet() *token.KeySet { return a.keys.current().set }

// ensurePrivateDir creates dir with mode 0700, or tightens an existing one.
func ensurePrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("restrict %s to mode 0700: %w", dir, err)
		}
	}
	return nil
}

// writeFileAtomic writes data to path so that path holds either its old
// content or all of data, even across a crash: a temporary file in the same
// folder, fsync, rename over path, fsync of the folder.
func writeFileAtomic(path string, data []byte, mode os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

func mustJSON(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err) // only fixed, marshalable types are passed
	}
	return append(b, '\n')
}
