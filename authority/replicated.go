package authority

import (
	"context"
	"errors"
	"time"
)

// DefaultSyncInterval is how often an authority replica reads what the
// other replicas wrote (Config.SyncInterval).
const DefaultSyncInterval = 100 * time.Millisecond

// replicated is implemented by stores that several authority processes
// share at once (a KVStore on NATS JetStream made with
// KVStoreOptions.Replicated). An authority on such a store keeps its keys
// in the store too (the kv namespace "keys") instead of DataDir/keys, and
// runs a sync loop: every Config.SyncInterval it appends to its in-memory
// revocation log what other replicas appended (so every replica's feed
// serves the same sequence numbers, and a revocation through any replica
// reaches every verifier), and every second it reloads the key ring
// (rotations), the registered clients and the admin token hash.
type replicated interface {
	Replicated() bool
}

func isReplicated(s Store) bool {
	r, ok := s.(replicated)
	return ok && r.Replicated()
}

// syncLoop runs while a replicated authority is open.
func (a *Authority) syncLoop() {
	defer a.writerWG.Done()
	t := time.NewTicker(a.cfg.SyncInterval)
	defer t.Stop()
	every := max(int(time.Second/a.cfg.SyncInterval), 1)
	for n := 1; ; n++ {
		select {
		case <-a.janitor:
			return
		case <-t.C:
		}
		a.resync()
		if n%every == 0 {
			a.syncShared()
		}
	}
}

// syncShared reloads what other replicas may have changed outside the
// revocation log.
func (a *Authority) syncShared() {
	now := a.now()
	if changed, err := a.keys.refresh(now); err != nil {
		a.log.Error().Err(err).Msg("reloading the shared key ring failed")
	} else if changed {
		a.log.Info().Uint32("key_id", a.keys.current().active.ID).Msg("another replica rotated the root key; reloaded the key ring")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if clients, err := a.store.Clients(ctx); err != nil {
		a.log.Error().Err(err).Msg("reloading the registered clients failed")
	} else {
		m := make(map[string]*ClientRecord, len(clients))
		for i := range clients {
			m[clients[i].ID] = &clients[i]
		}
		a.clientsMu.Lock()
		a.clients = m
		a.clientsMu.Unlock()
	}
	if h, err := a.store.Meta(ctx, metaAdminHash); err == nil {
		a.clientsMu.Lock()
		a.adminHash = h
		a.clientsMu.Unlock()
	} else if !errors.Is(err, ErrNotFound) {
		a.log.Error().Err(err).Msg("reloading the admin token hash failed")
	}
}
