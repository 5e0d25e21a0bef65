package authority

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mandate-dev/mandate/authority/kv"
)

// fileKeys keeps a key ring in a private folder: one PEM PKCS#8 file per
// key (mode 0600) and the manifest keys.json. Every file is written
// atomically (temporary file, fsync, rename, fsync of the folder), the
// manifest last: it is the commit point of a rotation, so a crash leaves
// either the old or the new ring. One authority process owns the folder,
// so versions are not needed (always 0).
type fileKeys struct{ dir string }

func (f fileKeys) where() string { return f.dir }

func (f fileKeys) readManifest() ([]byte, uint64, error) {
	b, err := os.ReadFile(filepath.Join(f.dir, manifestName))
	return b, 0, err
}

func (f fileKeys) readKey(name string) ([]byte, error) {
	path := filepath.Join(f.dir, name)
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%w; restore the key file from a backup", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key file %s has mode %o: private keys must be readable by their owner only; run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	return os.ReadFile(path)
}

func (f fileKeys) commit(name string, pem []byte, manifest []byte, _ uint64) (uint64, error) {
	if name != "" {
		if err := writeFileAtomic(filepath.Join(f.dir, name), pem, 0o600); err != nil {
			return 0, err
		}
	}
	return 0, writeFileAtomic(filepath.Join(f.dir, manifestName), manifest, 0o600)
}

func (f fileKeys) removeStrays(names map[string]bool) {
	ents, err := os.ReadDir(f.dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		n := e.Name()
		if (strings.HasPrefix(n, "key-") && strings.HasSuffix(n, ".pem") && !names[n]) || strings.HasPrefix(n, ".tmp-") {
			_ = os.Remove(filepath.Join(f.dir, n))
		}
	}
}

// kvKeys keeps a key ring in a kv namespace that several authority
// replicas share: "manifest" and "key/NAME". A rotation writes the new key
// and the manifest in one atomic batch, conditioned on the manifest's
// revision, so two replicas rotating at once cannot both win. The private
// keys are as safe as the engine: run NATS with TLS, authentication and
// encryption at rest.
type kvKeys struct{ ns kv.KV }

const kvKeysTimeout = 10 * time.Second

func (k kvKeys) where() string { return "the shared store (kv namespace keys)" }

func (k kvKeys) readManifest() ([]byte, uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), kvKeysTimeout)
	defer cancel()
	e, err := k.ns.Get(ctx, "manifest")
	if errors.Is(err, kv.ErrNotFound) {
		return nil, 0, fs.ErrNotExist
	}
	if err != nil {
		return nil, 0, storeErr(err)
	}
	return e.Value, e.Rev, nil
}

func (k kvKeys) readKey(name string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), kvKeysTimeout)
	defer cancel()
	e, err := k.ns.Get(ctx, "key/"+name)
	if err != nil {
		return nil, storeErr(err)
	}
	return e.Value, nil
}

func (k kvKeys) commit(name string, pem []byte, manifest []byte, prev uint64) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), kvKeysTimeout)
	defer cancel()
	var ops []kv.Op
	if name != "" {
		ops = append(ops, kv.Create("key/"+name, pem, time.Time{}))
	}
	if prev == 0 {
		ops = append(ops, kv.Create("manifest", manifest, time.Time{}))
	} else {
		ops = append(ops, kv.Update("manifest", manifest, prev, time.Time{}))
	}
	revs, err := k.ns.Apply(ctx, ops...)
	if errors.Is(err, kv.ErrConflict) {
		return 0, fmt.Errorf("%w (%w)", errKeysRaced, err)
	}
	if err != nil {
		return 0, storeErr(err)
	}
	return revs[len(revs)-1], nil
}

// removeStrays does nothing: a ring in kv has no strays (a rotation writes
// its key and manifest in one atomic batch), and deleting what this
// replica's manifest does not name could delete the key another replica
// has just rotated to. Retired keys stay (one small entry per rotation).
func (k kvKeys) removeStrays(map[string]bool) {}
