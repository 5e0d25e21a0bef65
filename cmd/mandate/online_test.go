package main

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/token"
)

const fakeSecret = "client-secret-do-not-print"

// fakeAuthority implements the documented JSON of POST /v1/tokens and
// POST /v1/revocations, for tests of the CLI's side of the protocol.
type fakeAuthority struct {
	*httptest.Server
	key token.SigningKey

	mu       sync.Mutex
	mints    []mintBody
	revokes  []map[string]string
	bearers  []string
	sessions map[string][]string // session → authority block revocation IDs (hex)
	log      []string            // revoked IDs (hex); seq is index+1
}

func newFakeAuthority(t *testing.T) *fakeAuthority {
	k, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAuthority{key: k, sessions: map[string][]string{}}
	mux := http.NewServeMux()
	fail := func(w http.ResponseWriter, status int, code, desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	mux.HandleFunc("POST /v1/tokens", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.bearers = append(f.bearers, r.Header.Get("Authorization"))
		f.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+fakeSecret {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			fail(w, http.StatusUnauthorized, "invalid_token", "unknown client credential")
			return
		}
		var body mintBody
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			fail(w, http.StatusBadRequest, "invalid_request", err.Error())
			return
		}
		f.mu.Lock()
		f.mints = append(f.mints, body)
		f.mu.Unlock()
		if body.Agent == "greedy" {
			fail(w, http.StatusForbidden, "access_denied", "right crm/*/write is beyond the client's ceiling")
			return
		}
		m, err := token.Mint(f.key, token.MintRequest{
			Subject: token.Subject{Agent: body.Agent, User: body.User, Org: body.Org, Session: body.Session},
			Rights:  body.Rights, TTL: time.Duration(body.TTLSeconds) * time.Second,
		})
		if err != nil {
			fail(w, http.StatusBadRequest, "invalid_request", err.Error())
			return
		}
		ids := []string{}
		for _, id := range m.RevocationIDs {
			ids = append(ids, hex.EncodeToString(id))
		}
		f.mu.Lock()
		f.sessions[m.Subject.Session] = append(f.sessions[m.Subject.Session], ids[0])
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"token": m.Token, "session": m.Subject.Session,
			"revocation_ids": ids, "expires_at": m.ExpiresAt, "key_id": m.KeyID})
	})
	mux.HandleFunc("POST /v1/revocations", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			fail(w, http.StatusBadRequest, "invalid_request", err.Error())
			return
		}
		f.mu.Lock()
		f.revokes = append(f.revokes, body)
		f.bearers = append(f.bearers, r.Header.Get("Authorization"))
		f.mu.Unlock()
		if _, ok := body["token"]; !ok && r.Header.Get("Authorization") != "Bearer "+fakeSecret {
			fail(w, http.StatusUnauthorized, "invalid_token", "revoking by session or revocation ID needs the admin or the minting client")
			return
		}
		var ids []string
		switch {
		case body["token"] != "":
			u, err := token.ParseString(body["token"])
			if err != nil {
				fail(w, http.StatusBadRequest, "invalid_token", err.Error())
				return
			}
			all := u.RevocationIDs()
			ids = []string{hex.EncodeToString(all[len(all)-1])}
		case body["revocation_id"] != "":
			ids = []string{body["revocation_id"]}
		default:
			f.mu.Lock()
			ids = f.sessions[body["session"]]
			f.mu.Unlock()
		}
		f.mu.Lock()
		f.log = append(f.log, ids...)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"revoked": len(ids), "revocation_ids": ids})
	})
	mux.HandleFunc("GET /v1/keys", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]any{{
			"key_id": f.key.ID, "algorithm": "ed25519", "public_key": token.FormatPublicKey(f.key.Public().Key), "status": "active",
		}}})
	})
	mux.HandleFunc("GET /v1/revocations", func(w http.ResponseWriter, r *http.Request) {
		after, err := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
		if err != nil {
			fail(w, http.StatusBadRequest, "invalid_request", "after")
			return
		}
		// A hash-chained log with signed pages, as the authority serves
		// it (the entries never expire).
		f.mu.Lock()
		entries := []map[string]any{}
		next := after
		nonce, _ := hex.DecodeString(r.URL.Query().Get("nonce"))
		page := token.FeedPage{After: after, Nonce: nonce}
		head := token.GenesisHash()
		for i, idHex := range f.log {
			seq := uint64(i + 1)
			id, _ := hex.DecodeString(idHex)
			prev := head
			head = token.ChainHash(prev, seq, id, time.Time{})
			if seq > after {
				entries = append(entries, map[string]any{"seq": seq, "revocation_id": idHex,
					"hash_v1": hex.EncodeToString(head), "prev_hash_v1": hex.EncodeToString(prev)})
				page.Entries = append(page.Entries, token.FeedPageEntry{Seq: seq, Hash: head})
				next = seq
			}
		}
		page.Next, page.HeadSeq, page.HeadHash = next, uint64(len(f.log)), head
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"entries": entries, "next": next, "chain_v1": map[string]any{
			"head_seq": page.HeadSeq, "head_hash": hex.EncodeToString(head), "key_id": f.key.ID, "signature": hex.EncodeToString(page.Sign(f.key))}})
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func TestMintOnline(t *testing.T) {
	f := newFakeAuthority(t)
	c := newCLI(t)
	args := []string{"mint", "--authority", f.URL + "/", "--agent", "orchestrator", "--user", "alice@acme.test",
		"--org", "acme", "--right", "service=github,tool=*,op=read,resource=repo:acme/", "--ttl", "10m"}

	c.env[envToken] = fakeSecret
	r := c.run("", append(args, "--verbose")...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	tok := oneTokenLine(t, r.stdout)
	u, err := token.ParseString(tok)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Verify(token.NewKeySet(f.key.Public()), time.Now()); err != nil {
		t.Fatalf("the printed token is not the authority's: %v", err)
	}
	if !strings.Contains(r.stderr, "session: s_") || !strings.Contains(r.stderr, "revocation ID of block 0: ") || strings.Contains(r.stderr, tok) {
		t.Fatalf("--verbose stderr = %q", r.stderr)
	}
	want := mintBody{Agent: "orchestrator", User: "alice@acme.test", Org: "acme", TTLSeconds: 600,
		Rights: []token.Right{{Service: "github", Tool: "*", Operation: "read", Resource: "repo:acme/"}}}
	f.mu.Lock()
	got := f.mints[0]
	f.mu.Unlock()
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if string(gb) != string(wb) {
		t.Fatalf("request body = %s, want %s", gb, wb)
	}

	// --auth-token wins over the environment.
	c.env[envToken] = "wrong"
	c.ok("", append(args, "--auth-token", fakeSecret)...)
	r = c.run("", args...)
	wantFail(t, r, exitFailure, "authority answered 401 invalid_token to POST /v1/tokens: unknown client credential; pass a valid --auth-token or set MANDATE_TOKEN")

	c.env[envToken] = fakeSecret
	r = c.run("", "mint", "--authority", f.URL, "--agent", "greedy", "--right", "service=crm,tool=*,op=write,resource=")
	wantFail(t, r, exitFailure, "authority answered 403 access_denied to POST /v1/tokens: right crm/*/write is beyond the client's ceiling; these credentials may not do this")
	if strings.Contains(r.stderr, fakeSecret) {
		t.Fatal("the credential was printed")
	}
}

func TestOnlineErrors(t *testing.T) {
	f := newFakeAuthority(t)
	right := "service=s,tool=t,op=o,resource=r"

	// A URL that is not the authority's base.
	c := newCLI(t)
	c.env[envToken] = fakeSecret
	wantFail(t, c.run("", "mint", "--authority", f.URL+"/api", "--agent", "a", "--right", right), exitFailure,
		"authority answered 404 to POST /v1/tokens; is --authority the authority's base URL")

	// Nobody listening.
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	r := c.run("", "mint", "--authority", url, "--agent", "a", "--right", right)
	wantFail(t, r, exitFailure, "cannot reach the authority at "+url)
	if !strings.Contains(r.stderr, `start one with "mandate authority serve"`) {
		t.Fatalf("no hint in %q", r.stderr)
	}
	r = c.run("", "revoke", "--authority", url, "--session", "s_1")
	wantFail(t, r, exitFailure, "cannot reach the authority at "+url)

	// Something that answers 201 with the wrong JSON.
	odd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte("<html>hello</html>"))
	}))
	defer odd.Close()
	wantFail(t, c.run("", "mint", "--authority", odd.URL, "--agent", "a", "--right", right), exitFailure,
		"the authority's answer is not the expected JSON")
}

func TestRevoke(t *testing.T) {
	f := newFakeAuthority(t)
	key, _ := testKey(t)
	c := newCLI(t)
	tok := session(t, c, key)
	id := strings.Repeat("ab", 64)

	tests := []struct {
		name  string
		stdin string
		env   string
		args  []string
		want  map[string]string
	}{
		{"token on stdin", tok + "\n", "", []string{"--token", "-"}, map[string]string{"token": tok}},
		{"token", "", "", []string{"--token", tok}, map[string]string{"token": tok}},
		{"revocation ID", "", fakeSecret, []string{"--revocation-id", strings.ToUpper(id)}, map[string]string{"revocation_id": id}},
		{"session", "", "", []string{"--session", "s_42", "--auth-token", fakeSecret}, map[string]string{"session": "s_42"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.env[envToken] = tt.env
			r := c.run(tt.stdin, append([]string{"revoke", "--authority", f.URL}, tt.args...)...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			var answer map[string]any
			if err := json.Unmarshal([]byte(r.stdout), &answer); err != nil || answer["revoked"] == nil {
				t.Fatalf("stdout %q is not the server's JSON (%v)", r.stdout, err)
			}
			f.mu.Lock()
			got := f.revokes[i]
			f.mu.Unlock()
			if len(got) != len(tt.want) || got[keyOf(tt.want)] != tt.want[keyOf(tt.want)] {
				t.Fatalf("body = %v, want %v", got, tt.want)
			}
			if strings.Contains(r.stderr, tok) {
				t.Fatal("the token was printed on stderr")
			}
		})
	}

	c.env[envToken] = ""
	wantFail(t, c.run("", "revoke", "--authority", f.URL, "--session", "s_1"), exitFailure,
		"authority answered 401 invalid_token to POST /v1/revocations: revoking by session or revocation ID needs the admin or the minting client; pass a valid --auth-token")

	usage := []struct {
		name string
		args []string
		want string
	}{
		{"no authority", []string{"--session", "s"}, "--authority URL is required"},
		{"nothing", []string{"--authority", f.URL}, "say what to revoke"},
		{"two", []string{"--authority", f.URL, "--session", "s", "--token", "t"}, "give only one of"},
		{"bad hex", []string{"--authority", f.URL, "--revocation-id", "xyz"}, `--revocation-id "xyz": want hex`},
		{"argument and session", []string{"--authority", f.URL, "--session", "s", "extra"}, "give only one of"},
		{"two arguments", []string{"--authority", f.URL, "a", "b"}, "takes one token, got 2 arguments"},
		{"empty --token", []string{"--authority", f.URL, "--token", ""}, "--token is empty"},
		{"bad URL", []string{"--authority", "localhost:8421", "--session", "s"}, "not an http(s) URL"},
	}
	for _, tt := range usage {
		t.Run(tt.name, func(t *testing.T) {
			wantFail(t, c.run("", append([]string{"revoke"}, tt.args...)...), exitUsage, tt.want)
		})
	}
	wantFail(t, c.run("", "revoke", "--authority", f.URL, "--token", "-"), exitFailure, "no token on stdin")
}

func keyOf(m map[string]string) string {
	for k := range m {
		return k
	}
	return ""
}

// TestVerifyAuthority: verify --authority fetches the keys and the
// revocation log, so revocations by possession and by session are seen.
func TestVerifyAuthority(t *testing.T) {
	f := newFakeAuthority(t)
	c := newCLI(t)
	c.env[envToken] = fakeSecret
	sess := oneTokenLine(t, c.ok("", "mint", "--authority", f.URL, "--agent", "orchestrator",
		"--right", "service=github,tool=*,op=*,resource=repo:acme/"))
	reader := oneTokenLine(t, c.ok(sess, "attenuate", "--op", "read", "--delegate-to", "reader"))
	writer := oneTokenLine(t, c.ok(sess, "attenuate", "--op", "write", "--delegate-to", "writer"))
	verify := func(tok, op string) (int, map[string]any) {
		t.Helper()
		r := c.run(tok, "verify", "--authority", f.URL, "--trust-key", token.FormatPublicKey(f.key.Public().Key), "--service", "github", "--tool", "t", "--op", op, "--resource", "repo:acme/web")
		if strings.Contains(r.stderr, "not checked offline") {
			t.Fatal("verify --authority claims revocations are not checked")
		}
		return r.code, decision(t, r)
	}
	for _, tt := range []struct {
		tok, op string
		want    int
	}{{sess, "write", 0}, {reader, "read", 0}, {writer, "write", 0}, {reader, "write", 1}} {
		if got, d := verify(tt.tok, tt.op); got != tt.want {
			t.Fatalf("before revocation: exit %d, want %d: %v", got, tt.want, d)
		}
	}

	c.ok(reader, "revoke", "--authority", f.URL, "--token", "-")
	if got, d := verify(reader, "read"); got != exitFailure || !strings.Contains(d["reason"].(string), "revoked") {
		t.Fatalf("revoked reader: exit %d, %v", got, d)
	}
	if got, _ := verify(writer, "write"); got != exitOK {
		t.Fatalf("the reader's sibling: exit %d, want 0", got)
	}
	if got, _ := verify(sess, "write"); got != exitOK {
		t.Fatalf("the reader's parent: exit %d, want 0", got)
	}

	var in token.Inspection
	if err := json.Unmarshal([]byte(c.ok(sess, "inspect", "--json")), &in); err != nil {
		t.Fatal(err)
	}
	c.ok("", "revoke", "--authority", f.URL, "--session", in.Subject.Session)
	for _, tok := range []string{sess, writer} {
		if got, d := verify(tok, "write"); got != exitFailure || !strings.Contains(d["reason"].(string), "block 0") {
			t.Fatalf("after revoking the session: exit %d, %v", got, d)
		}
	}

	// A token of another authority is unknown there.
	key, _ := testKey(t)
	if got, d := verify(session(t, c, key), "read"); got != exitFailure || !strings.Contains(d["reason"].(string), "unknown root key") {
		t.Fatalf("foreign token: exit %d, %v", got, d)
	}

	// Nobody listening.
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	r := c.run(sess, "verify", "--authority", url, "--trust-key", token.FormatPublicKey(f.key.Public().Key), "--service", "s", "--tool", "t", "--op", "o")
	wantFail(t, r, exitFailure, "denied: cannot fetch keys and revocations from the authority at "+url)
	if d := decision(t, r); d["allowed"] != false || !strings.Contains(d["reason"].(string), "cannot fetch keys and revocations from the authority at "+url) {
		t.Fatalf("decision with the authority down: %v", d)
	}

	// Without a pinned key, verify --authority refuses (fail closed) and
	// says how to pin; with another authority's key pinned, the keys the
	// URL answers are refused.
	r = c.run(sess, "verify", "--authority", f.URL, "--service", "github", "--tool", "t", "--op", "write", "--resource", "repo:acme/web")
	wantFail(t, r, exitUsage, "--trust-key")
	_, other := testKey(t)
	r = c.run(sess, "verify", "--authority", f.URL, "--trust-key", other, "--service", "github", "--tool", "t", "--op", "write", "--resource", "repo:acme/web")
	wantFail(t, r, exitFailure, "trust anchor")
	c.env[envTrustKey] = token.FormatPublicKey(f.key.Public().Key)
	if r = c.run(writer, "verify", "--authority", f.URL, "--service", "github", "--tool", "t", "--op", "write", "--resource", "repo:acme/web"); r.code == exitUsage {
		t.Fatalf("verify with $%s set: %s", envTrustKey, r.stderr)
	}
	delete(c.env, envTrustKey)
}
