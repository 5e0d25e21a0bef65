package follow_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier/follow"
	"github.com/mandate-dev/mandate/verifier/revocation"
	"github.com/mandate-dev/mandate/verifier/revocation/revocationtest"
)

// tamper makes a answer through a man in the middle: every
// /v1/revocations answer is decoded, changed by alter, and re-encoded; the
// keys pass unchanged unless keys is set.
func tamper(a *fakeAuthority, alter func(body map[string]any), keys func(body map[string]any)) {
	a.set(func(a *fakeAuthority) {
		mux := a.mux
		a.override = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, r)
			var body map[string]any
			if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &body) != nil {
				w.WriteHeader(rec.Code)
				_, _ = w.Write(rec.Body.Bytes())
				return
			}
			switch {
			case r.URL.Path == "/v1/revocations" && alter != nil:
				alter(body)
			case r.URL.Path == "/v1/keys" && keys != nil:
				keys(body)
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(body)
		})
	})
}

func entriesOf(body map[string]any) []any {
	e, _ := body["entries"].([]any)
	return e
}

// An entry altered, dropped or added between the authority and the
// follower is refused: nothing of the page is applied and the follower stays
// not synced (decisions denied), where it used to apply the altered page.
func TestTamperedFeedRefused(t *testing.T) {
	attacker, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	other := hex.EncodeToString(revocationtest.ID(999))
	tests := []struct {
		name  string
		alter func(body map[string]any)
	}{
		{"altered ID", func(b map[string]any) { entriesOf(b)[1].(map[string]any)["revocation_id"] = other }},
		{"altered expiry", func(b map[string]any) {
			entriesOf(b)[1].(map[string]any)["expires_at"] = time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		}},
		{"altered ID with its hash recomputed", func(b map[string]any) {
			e := entriesOf(b)[1].(map[string]any)
			prev, _ := hex.DecodeString(entriesOf(b)[0].(map[string]any)["hash_v1"].(string))
			e["revocation_id"] = other
			e["hash_v1"] = hex.EncodeToString(token.ChainHash(prev, 2, revocationtest.ID(999), farFuture.UTC().Truncate(time.Second)))
		}},
		{"entry dropped", func(b map[string]any) {
			es := entriesOf(b)
			b["entries"] = []any{es[0], es[2]}
		}},
		{"entry dropped, next entry given its previous hash", func(b map[string]any) {
			es := entriesOf(b)
			es[2].(map[string]any)["prev_hash_v1"] = es[1].(map[string]any)["hash_v1"]
			b["entries"] = []any{es[0], es[2]}
		}},
		{"last entry dropped", func(b map[string]any) {
			es := entriesOf(b)
			b["entries"] = es[:2]
			b["next"] = 2
		}},
		{"signature replaced", func(b map[string]any) {
			c := b["chain_v1"].(map[string]any)
			c["signature"] = strings.Repeat("00", 64)
		}},
		{"page re-signed by another key", func(b map[string]any) {
			es := entriesOf(b)
			b["entries"] = es[:2]
			b["next"] = 2
			h, _ := hex.DecodeString(es[1].(map[string]any)["hash_v1"].(string))
			h1, _ := hex.DecodeString(es[0].(map[string]any)["hash_v1"].(string))
			p := token.FeedPage{After: 0, Next: 2, HeadSeq: 2, HeadHash: h, Entries: []token.FeedPageEntry{{Seq: 1, Hash: h1}, {Seq: 2, Hash: h}}}
			b["chain_v1"] = map[string]any{"head_seq": 2, "head_hash": hex.EncodeToString(h), "key_id": attacker.ID, "signature": hex.EncodeToString(p.Sign(attacker))}
		}},
		{"unsigned (an old authority, or a stripped answer)", func(b map[string]any) { delete(b, "chain_v1") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newFakeAuthority(t)
			a.addN(1, 3, farFuture)
			tamper(a, tt.alter, nil)
			cfg := testConfig(a)
			f := newFollower(t, cfg)
			err := f.SyncOnce(context.Background())
			if err == nil {
				t.Fatalf("SyncOnce accepted a tampered feed: store holds %d IDs, ID 999 revoked: %v, ID 2 revoked: %v",
					cfg.Store.Len(), cfg.Store.Revoked(ids(999)) == 0, cfg.Store.Revoked(ids(2)) == 0)
			}
			if !errors.Is(err, follow.ErrTampered) || !errors.Is(err, follow.ErrBadResponse) {
				t.Errorf("SyncOnce = %v, want ErrTampered (an ErrBadResponse)", err)
			}
			if cfg.Store.Len() != 0 || cfg.Store.LastSeq() != 0 {
				t.Errorf("the store holds %d IDs at seq %d after a refused page, want nothing", cfg.Store.Len(), cfg.Store.LastSeq())
			}
			if !errors.Is(f.Fresh(), follow.ErrNotSynced) {
				t.Errorf("Fresh = %v, want ErrNotSynced: decisions must be denied", f.Fresh())
			}
		})
	}
}

// A follower that holds the chain up to its position refuses a log that
// does not continue it: an authority whose log was replaced by another with
// the same sequence numbers, or a man in the middle replaying one.
func TestRewrittenLogRefused(t *testing.T) {
	a := newFakeAuthority(t)
	a.addN(1, 3, farFuture)
	cfg := testConfig(a)
	f := newFollower(t, cfg)
	mustSync(t, f)
	if h := cfg.Store.LastHash(); len(h) != token.ChainHashSize {
		t.Fatalf("Store.LastHash after a sync = %x, want the chain hash of seq 3", h)
	}
	// Same key, same sequence numbers, other entries.
	a.resetLog()
	a.addN(100, 5, farFuture)
	err := f.SyncOnce(context.Background())
	if !errors.Is(err, follow.ErrTampered) || !strings.Contains(err.Error(), "does not continue the chain") {
		t.Fatalf("SyncOnce on a rewritten log = %v, want ErrTampered saying the chain does not continue", err)
	}
	if cfg.Store.Revoked(ids(103)) != -1 || cfg.Store.LastSeq() != 3 {
		t.Error("entries of the rewritten log were applied")
	}

	// A follower restarted on the same store resumes from the persisted
	// hash, and refuses too.
	f2 := newFollower(t, cfg)
	if err := f2.SyncOnce(context.Background()); !errors.Is(err, follow.ErrTampered) {
		t.Fatalf("SyncOnce of a restarted follower = %v, want ErrTampered", err)
	}
}

// A follower that starts after the first entries expired (the authority
// no longer holds them) checks what it gets from the first entry's
// previous hash, which the signed page authenticates.
func TestMidChainStart(t *testing.T) {
	a := newFakeAuthority(t)
	a.addN(1, 6, farFuture)
	a.set(func(a *fakeAuthority) { a.log = append(a.log[2:3], a.log[4:]...) }) // 1, 2 and 4 expired: 3, 5, 6 left
	cfg := testConfig(a)
	f := newFollower(t, cfg)
	mustSync(t, f)
	if cfg.Store.LastSeq() != 6 || cfg.Store.Len() != 3 {
		t.Fatalf("LastSeq %d, Len %d; want 6 and 3", cfg.Store.LastSeq(), cfg.Store.Len())
	}
	a.addN(7, 1, farFuture)
	mustSync(t, f)
	if cfg.Store.Revoked(ids(7)) != 0 {
		t.Error("entry 7 not applied")
	}
}

// /v1/keys answered by a man in the middle cannot install a key: not a key
// it publishes alone, nor one it endorses with its own key. A real rotation,
// endorsed by the pinned key, is accepted, and so is a second one (a chain
// of endorsements).
func TestKeysFromTheNetworkNeedAnEndorsement(t *testing.T) {
	a := newFakeAuthority(t)
	pinned := a.key
	attacker, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(a)
	cfg.Keys = token.NewKeySet()
	f := newFollower(t, cfg)
	if err := f.RefreshKeys(context.Background()); err != nil {
		t.Fatal(err)
	}
	keyIDs := func() []uint32 {
		var out []uint32
		for _, k := range cfg.Keys.Keys() {
			out = append(out, k.ID)
		}
		return out
	}

	for _, tt := range []struct {
		name string
		keys func(body map[string]any)
	}{
		{"attacker key only", func(b map[string]any) {
			b["keys"] = []wireKey{keyOf(attacker, "active")}
		}},
		{"attacker key endorsed by itself", func(b map[string]any) {
			e := token.Endorse(attacker, attacker.Public())
			b["keys"] = []wireKey{keyOf(attacker, "active")}
			b["endorsements_v1"] = []map[string]any{{"key_id": attacker.ID, "public_key": token.FormatPublicKey(attacker.Public().Key), "signer_key_id": e.SignerID, "signature": hex.EncodeToString(e.Signature)}}
		}},
		{"attacker key with a forged endorsement by the pinned key", func(b map[string]any) {
			e := token.Endorse(attacker, attacker.Public())
			b["keys"] = []wireKey{keyOf(attacker, "active"), keyOf(pinned, "retiring")}
			b["endorsements_v1"] = []map[string]any{{"key_id": attacker.ID, "public_key": token.FormatPublicKey(attacker.Public().Key), "signer_key_id": pinned.ID, "signature": hex.EncodeToString(e.Signature)}}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tamper(a, nil, tt.keys)
			err := f.RefreshKeys(context.Background())
			got := keyIDs()
			if len(got) != 1 || got[0] != pinned.ID {
				t.Fatalf("keys after a man in the middle answered /v1/keys: %v, want only the pinned key %d", got, pinned.ID)
			}
			if tt.name == "attacker key only" || tt.name == "attacker key endorsed by itself" {
				if !errors.Is(err, follow.ErrTampered) {
					t.Errorf("RefreshKeys = %v, want ErrTampered", err)
				}
			}
		})
	}
	tamper(a, nil, nil)
	a.set(func(a *fakeAuthority) { a.override = nil })

	// A real rotation: the new key is endorsed by the pinned one.
	k2 := a.rotate(t)
	if err := f.RefreshKeys(context.Background()); err != nil {
		t.Fatalf("RefreshKeys after a rotation: %v", err)
	}
	if got := keyIDs(); len(got) != 2 || got[0] != k2.ID || got[1] != pinned.ID {
		t.Fatalf("keys after a rotation = %v, want [%d %d]", got, k2.ID, pinned.ID)
	}
	// And another, after which the pinned key is gone from /v1/keys.
	k3 := a.rotate(t)
	a.setKeys(keyOf(k3, "active"))
	if err := f.RefreshKeys(context.Background()); err != nil {
		t.Fatalf("RefreshKeys after a second rotation: %v", err)
	}
	if got := keyIDs(); len(got) != 1 || got[0] != k3.ID {
		t.Fatalf("keys after two rotations = %v, want [%d]", got, k3.ID)
	}
	// The feed, now signed by k3, is accepted.
	a.addN(1, 1, farFuture)
	mustSync(t, f)
	if cfg.Store.Revoked(ids(1)) != 0 {
		t.Error("the feed signed by the rotated key was not applied")
	}
}

// A feed signed by a key rotated in since the last key refresh is accepted
// at once: the follower refreshes its keys when it meets an unknown signer.
func TestFeedAfterRotationRefreshesKeys(t *testing.T) {
	a := newFakeAuthority(t)
	cfg := testConfig(a)
	cfg.KeyRefresh = time.Hour
	f := newFollower(t, cfg)
	mustSync(t, f)
	a.rotate(t)
	a.addN(1, 1, farFuture)
	mustSync(t, f)
	if cfg.Store.Revoked(ids(1)) != 0 {
		t.Error("the entry signed by the new key was not applied")
	}
}

// Without a pin, New refuses unless the insecure switch is named.
func TestTrustAnchorRequired(t *testing.T) {
	a := newFakeAuthority(t)
	cfg := follow.Config{Authority: a.URL(), Store: revocation.NewMemory()}
	if _, err := follow.New(cfg); err == nil || !strings.Contains(err.Error(), "InsecureNoTrustAnchor") {
		t.Fatalf("New without a trust anchor = %v, want an error naming the fix", err)
	}
	cfg.InsecureNoTrustAnchor = true
	f := newFollower(t, cfg)
	a.addN(1, 1, farFuture)
	mustSync(t, f) // trusts the published key, still checks the chain and the signature
	tamper(a, func(b map[string]any) { entriesOf(b)[0].(map[string]any)["revocation_id"] = "ab" }, nil)
	a.addN(2, 1, farFuture)
	if err := f.SyncOnce(context.Background()); !errors.Is(err, follow.ErrTampered) {
		t.Errorf("an insecure follower accepted an altered entry: %v", err)
	}
}

// A follower that was in sync and then only gets tampered answers applies
// none of them and goes stale at its bound: the verifier denies (fail
// closed) rather than decide on an altered list.
func TestTamperedFeedGoesStale(t *testing.T) {
	a := newFakeAuthority(t)
	a.addN(1, 2, farFuture)
	clk := newFakeClock()
	cfg := testConfig(a)
	cfg.Now = clk.Now
	f := newFollower(t, cfg)
	mustSync(t, f)
	tamper(a, func(b map[string]any) {
		if es := entriesOf(b); len(es) > 0 {
			es[0].(map[string]any)["revocation_id"] = hex.EncodeToString(revocationtest.ID(999))
		}
	}, nil)
	a.addN(3, 1, farFuture)
	clk.Advance(cfg.MaxStaleness / 2)
	if err := f.SyncOnce(context.Background()); !errors.Is(err, follow.ErrTampered) {
		t.Fatalf("SyncOnce = %v, want ErrTampered", err)
	}
	if cfg.Store.Revoked(ids(999)) != -1 || cfg.Store.LastSeq() != 2 {
		t.Fatal("the tampered entry was applied")
	}
	clk.Advance(cfg.MaxStaleness)
	if err := f.Fresh(); !errors.Is(err, follow.ErrStale) || !strings.Contains(err.Error(), "integrity") {
		t.Errorf("Fresh = %v, want ErrStale naming the integrity failure", err)
	}
}

// A man in the middle that replays an earlier, genuinely signed answer
// (withholding a new revocation) does not keep the follower fresh: every
// answer must be signed over the request's nonce.
func TestReplayedAnswerRefused(t *testing.T) {
	a := newFakeAuthority(t)
	a.addN(1, 2, farFuture)
	clk := newFakeClock()
	cfg := testConfig(a)
	cfg.Now = clk.Now
	f := newFollower(t, cfg)
	mustSync(t, f) // at seq 2

	// Record a genuine answer for after=2 (nothing new), then replay it.
	var recorded []byte
	a.set(func(a *fakeAuthority) {
		mux := a.mux
		a.override = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/v1/revocations" {
				mux.ServeHTTP(w, r)
				return
			}
			if recorded == nil {
				rec := httptest.NewRecorder()
				mux.ServeHTTP(rec, r)
				recorded = rec.Body.Bytes()
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(recorded)
		})
	})
	mustSync(t, f)          // the recording request itself is genuine
	a.addN(3, 1, farFuture) // withheld from now on
	clk.Advance(cfg.MaxStaleness / 2)
	if err := f.SyncOnce(context.Background()); !errors.Is(err, follow.ErrTampered) {
		t.Fatalf("SyncOnce on a replayed answer = %v, want ErrTampered", err)
	}
	clk.Advance(cfg.MaxStaleness)
	if !errors.Is(f.Fresh(), follow.ErrStale) {
		t.Errorf("Fresh = %v after only replayed answers, want ErrStale (fail closed)", f.Fresh())
	}
}
