package authority_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/revocation"
)

var crmRead = verifier.Request{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/42"}

// follow copies the feed into a verifier's revocation store, as a follower
// does.
func (e *env) follow(store revocation.Store) {
	e.t.Helper()
	f := e.feed(store.LastSeq())
	var es []revocation.Entry
	for _, x := range f.Entries {
		exp, err := time.Parse(time.RFC3339, x.ExpiresAt)
		if err != nil {
			e.t.Fatal(err)
		}
		es = append(es, revocation.Entry{ID: mustHex(e.t, x.RevocationID), Seq: x.Seq, ExpiresAt: exp})
	}
	if err := store.Add(context.Background(), es...); err != nil {
		e.t.Fatal(err)
	}
}

// narrow appends an attenuation block to tok.
func narrow(t *testing.T, tok string, f func(*attenuate.Builder) *attenuate.Builder) string {
	t.Helper()
	b, err := attenuate.New(tok)
	if err != nil {
		t.Fatal(err)
	}
	out, err := f(b).Build()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWholeFlow(t *testing.T) {
	e := newEnv(t)
	secret := e.register("platform", crmCeiling)

	// A verifier that trusts the authority's published keys and follows
	// its revocation feed.
	store := revocation.NewMemory()
	v, err := verifier.New(verifier.Config{Keys: e.keySet(), Revocations: store})
	if err != nil {
		t.Fatal(err)
	}
	allowed := func(tok string) bool {
		e.follow(store)
		return v.Authorize(context.Background(), tok, crmRead).Allowed
	}

	m := e.mint(secret, crmMint(""))
	if !strings.HasPrefix(m.Session, "platform/s_") || len(m.RevocationIDs) != 1 || m.KeyID == 0 {
		t.Fatalf("mint response = %+v", m)
	}
	exp, err := time.Parse(time.RFC3339, m.ExpiresAt)
	if err != nil || exp.Before(time.Now().Add(9*time.Minute)) || exp.After(time.Now().Add(10*time.Minute)) {
		t.Errorf("expires_at = %q, want about 10 minutes from now", m.ExpiresAt)
	}
	if !allowed(m.Token) {
		t.Fatal("freshly minted token denied")
	}
	// A second token in the same session.
	m2 := e.mint(secret, crmMint(m.Session))
	if m2.Session != m.Session {
		t.Fatalf("session = %q, want %q", m2.Session, m.Session)
	}
	// A sub-agent's attenuated token.
	sub := narrow(t, m.Token, func(b *attenuate.Builder) *attenuate.Builder { return b.Tools("get_account") })
	if !allowed(sub) {
		t.Fatal("attenuated token denied")
	}

	in := e.introspect(secret, m.Token)
	if in["active"] != true || in["session"] != m.Session || in["client_id"] != "platform" || in["sub"] != "alice@acme.test" || in["token_type"] != "Bearer" {
		t.Errorf("introspection = %v", in)
	}

	// The session view.
	var sv struct {
		Session    string `json:"session"`
		ClientID   string `json:"client_id"`
		Status     string `json:"status"`
		TokenCount int    `json:"token_count"`
		Tokens     []struct {
			RevocationID string `json:"revocation_id"`
			Revoked      bool   `json:"revoked"`
		} `json:"tokens"`
		Revocations []entry `json:"revocations"`
	}
	e.do(http.MethodGet, "/v1/sessions/"+m.Session, secret, nil).json(t, &sv)
	if sv.Status != "active" || sv.TokenCount != 2 || sv.ClientID != "platform" || len(sv.Revocations) != 0 {
		t.Errorf("session view = %+v", sv)
	}

	// Revoke the session: both tokens and the attenuation die.
	rr := e.revoke(secret, map[string]string{"session": m.Session})
	if rr.Total != 2 || rr.Created != 2 || len(rr.Entries) != 2 {
		t.Fatalf("revoke session = %+v", rr)
	}
	for _, tok := range []string{m.Token, m2.Token, sub} {
		if allowed(tok) {
			t.Error("token still allowed after its session was revoked")
		}
	}
	if f := e.feed(0); len(f.Entries) != 2 || f.Next != f.Entries[1].Seq {
		t.Errorf("feed = %+v", f)
	}
	if in := e.introspect(secret, m.Token); len(in) != 1 || in["active"] != false {
		t.Errorf("introspection after revocation = %v, want only active=false", in)
	}
	e.do(http.MethodGet, "/v1/sessions/"+m.Session, adminToken, nil).json(t, &sv)
	if sv.Status != "revoked" || len(sv.Revocations) != 2 || !sv.Tokens[0].Revoked {
		t.Errorf("session view after revocation = %+v", sv)
	}
	// Idempotent: nothing new.
	if rr := e.revoke(secret, map[string]string{"session": m.Session}); rr.Created != 0 || rr.Total != 2 {
		t.Errorf("second revocation = %+v", rr)
	}
	// A revoked session takes no new token.
	e.do(http.MethodPost, "/v1/tokens", secret, crmMint(m.Session)).wantError(t, http.StatusConflict, "session_revoked")

	// Discovery.
	var md map[string]any
	e.do(http.MethodGet, "/.well-known/oauth-authorization-server", "", nil).json(t, &md)
	if md["issuer"] != e.srv.URL || md["revocation_endpoint"] != e.srv.URL+"/oauth2/revoke" || md["introspection_endpoint"] != e.srv.URL+"/oauth2/introspect" {
		t.Errorf("metadata = %v", md)
	}
	var bwk []map[string]any
	e.do(http.MethodGet, "/.well-known/biscuit-web-keys", "", nil).json(t, &bwk)
	if len(bwk) != 1 || bwk[0]["algorithm"] != "ed25519" || bwk[0]["key_id"] != float64(m.KeyID) || len(bwk[0]["key_bytes"].(string)) != 64 {
		t.Errorf("biscuit web keys = %v", bwk)
	}
	if r := e.do(http.MethodGet, "/healthz", "", nil); r.status != http.StatusOK {
		t.Errorf("healthz = %d", r.status)
	}
	if r := e.do(http.MethodGet, "/readyz", "", nil); r.status != http.StatusOK {
		t.Errorf("readyz = %d", r.status)
	}
	metrics := string(e.do(http.MethodGet, "/metrics", "", nil).body)
	for _, want := range []string{"mandate_mints_total 2", "mandate_revocations_total 2", "mandate_feed_followers 0",
		`mandate_http_request_duration_seconds_count{route="/v1/tokens"} 3`} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("metrics lack %q:\n%s", want, metrics)
		}
	}
}

func TestRevokeTokenRevokesLastBlockOnly(t *testing.T) {
	e := newEnv(t)
	parent := e.mint(adminToken, crmMint(""))
	child := narrow(t, parent.Token, func(b *attenuate.Builder) *attenuate.Builder { return b.Tools("get_account") })
	grandchild := narrow(t, child, func(b *attenuate.Builder) *attenuate.Builder { return b.ResourcePrefix("account:acme/4") })
	// No credentials: holding the token is enough.
	rr := e.revoke("", map[string]string{"token": child})
	u, _ := token.ParseString(child)
	ids := u.RevocationIDs()
	if rr.Created != 1 || len(rr.Entries) != 1 || rr.Entries[0].RevocationID != hex.EncodeToString(ids[1]) {
		t.Fatalf("revoke = %+v, want the child's block 1", rr)
	}
	if got := rr.Entries[0].ExpiresAt; got != parent.ExpiresAt {
		t.Errorf("entry expires_at = %s, want the token's expiry %s", got, parent.ExpiresAt)
	}
	for tok, want := range map[string]bool{parent.Token: true, child: false, grandchild: false} {
		if got := e.introspect(adminToken, tok)["active"]; got != want {
			t.Errorf("active = %v, want %v", got, want)
		}
	}
	// Idempotent.
	if rr2 := e.revoke("", map[string]string{"token": child}); rr2.Created != 0 || rr2.Entries[0].Seq != rr.Entries[0].Seq {
		t.Errorf("second revoke = %+v", rr2)
	}
	if f := e.feed(0); len(f.Entries) != 1 {
		t.Errorf("feed has %d entries, want 1", len(f.Entries))
	}

	// A token of another authority, or garbage, is refused and revokes
	// nothing.
	other, _ := token.GenerateKey()
	foreign, err := token.Mint(other, token.MintRequest{Subject: token.Subject{Agent: "x"}, Rights: []token.Right{{Service: "crm", Tool: "*", Operation: "*"}}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	e.do(http.MethodPost, "/v1/revocations", "", map[string]string{"token": foreign.Token}).wantError(t, http.StatusBadRequest, "invalid_request")
	e.do(http.MethodPost, "/v1/revocations", "", map[string]string{"token": "not-a-token"}).wantError(t, http.StatusBadRequest, "invalid_request")
	// RFC 7009: always 200, but nothing revoked.
	for _, tok := range []string{foreign.Token, "garbage"} {
		if r := e.form("/oauth2/revoke", "", url.Values{"token": {tok}, "token_type_hint": {"access_token"}}); r.status != http.StatusOK {
			t.Errorf("oauth2/revoke of an invalid token = %d %s, want 200", r.status, r.body)
		}
	}
	if f := e.feed(0); len(f.Entries) != 1 {
		t.Errorf("feed has %d entries after invalid revocations, want 1", len(f.Entries))
	}
	// RFC 7009 on a valid token revokes its last block.
	if r := e.form("/oauth2/revoke", "", url.Values{"token": {parent.Token}}); r.status != http.StatusOK {
		t.Fatalf("oauth2/revoke = %d %s", r.status, r.body)
	}
	if got := e.introspect(adminToken, parent.Token)["active"]; got != false {
		t.Error("parent still active after oauth2/revoke")
	}
}

func TestRevokeByIDAgentUser(t *testing.T) {
	e := newEnv(t)
	a := e.register("client-a", crmCeiling)
	b := e.register("client-b", crmCeiling)
	ta := e.mint(a, crmMint(""))
	ta2 := e.mint(a, mintReq{Agent: "other-bot", User: "bob@acme.test", Org: "acme", Rights: crmMint("").Rights, TTLSeconds: 60})
	tb := e.mint(b, crmMint(""))

	// A client cannot revoke another client's token by ID; the admin can.
	e.do(http.MethodPost, "/v1/revocations", b, map[string]string{"revocation_id": ta.RevocationIDs[0]}).wantError(t, http.StatusForbidden, "insufficient_scope")
	// An unknown ID: only the admin.
	unknown := hex.EncodeToString(bytes.Repeat([]byte{7}, 64))
	e.do(http.MethodPost, "/v1/revocations", a, map[string]string{"revocation_id": unknown}).wantError(t, http.StatusNotFound, "not_found")
	rr := e.revoke(adminToken, map[string]string{"revocation_id": unknown})
	exp, _ := time.Parse(time.RFC3339, rr.Entries[0].ExpiresAt)
	if d := time.Until(exp); d < token.MaxTTL-time.Minute || d > token.MaxTTL {
		t.Errorf("unknown ID expires in %s, want token.MaxTTL", d)
	}
	e.do(http.MethodPost, "/v1/revocations", adminToken, map[string]string{"revocation_id": "zz"}).wantError(t, http.StatusBadRequest, "invalid_request")

	// By agent: a client revokes only its own tokens for that agent.
	rr = e.revoke(b, map[string]string{"agent": "support-bot"})
	if rr.Total != 1 || rr.Entries[0].RevocationID != tb.RevocationIDs[0] {
		t.Fatalf("client b revoking agent = %+v", rr)
	}
	if e.introspect(adminToken, ta.Token)["active"] != true {
		t.Error("client b's agent revocation revoked client a's token")
	}
	e.do(http.MethodPost, "/v1/revocations", b, map[string]string{"user": "bob@acme.test"}).wantError(t, http.StatusNotFound, "not_found")
	rr = e.revoke(a, map[string]string{"user": "bob@acme.test"})
	if rr.Total != 1 || rr.Entries[0].RevocationID != ta2.RevocationIDs[0] {
		t.Fatalf("revoke user = %+v", rr)
	}
	// The client revokes its own token by ID.
	rr = e.revoke(a, map[string]string{"revocation_id": ta.RevocationIDs[0]})
	if rr.Created != 1 {
		t.Errorf("revoke own ID = %+v", rr)
	}
	// These forms need credentials.
	r := e.do(http.MethodPost, "/v1/revocations", "", map[string]string{"agent": "support-bot"})
	r.wantError(t, http.StatusUnauthorized, "unauthorized")
	if got := r.header.Get("WWW-Authenticate"); got != `Bearer realm="mandate"` {
		t.Errorf("challenge = %q", got)
	}
}

func TestCeilings(t *testing.T) {
	e := newEnv(t)
	wide := ceiling{Services: []string{"crm"}, Tools: []string{"*"}, Operations: []string{"*"}, ResourcePrefixes: []string{""}, Orgs: []string{"acme"}, MaxTTLSeconds: 60}
	narrow := e.register("narrow", crmCeiling)
	wild := e.register("wild", wide)
	right := func(service, tool, op, res string) []token.Right {
		return []token.Right{{Service: service, Tool: tool, Operation: op, Resource: res}}
	}
	ok := right("crm", "get_account", "read", "account:acme/42")
	tests := []struct {
		name   string
		secret string
		req    mintReq
		want   int
	}{
		{"within", narrow, mintReq{Agent: "a", Org: "acme", Rights: ok, TTLSeconds: 3600}, http.StatusCreated},
		{"another service", narrow, mintReq{Agent: "a", Org: "acme", Rights: right("billing", "get_account", "read", "account:acme/42"), TTLSeconds: 60}, http.StatusForbidden},
		{"another tool", narrow, mintReq{Agent: "a", Org: "acme", Rights: right("crm", "refund", "read", "account:acme/42"), TTLSeconds: 60}, http.StatusForbidden},
		{"tool wildcard without ceiling wildcard", narrow, mintReq{Agent: "a", Org: "acme", Rights: right("crm", "*", "read", "account:acme/42"), TTLSeconds: 60}, http.StatusForbidden},
		{"another operation", narrow, mintReq{Agent: "a", Org: "acme", Rights: right("crm", "get_account", "write", "account:acme/42"), TTLSeconds: 60}, http.StatusForbidden},
		{"operation wildcard", narrow, mintReq{Agent: "a", Org: "acme", Rights: right("crm", "get_account", "*", "account:acme/42"), TTLSeconds: 60}, http.StatusForbidden},
		{"resource outside the prefix", narrow, mintReq{Agent: "a", Org: "acme", Rights: right("crm", "get_account", "read", "account:globex/1"), TTLSeconds: 60}, http.StatusForbidden},
		{"resource wider than the prefix", narrow, mintReq{Agent: "a", Org: "acme", Rights: right("crm", "get_account", "read", "account:acme"), TTLSeconds: 60}, http.StatusForbidden},
		{"empty resource (everything)", narrow, mintReq{Agent: "a", Org: "acme", Rights: right("crm", "get_account", "read", ""), TTLSeconds: 60}, http.StatusForbidden},
		{"another org", narrow, mintReq{Agent: "a", Org: "globex", Rights: ok, TTLSeconds: 60}, http.StatusForbidden},
		{"no org", narrow, mintReq{Agent: "a", Rights: ok, TTLSeconds: 60}, http.StatusForbidden},
		{"ttl over the ceiling", narrow, mintReq{Agent: "a", Org: "acme", Rights: ok, TTLSeconds: 3601}, http.StatusForbidden},
		{"one bad right among good ones", narrow, mintReq{Agent: "a", Org: "acme", Rights: append(append([]token.Right{}, ok...), right("crm", "refund", "read", "account:acme/1")...), TTLSeconds: 60}, http.StatusForbidden},
		{"wildcard ceiling allows wildcards", wild, mintReq{Agent: "a", Org: "acme", Rights: right("crm", "*", "*", ""), TTLSeconds: 60}, http.StatusCreated},
		{"wildcard ceiling still bounds the service", wild, mintReq{Agent: "a", Org: "acme", Rights: right("billing", "*", "*", ""), TTLSeconds: 60}, http.StatusForbidden},
		{"wildcard ceiling still bounds the ttl", wild, mintReq{Agent: "a", Org: "acme", Rights: right("crm", "*", "*", ""), TTLSeconds: 61}, http.StatusForbidden},
		{"admin has no ceiling", adminToken, mintReq{Agent: "a", Rights: right("billing", "*", "*", ""), TTLSeconds: 86400}, http.StatusCreated},
		{"nobody exceeds token.MaxTTL", adminToken, mintReq{Agent: "a", Rights: ok, TTLSeconds: 86401}, http.StatusBadRequest},
		{"service wildcard is invalid", adminToken, mintReq{Agent: "a", Rights: right("*", "*", "*", ""), TTLSeconds: 60}, http.StatusBadRequest},
		{"agent required", adminToken, mintReq{Rights: ok, TTLSeconds: 60}, http.StatusBadRequest},
		{"rights required", adminToken, mintReq{Agent: "a", TTLSeconds: 60}, http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(http.MethodPost, "/v1/tokens", tc.secret, tc.req)
			switch tc.want {
			case http.StatusCreated:
				if r.status != tc.want {
					t.Fatalf("status = %d, want 201: %s", r.status, r.body)
				}
			case http.StatusForbidden:
				r.wantError(t, tc.want, "insufficient_scope")
				if ch := r.header.Get("WWW-Authenticate"); !strings.Contains(ch, `error="insufficient_scope"`) {
					t.Errorf("challenge = %q", ch)
				}
			default:
				r.wantError(t, tc.want, "invalid_request")
			}
		})
	}
	if got := e.a.Stats().Mints.Load(); got != 3 {
		t.Errorf("%d tokens minted, want 3 (only the allowed requests)", got)
	}
}

func TestSessionOwnership(t *testing.T) {
	e := newEnv(t)
	a := e.register("client-a", crmCeiling)
	b := e.register("client-b", crmCeiling)
	m := e.mint(a, crmMint("s_shared"))
	if m.Session != "client-a/s_shared" {
		t.Fatalf("session = %q, want it scoped to client-a", m.Session)
	}
	// Client a names its session either way.
	if m2 := e.mint(a, crmMint("s_shared")); m2.Session != m.Session {
		t.Errorf("second mint joined %q, want %q", m2.Session, m.Session)
	}
	if m2 := e.mint(a, crmMint(m.Session)); m2.Session != m.Session {
		t.Errorf("mint by full ID joined %q, want %q", m2.Session, m.Session)
	}
	for _, id := range []string{"s_shared", m.Session} {
		if r := e.do(http.MethodGet, "/v1/sessions/"+url.PathEscape(id), a, nil); r.status != http.StatusOK {
			t.Errorf("client a reads its session as %q: %d %s", id, r.status, r.body)
		}
	}
	// Sessions are scoped per client: client b can neither join, read,
	// revoke nor probe client a's session, by its name or its full ID.
	// Naming it creates b's own session instead.
	for _, id := range []string{"s_shared", m.Session} {
		if got := e.mint(b, crmMint(id)); got.Session != "client-b/"+id {
			t.Errorf("client b minting into %q got session %q, want its own", id, got.Session)
		}
	}
	e.do(http.MethodGet, "/v1/sessions/s_nope", b, nil).wantError(t, http.StatusNotFound, "not_found")
	rb := e.revoke(b, map[string]string{"session": "s_shared"})
	if rb.Total != 1 {
		t.Errorf("client b revoking its s_shared revoked %d tokens, want its own 1", rb.Total)
	}
	if got := e.introspect(a, m.Token)["active"]; got != true {
		t.Error("client b's revocation reached client a's session")
	}
	e.do(http.MethodPost, "/v1/revocations", b, map[string]string{"session": "s_nope"}).wantError(t, http.StatusNotFound, "not_found")
	// The admin names sessions in full and can do all three; its token
	// joins client a's session.
	if got := e.mint(adminToken, crmMint(m.Session)); got.Session != m.Session {
		t.Errorf("admin joined %q, want %q", got.Session, m.Session)
	}
	if r := e.do(http.MethodGet, "/v1/sessions/"+url.PathEscape(m.Session), adminToken, nil); r.status != http.StatusOK {
		t.Errorf("admin reads session: %d", r.status)
	}
	// A session the admin created is the admin's, even in a client's
	// namespace.
	adm := e.mint(adminToken, crmMint("s_admin"))
	if adm.Session != "s_admin" {
		t.Errorf("admin session = %q", adm.Session)
	}
	inA := e.mint(adminToken, crmMint("client-a/by-admin"))
	e.do(http.MethodPost, "/v1/tokens", a, crmMint("by-admin")).wantError(t, http.StatusForbidden, "insufficient_scope")
	e.do(http.MethodGet, "/v1/sessions/"+url.PathEscape(inA.Session), a, nil).wantError(t, http.StatusForbidden, "insufficient_scope")
	e.do(http.MethodGet, "/v1/sessions/s_nope", a, nil).wantError(t, http.StatusNotFound, "not_found")
	e.do(http.MethodGet, "/v1/sessions/", a, nil).wantError(t, http.StatusBadRequest, "invalid_request")
	// A session ID with a slash is reachable.
	slash := e.mint(a, crmMint("tenant/42"))
	if slash.Session != "client-a/tenant/42" {
		t.Errorf("session = %q", slash.Session)
	}
	if r := e.do(http.MethodGet, "/v1/sessions/"+url.PathEscape(slash.Session), a, nil); r.status != http.StatusOK {
		t.Errorf("session with a slash: %d %s", r.status, r.body)
	}
	// Introspection: a client sees only its own tokens.
	if e.introspect(b, m.Token)["active"] != false {
		t.Error("client b can introspect client a's token")
	}
	if e.introspect(a, m.Token)["active"] != true {
		t.Error("client a cannot introspect its own token")
	}
	if e.introspect(a, adm.Token)["active"] != false {
		t.Error("client a can introspect the admin's token")
	}

	// Concurrent first mints of one session name by two clients: no
	// squatting, each gets its own session.
	var wg sync.WaitGroup
	got := make([]minted, 2)
	for i, sec := range []string{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.do(http.MethodPost, "/v1/tokens", sec, crmMint("s_race"))
			if r.status == http.StatusCreated {
				_ = json.Unmarshal(r.body, &got[i])
			}
		}()
	}
	wg.Wait()
	if got[0].Session != "client-a/s_race" || got[1].Session != "client-b/s_race" {
		t.Errorf("racing first mints: sessions %q and %q, want one per client", got[0].Session, got[1].Session)
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	client := e.register("platform", crmCeiling)
	big := `{"agent":"` + strings.Repeat("a", authority.MaxBodyBytes) + `"}`
	tests := []struct {
		name      string
		method    string
		path      string
		bearer    string
		body      any
		ctype     string
		status    int
		code      string
		challenge string // substring of WWW-Authenticate; "" means none
	}{
		{"bad JSON", "POST", "/v1/tokens", adminToken, `{"agent":`, "", 400, "invalid_request", ""},
		{"not JSON", "POST", "/v1/tokens", adminToken, `agent=x`, "", 400, "invalid_request", ""},
		{"unknown field", "POST", "/v1/tokens", adminToken, `{"agent":"a","ttl":60}`, "", 400, "invalid_request", ""},
		{"unknown nested field", "POST", "/v1/tokens", adminToken, `{"agent":"a","rights":[{"service":"crm","verb":"x"}],"ttl_seconds":60}`, "", 400, "invalid_request", ""},
		{"wrong type", "POST", "/v1/tokens", adminToken, `{"agent":"a","ttl_seconds":"60"}`, "", 400, "invalid_request", ""},
		{"trailing data", "POST", "/v1/tokens", adminToken, `{"agent":"a"} {}`, "", 400, "invalid_request", ""},
		{"empty body", "POST", "/v1/tokens", adminToken, ``, "", 400, "invalid_request", ""},
		{"form instead of JSON", "POST", "/v1/tokens", adminToken, `agent=x`, "application/x-www-form-urlencoded", 415, "unsupported_media_type", ""},
		{"oversize body", "POST", "/v1/tokens", adminToken, big, "", 413, "request_too_large", ""},
		{"oversize revocation", "POST", "/v1/revocations", "", big, "", 413, "request_too_large", ""},
		{"no credentials", "POST", "/v1/tokens", "", `{}`, "", 401, "unauthorized", `Bearer realm="mandate"`},
		{"bad admin token", "POST", "/v1/tokens", "wrong-token", `{}`, "", 401, "invalid_token", `error="invalid_token"`},
		{"bad client secret", "POST", "/v1/tokens", "platform.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", `{}`, "", 401, "invalid_token", `error="invalid_token"`},
		{"unknown client", "POST", "/v1/tokens", "ghost.AAAA", `{}`, "", 401, "invalid_token", `error="invalid_token"`},
		{"client on an admin endpoint", "POST", "/v1/keys/rotate", client, nil, "", 403, "insufficient_scope", `error="insufficient_scope"`},
		{"client lists clients", "GET", "/v1/clients", client, nil, "", 403, "insufficient_scope", `error="insufficient_scope"`},
		{"client registers a client", "POST", "/v1/clients", client, `{}`, "", 403, "insufficient_scope", `error="insufficient_scope"`},
		{"introspect without credentials", "POST", "/oauth2/introspect", "", "token=x", "application/x-www-form-urlencoded", 401, "unauthorized", `Bearer realm="mandate"`},
		{"introspect without token", "POST", "/oauth2/introspect", adminToken, "x=y", "application/x-www-form-urlencoded", 400, "invalid_request", ""},
		{"introspect with JSON", "POST", "/oauth2/introspect", adminToken, `{"token":"x"}`, "", 415, "unsupported_media_type", ""},
		{"oauth revoke without token", "POST", "/oauth2/revoke", "", "token_type_hint=access_token", "application/x-www-form-urlencoded", 400, "invalid_request", ""},
		{"token in the URL", "POST", "/oauth2/revoke?token=abc", "", "", "application/x-www-form-urlencoded", 400, "invalid_request", ""},
		{"two revocation forms", "POST", "/v1/revocations", adminToken, `{"session":"s","agent":"a"}`, "", 400, "invalid_request", ""},
		{"no revocation form", "POST", "/v1/revocations", adminToken, `{}`, "", 400, "invalid_request", ""},
		{"bad feed after", "GET", "/v1/revocations?after=-1", "", nil, "", 400, "invalid_request", ""},
		{"bad feed wait", "GET", "/v1/revocations?wait=soon", "", nil, "", 400, "invalid_request", ""},
		{"feed ahead of the log", "GET", "/v1/revocations?after=5", "", nil, "", 409, "sequence_ahead", ""},
		{"wrong method on tokens", "GET", "/v1/tokens", adminToken, nil, "", 405, "method_not_allowed", ""},
		{"wrong method on keys", "DELETE", "/v1/keys", "", nil, "", 405, "method_not_allowed", ""},
		{"wrong method on rotate", "GET", "/v1/keys/rotate", adminToken, nil, "", 405, "method_not_allowed", ""},
		{"unknown route", "GET", "/v2/tokens", "", nil, "", 404, "not_found", ""},
		{"trailing slash", "POST", "/v1/tokens/", adminToken, `{}`, "", 404, "not_found", ""},
		{"bad client id", "POST", "/v1/clients", adminToken, `{"client_id":"bad id","ceiling":{"services":["crm"],"tools":["*"],"operations":["*"],"resource_prefixes":[""],"orgs":["acme"],"max_ttl_seconds":60}}`, "", 400, "invalid_request", ""},
		{"ceiling without orgs", "POST", "/v1/clients", adminToken, `{"client_id":"c","ceiling":{"services":["crm"],"tools":["*"],"operations":["*"],"resource_prefixes":[""],"orgs":[],"max_ttl_seconds":60}}`, "", 400, "invalid_request", ""},
		{"ceiling over max ttl", "POST", "/v1/clients", adminToken, `{"client_id":"c","ceiling":{"services":["crm"],"tools":["*"],"operations":["*"],"resource_prefixes":[""],"orgs":["acme"],"max_ttl_seconds":999999}}`, "", 400, "invalid_request", ""},
		{"ceiling service wildcard", "POST", "/v1/clients", adminToken, `{"client_id":"c","ceiling":{"services":["*"],"tools":["*"],"operations":["*"],"resource_prefixes":[""],"orgs":["acme"],"max_ttl_seconds":60}}`, "", 400, "invalid_request", ""},
		{"duplicate client", "POST", "/v1/clients", adminToken, `{"client_id":"platform","ceiling":{"services":["crm"],"tools":["*"],"operations":["*"],"resource_prefixes":[""],"orgs":["acme"],"max_ttl_seconds":60}}`, "", 409, "already_exists", ""},
		{"delete unknown client", "DELETE", "/v1/clients/ghost", adminToken, nil, "", 404, "not_found", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rd io.Reader
			if s, ok := tc.body.(string); ok {
				rd = strings.NewReader(s)
			}
			req, err := http.NewRequest(tc.method, e.srv.URL+tc.path, rd)
			if err != nil {
				t.Fatal(err)
			}
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			} else if rd != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			if tc.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+tc.bearer)
			}
			r := e.send(req)
			r.wantError(t, tc.status, tc.code)
			ch := r.header.Get("WWW-Authenticate")
			if tc.challenge == "" && ch != "" {
				t.Errorf("unexpected challenge %q", ch)
			}
			if tc.challenge != "" && (!strings.Contains(ch, tc.challenge) || !strings.HasPrefix(ch, `Bearer realm="mandate"`)) {
				t.Errorf("WWW-Authenticate = %q, want it to contain %q", ch, tc.challenge)
			}
			if tc.status == 405 && r.header.Get("Allow") == "" {
				t.Error("405 without an Allow header")
			}
			if r.header.Get("X-Request-ID") == "" {
				t.Error("no X-Request-ID")
			}
		})
	}
	// The unknown-field message names the accepted fields.
	r := e.do("POST", "/v1/tokens", adminToken, `{"agent":"a","ttl":60}`)
	if !strings.Contains(string(r.body), `unknown field \"ttl\"`) || !strings.Contains(string(r.body), "ttl_seconds") {
		t.Errorf("unknown-field message: %s", r.body)
	}
	if e.a.Stats().Mints.Load() != 0 || e.a.LastSeq() != 0 {
		t.Error("bad input minted or revoked something")
	}
}

func TestRequestID(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ sent, want string }{
		{"abc-123", "abc-123"},
		{"has space", ""},
		{strings.Repeat("x", 200), ""},
		{"", ""},
	} {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/healthz", nil)
		if tc.sent != "" {
			req.Header.Set("X-Request-ID", tc.sent)
		}
		got := e.send(req).header.Get("X-Request-ID")
		switch {
		case tc.want != "" && got != tc.want:
			t.Errorf("sent %q, got %q", tc.sent, got)
		case tc.want == "" && (got == "" || got == tc.sent):
			t.Errorf("sent %q, got %q; want a generated ID", tc.sent, got)
		}
	}
}

func TestBasicAuthOnIntrospect(t *testing.T) {
	e := newEnv(t)
	secret := e.register("platform", crmCeiling)
	m := e.mint(secret, crmMint(""))
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/oauth2/introspect", strings.NewReader(url.Values{"token": {m.Token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("platform", secret)
	r := e.send(req)
	if r.status != 200 || !strings.Contains(string(r.body), `"active":true`) {
		t.Fatalf("introspect with Basic: %d %s", r.status, r.body)
	}
	req, _ = http.NewRequest(http.MethodPost, e.srv.URL+"/oauth2/introspect", strings.NewReader(url.Values{"token": {m.Token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("other", secret)
	e.send(req).wantError(t, http.StatusUnauthorized, "invalid_token")
}

func TestClientsAdmin(t *testing.T) {
	e := newEnv(t)
	secret := e.register("platform", crmCeiling)
	if !strings.HasPrefix(secret, "platform.") || len(secret) != len("platform.")+43 {
		t.Errorf("secret %q: want platform.<43 chars>", secret)
	}
	var list struct {
		Clients []map[string]any `json:"clients"`
	}
	r := e.do(http.MethodGet, "/v1/clients", adminToken, nil)
	r.json(t, &list)
	if len(list.Clients) != 1 || list.Clients[0]["client_id"] != "platform" || strings.Contains(string(r.body), "secret") {
		t.Errorf("clients = %s (the secret must not be listed)", r.body)
	}
	if r := e.do(http.MethodGet, "/v1/clients/platform", adminToken, nil); r.status != 200 || strings.Contains(string(r.body), "secret") {
		t.Errorf("get client = %d %s", r.status, r.body)
	}
	if r := e.do(http.MethodDelete, "/v1/clients/platform", adminToken, nil); r.status != http.StatusNoContent {
		t.Fatalf("delete = %d %s", r.status, r.body)
	}
	e.do(http.MethodPost, "/v1/tokens", secret, crmMint("")).wantError(t, http.StatusUnauthorized, "invalid_token")
}

func TestConcurrentMintsAndRevocations(t *testing.T) {
	e := newEnv(t)
	secret := e.register("platform", crmCeiling)
	const workers, per = 8, 15
	var wg sync.WaitGroup
	var mu sync.Mutex
	seqs := map[uint64]string{}
	ids := map[string]bool{}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				m := e.mint(secret, crmMint(fmt.Sprintf("s_%d_%d", w, i)))
				body := map[string]string{"session": m.Session}
				if i%2 == 1 {
					body = map[string]string{"token": m.Token}
				}
				rr := e.revoke(secret, body)
				mu.Lock()
				for _, en := range rr.Entries {
					if prev, dup := seqs[en.Seq]; dup && prev != en.RevocationID {
						t.Errorf("seq %d assigned to two IDs", en.Seq)
					}
					seqs[en.Seq] = en.RevocationID
					ids[en.RevocationID] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	f := e.feed(0)
	if len(f.Entries) != workers*per || len(seqs) != workers*per {
		t.Fatalf("feed has %d entries, %d seqs seen; want %d", len(f.Entries), len(seqs), workers*per)
	}
	for i, en := range f.Entries {
		if en.Seq != uint64(i+1) || !ids[en.RevocationID] {
			t.Fatalf("feed entry %d = %+v: want dense sequence numbers of revoked IDs", i, en)
		}
	}
}

func TestFeedLongPoll(t *testing.T) {
	e := newEnv(t)
	m := e.mint(adminToken, crmMint(""))
	got := make(chan feed, 1)
	go func() {
		r, err := http.Get(e.srv.URL + "/v1/revocations?after=0&wait=30s")
		if err != nil {
			t.Error(err)
			close(got)
			return
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		var f feed
		resp{status: r.StatusCode, body: b}.json(t, &f)
		got <- f
	}()
	waitFor(t, "the long-poll to wait", func() bool { return e.a.Stats().FeedFollowers.Load() == 1 })
	e.revoke(adminToken, map[string]string{"session": m.Session})
	f := <-got
	if len(f.Entries) != 1 || f.Entries[0].RevocationID != m.RevocationIDs[0] || f.Next != f.Entries[0].Seq {
		t.Fatalf("long-poll returned %+v", f)
	}
	// Nothing new: "next" stays at "after".
	if f2 := e.feed(f.Next); len(f2.Entries) != 0 || f2.Next != f.Next {
		t.Errorf("feed after the last entry = %+v", f2)
	}

	// A client that disconnects ends its wait.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/v1/revocations?after=1&wait=30s", nil)
		if r, err := http.DefaultClient.Do(req); err == nil {
			r.Body.Close()
		}
	}()
	waitFor(t, "the second long-poll to wait", func() bool { return e.a.Stats().FeedFollowers.Load() == 1 })
	cancel()
	<-done
	waitFor(t, "the server to end the wait of a gone client", func() bool { return e.a.Stats().FeedFollowers.Load() == 0 })
}

func TestFeedPaging(t *testing.T) {
	e := newEnv(t, withMemoryStore())
	n := authority.MaxFeedPage + 5
	for i := range n {
		id := make([]byte, 64)
		id[0], id[1] = byte(i>>8), byte(i)
		e.revoke(adminToken, map[string]string{"revocation_id": hex.EncodeToString(id)})
	}
	f := e.feed(0)
	if len(f.Entries) != authority.MaxFeedPage || f.Next != uint64(authority.MaxFeedPage) {
		t.Fatalf("first page: %d entries, next %d", len(f.Entries), f.Next)
	}
	if f = e.feed(f.Next); len(f.Entries) != 5 || f.Next != uint64(n) {
		t.Fatalf("second page: %d entries, next %d", len(f.Entries), f.Next)
	}
}

func TestRevocationExpiry(t *testing.T) {
	c := newClock()
	e := newEnv(t, withClock(c))
	m := e.mint(adminToken, mintReq{Agent: "a", Rights: crmMint("").Rights, TTLSeconds: 60})
	long := e.mint(adminToken, mintReq{Agent: "b", Rights: crmMint("").Rights, TTLSeconds: 3600})
	e.revoke(adminToken, map[string]string{"token": m.Token})
	e.revoke(adminToken, map[string]string{"token": long.Token})
	if f := e.feed(0); len(f.Entries) != 2 {
		t.Fatalf("feed = %+v", f)
	}
	// Past the short token's expiry plus the retention grace, its entry
	// leaves the log (and memory); the sequence numbers are not reused.
	c.Advance(61*time.Second + authority.RetentionGrace)
	if n := e.a.Prune(); n != 1 {
		t.Errorf("Prune dropped %d entries, want 1", n)
	}
	f := e.feed(0)
	if len(f.Entries) != 1 || f.Entries[0].RevocationID != long.RevocationIDs[0] || f.Entries[0].Seq != 2 {
		t.Fatalf("feed after expiry = %+v", f)
	}
	// Revoking an expired token is a no-op.
	rr := e.revoke("", map[string]string{"token": m.Token})
	if !rr.Expired || len(rr.Entries) != 0 {
		t.Errorf("revoking an expired token = %+v", rr)
	}
	m3 := e.mint(adminToken, mintReq{Agent: "c", Rights: crmMint("").Rights, TTLSeconds: 60})
	if rr := e.revoke("", map[string]string{"token": m3.Token}); rr.Entries[0].Seq != 3 {
		t.Errorf("new entry seq = %d, want 3", rr.Entries[0].Seq)
	}
}

func TestKeyRotation(t *testing.T) {
	c := newClock()
	e := newEnv(t, withClock(c))
	before := e.mint(adminToken, crmMint(""))
	ks := e.keySet()

	r := e.do(http.MethodPost, "/v1/keys/rotate", adminToken, nil)
	if r.status != http.StatusOK {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	var keys struct {
		Keys []struct {
			KeyID    uint32 `json:"key_id"`
			Status   string `json:"status"`
			NotAfter string `json:"not_after"`
		} `json:"keys"`
	}
	r.json(t, &keys)
	if len(keys.Keys) != 2 || keys.Keys[0].Status != "active" || keys.Keys[1].Status != "retiring" ||
		keys.Keys[1].KeyID != before.KeyID || keys.Keys[0].KeyID == before.KeyID || keys.Keys[0].NotAfter != "" {
		t.Fatalf("keys after rotation = %+v", keys)
	}
	notAfter, _ := time.Parse(time.RFC3339, keys.Keys[1].NotAfter)
	if want := c.Now().Add(token.MaxTTL); notAfter.Before(want) || notAfter.After(want.Add(2*time.Second)) {
		t.Errorf("retiring not_after = %v, want rotation time + MaxTTL (%v)", notAfter, want)
	}
	after := e.mint(adminToken, crmMint(""))
	if after.KeyID != keys.Keys[0].KeyID {
		t.Errorf("new token key ID %d, want the new key %d", after.KeyID, keys.Keys[0].KeyID)
	}
	// A verifier that refreshed its keys accepts both; one that did not
	// knows only the old key.
	ks2 := e.keySet()
	for name, tok := range map[string]string{"old": before.Token, "new": after.Token} {
		u, _ := token.ParseString(tok)
		if _, err := u.Verify(ks2, c.Now()); err != nil {
			t.Errorf("%s token does not verify with the rotated key set: %v", name, err)
		}
		if e.introspect(adminToken, tok)["active"] != true {
			t.Errorf("%s token inactive after rotation", name)
		}
	}
	u, _ := token.ParseString(after.Token)
	if _, err := u.Verify(ks, c.Now()); !errors.Is(err, token.ErrUnknownKey) {
		t.Errorf("new token with the old key set: %v, want ErrUnknownKey", err)
	}
	// The old key survives a restart: reopen the same data folder.
	var bwk []map[string]any
	e.do(http.MethodGet, "/.well-known/biscuit-web-keys", "", nil).json(t, &bwk)
	if len(bwk) != 2 || bwk[1]["expires_at"] != keys.Keys[1].NotAfter {
		t.Errorf("biscuit web keys = %v", bwk)
	}
	// Past not_after, the old key is dropped and its tokens no longer
	// verify here.
	c.Advance(token.MaxTTL + 3*time.Second)
	e.do(http.MethodGet, "/v1/keys", "", nil).json(t, &keys)
	if len(keys.Keys) != 1 || keys.Keys[0].KeyID != after.KeyID {
		t.Errorf("keys past not_after = %+v", keys)
	}
	e.do(http.MethodPost, "/v1/revocations", "", map[string]string{"token": before.Token}).wantError(t, http.StatusBadRequest, "invalid_request")
	// A second rotation drops the retired key from the manifest and its
	// private key file from disk.
	if r := e.do(http.MethodPost, "/v1/keys/rotate", adminToken, nil); r.status != 200 {
		t.Fatal(r.status)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "keys", fmt.Sprintf("key-%08x.pem", before.KeyID))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("retired key file still on disk: %v", err)
	}
}

func TestRotationSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	open := func() *authority.Authority {
		a, err := authority.Open(context.Background(), authority.Config{DataDir: dir, AdminToken: adminToken})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := open()
	first := a.Keys()
	if _, err := a.Rotate(context.Background(), authority.Principal{Admin: true}); err != nil {
		t.Fatal(err)
	}
	rotated := a.Keys()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a = open()
	defer a.Close()
	got := a.Keys()
	if len(got) != 2 || got[0].ID != rotated[0].ID || got[1].ID != first[0].ID || got[1].Status != authority.KeyRetiring || !got[1].NotAfter.Equal(rotated[1].NotAfter) {
		t.Errorf("keys after restart = %+v, want %+v", got, rotated)
	}
	if _, err := a.Rotate(context.Background(), authority.Principal{ClientID: "x"}); !errors.Is(err, authority.ErrForbidden) {
		t.Errorf("client rotation: %v, want ErrForbidden", err)
	}
}

func TestFirstStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var out bytes.Buffer
	a, err := authority.Open(context.Background(), authority.Config{DataDir: dir, AdminTokenOutput: &out})
	if err != nil {
		t.Fatal(err)
	}
	printed := out.String()
	var tok string
	for _, f := range strings.Fields(printed) {
		if strings.HasPrefix(f, "mda_") {
			tok = f
		}
	}
	if tok == "" {
		t.Fatalf("no admin token printed: %q", printed)
	}
	if p, err := a.Authenticate(tok); err != nil || !p.Admin {
		t.Errorf("printed admin token: %v", err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "keys"): 0o700} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %o (err %v)", path, fi.Mode().Perm(), want, err)
		}
	}
	pems, _ := filepath.Glob(filepath.Join(dir, "keys", "*.pem"))
	if len(pems) != 1 {
		t.Fatalf("%d key files", len(pems))
	}
	if fi, _ := os.Stat(pems[0]); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %o, want 0600", fi.Mode().Perm())
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	// Second start: no new token printed, the first one still works.
	out.Reset()
	a, err = authority.Open(context.Background(), authority.Config{DataDir: dir, AdminTokenOutput: &out})
	if err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Errorf("second start printed %q", out.String())
	}
	if _, err := a.Authenticate(tok); err != nil {
		t.Errorf("admin token after restart: %v", err)
	}
	a.Close()
	// MANDATE_ADMIN_TOKEN replaces it; a short one is refused.
	if _, err := authority.Open(context.Background(), authority.Config{DataDir: dir, AdminToken: "short"}); err == nil {
		t.Error("a short admin token was accepted")
	}
	a, err = authority.Open(context.Background(), authority.Config{DataDir: dir, AdminToken: adminToken})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(tok); !errors.Is(err, authority.ErrUnauthenticated) {
		t.Errorf("old admin token after MANDATE_ADMIN_TOKEN: %v", err)
	}
	if _, err := a.Authenticate(adminToken); err != nil {
		t.Errorf("new admin token: %v", err)
	}
	a.Close()
	// A key file readable by others is refused.
	if err := os.Chmod(pems[0], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := authority.Open(context.Background(), authority.Config{DataDir: dir, AdminToken: adminToken}); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("open with a 0644 key file: %v", err)
	}
}

func TestServeGracefulShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- authority.Serve(ctx, authority.ServeConfig{
			Config: authority.Config{DataDir: t.TempDir(), AdminToken: adminToken},
			Addr:   "127.0.0.1:0",
			Ready:  func(a net.Addr) { addr <- a.String() },
		})
	}()
	base := "http://" + <-addr
	polled := make(chan int, 1)
	go func() {
		r, err := http.Get(base + "/v1/revocations?wait=30s")
		if err != nil {
			polled <- -1
			return
		}
		r.Body.Close()
		polled <- r.StatusCode
	}()
	// Wait until the long-poll is in (it shows in the metrics).
	waitFor(t, "the long-poll", func() bool {
		r, err := http.Get(base + "/metrics")
		if err != nil {
			return false
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return strings.Contains(string(b), "mandate_feed_followers 1\n")
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if code := <-polled; code != http.StatusOK {
		t.Errorf("long-poll ended with %d, want 200 (empty page) on shutdown", code)
	}
}
