package follow_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/follow"
	"github.com/mandate-dev/mandate/verifier/revocation"
)

// exampleAuthority stands in for `mandate authority serve`: it publishes
// key and a log whose only entry (seq 1) revokes revoked.
func exampleAuthority(key token.SigningKey, revoked []byte, exp time.Time) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/keys", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]any{{
			"key_id": key.ID, "algorithm": "ed25519", "status": "active",
			"public_key": token.FormatPublicKey(key.Public().Key),
		}}})
	})
	mux.HandleFunc("GET /v1/revocations", func(w http.ResponseWriter, r *http.Request) {
		after, _ := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
		// The log is hash-chained and every page is signed with the
		// root key: followers refuse anything else.
		h1 := token.ChainHash(token.GenesisHash(), 1, revoked, exp)
		nonce, _ := hex.DecodeString(r.URL.Query().Get("nonce")) // the follower's, signed with the page
		page := token.FeedPage{After: after, Next: 1, HeadSeq: 1, HeadHash: h1, Nonce: nonce}
		entries := []map[string]any{}
		if after < 1 {
			entries = append(entries, map[string]any{
				"seq": 1, "revocation_id": hex.EncodeToString(revoked), "expires_at": exp.Format(time.RFC3339),
				"hash_v1": hex.EncodeToString(h1), "prev_hash_v1": hex.EncodeToString(token.GenesisHash()),
			})
			page.Entries = []token.FeedPageEntry{{Seq: 1, Hash: h1}}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"entries": entries, "next": 1, "chain_v1": map[string]any{
			"head_seq": 1, "head_hash": hex.EncodeToString(h1), "key_id": key.ID, "signature": hex.EncodeToString(page.Sign(key)),
		}})
	})
	return httptest.NewServer(mux)
}

// A command-line check: keys and revocations once with SyncOnce, then
// decide.
func ExampleFollower_SyncOnce() {
	key, _ := token.GenerateKey()
	req := token.MintRequest{
		Subject: token.Subject{Agent: "support-bot", User: "alice@acme.test", Org: "acme"},
		Rights:  []token.Right{{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/"}},
		TTL:     time.Hour,
	}
	kept, _ := token.Mint(key, req)
	revoked, _ := token.Mint(key, req)
	srv := exampleAuthority(key, revoked.RevocationIDs[0], revoked.ExpiresAt)
	defer srv.Close()

	store := revocation.NewMemory()
	keys := token.NewKeySet()
	// TrustAnchors: the authority's public key, configured out of band
	// (`mandate authority serve` prints it).
	f, err := follow.New(follow.Config{Authority: srv.URL, Store: store, Keys: keys, TrustAnchors: []token.PublicKey{key.Public()}})
	if err != nil {
		fmt.Println(err)
		return
	}
	v, _ := verifier.New(verifier.Config{Keys: keys, Revocations: store, Fresh: f.Fresh})

	if err := f.SyncOnce(context.Background()); err != nil {
		fmt.Println("sync:", err)
		return
	}
	call := verifier.Request{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/42"}
	for _, tok := range []string{kept.Token, revoked.Token} {
		d := v.Authorize(context.Background(), tok, call)
		fmt.Println(d.Allowed, errors.Is(d.Err, verifier.ErrRevoked))
	}
	fmt.Println("at seq", f.Status().Seq)
	// Output:
	// true false
	// false true
	// at seq 1
}

// A tool server: Run follows the authority in the background; WaitSeq(ctx,
// 0) tells when the verifier can decide.
func ExampleFollower_Run() {
	key, _ := token.GenerateKey()
	srv := exampleAuthority(key, make([]byte, 64), time.Now().Add(time.Hour))
	defer srv.Close()

	store := revocation.NewMemory()
	keys := token.NewKeySet()
	// TrustAnchors: the authority's public key, configured out of band
	// (`mandate authority serve` prints it).
	f, err := follow.New(follow.Config{Authority: srv.URL, Store: store, Keys: keys, TrustAnchors: []token.PublicKey{key.Public()}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("before:", errors.Is(f.Fresh(), follow.ErrNotSynced))

	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := f.WaitSeq(wctx, 0); err != nil {
		fmt.Println(err)
	}
	fmt.Println("ready:", f.Fresh() == nil, store.Len())

	stop()
	fmt.Println("stopped:", <-done)
	// Output:
	// before: true
	// ready: true 1
	// stopped: <nil>
}
