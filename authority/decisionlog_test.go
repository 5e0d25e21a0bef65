package authority_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/decisions"
	"github.com/mandate-dev/mandate/authority/kv"
	"github.com/mandate-dev/mandate/token"
)

func (e *env) addVerifier(name string) string {
	e.t.Helper()
	r := e.do(http.MethodPost, "/v1/verifiers", adminToken, map[string]string{"name": name})
	if r.status != http.StatusCreated {
		e.t.Fatalf("add verifier: %d %s", r.status, r.body)
	}
	var out struct {
		Credential string `json:"credential"`
	}
	r.json(e.t, &out)
	return out.Credential
}

func decisionJSON(i int, session string, allowed bool) map[string]any {
	d := map[string]any{
		"id": fmt.Sprintf("d_http_%d", i), "time": time.Now().UTC().Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano),
		"allowed": allowed, "reason": "allowed", "service": "crm", "tool": "get_account", "operation": "read",
		"resource": "account:acme/42", "session": session, "agent": "support-bot", "org": "acme",
		"revocation_ids": []string{"00ff"}, "duration_ns": 1000,
	}
	if !allowed {
		d["kind"], d["reason"] = "caveat_denied", "an attenuation forbids this call"
	}
	return d
}

func batchOf(n int, session string) map[string]any {
	ds := make([]map[string]any, n)
	for i := range ds {
		ds[i] = decisionJSON(i, session, i%2 == 0)
	}
	return map[string]any{"decisions": ds}
}

type pageJSON struct {
	Decisions []struct {
		Seq      uint64 `json:"seq"`
		ID       string `json:"id"`
		Verifier string `json:"verifier"`
		Allowed  bool   `json:"allowed"`
		Session  string `json:"session"`
	} `json:"decisions"`
	Next string `json:"next"`
}

func (e *env) decisions(query string) pageJSON {
	e.t.Helper()
	r := e.do(http.MethodGet, "/v1/decisions?"+query, adminToken, nil)
	if r.status != http.StatusOK {
		e.t.Fatalf("GET /v1/decisions?%s: %d %s", query, r.status, r.body)
	}
	var p pageJSON
	r.json(e.t, &p)
	return p
}

func TestVerifierCredentials(t *testing.T) {
	var logs syncBuffer
	e := newEnv(t, withLogger(&logs))
	client := e.register("platform", crmCeiling)
	e.do(http.MethodPost, "/v1/verifiers", "", map[string]string{"name": "crm"}).wantError(t, 401, "unauthorized")
	e.do(http.MethodPost, "/v1/verifiers", client, map[string]string{"name": "crm"}).wantError(t, 403, "insufficient_scope")
	e.do(http.MethodPost, "/v1/verifiers", adminToken, map[string]string{"name": "Bad Name"}).wantError(t, 400, "invalid_request")
	e.do(http.MethodPost, "/v1/verifiers", adminToken, map[string]string{"nom": "crm"}).wantError(t, 400, "invalid_request")
	cred := e.addVerifier("crm")
	if !strings.HasPrefix(cred, "mdv_crm.") {
		t.Fatalf("credential %.12q…", cred)
	}
	e.do(http.MethodPost, "/v1/verifiers", adminToken, map[string]string{"name": "crm"}).wantError(t, 409, "already_exists")
	r := e.do(http.MethodGet, "/v1/verifiers", adminToken, nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"name":"crm"`) || strings.Contains(string(r.body), cred[8:]) {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	e.do(http.MethodGet, "/v1/verifiers", client, nil).wantError(t, 403, "insufficient_scope")
	if r := e.do(http.MethodPost, "/v1/decisions", cred, batchOf(1, "s")); r.status != 200 {
		t.Fatalf("ingest: %d %s", r.status, r.body)
	}
	if r := e.do(http.MethodDelete, "/v1/verifiers/crm", adminToken, nil); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	e.do(http.MethodDelete, "/v1/verifiers/crm", adminToken, nil).wantError(t, 404, "not_found")
	e.do(http.MethodPost, "/v1/decisions", cred, batchOf(1, "s")).wantError(t, 401, "invalid_token")
	for _, ev := range []string{`"event":"verifier_added"`, `"event":"verifier_deleted"`, `"event":"auth_failed"`} {
		if !strings.Contains(logs.String(), ev) {
			t.Errorf("no %s audit event", ev)
		}
	}
	if strings.Contains(logs.String(), cred[8:]) {
		t.Error("the verifier credential is in the logs")
	}
}

func TestIngestNeedsAVerifierCredential(t *testing.T) {
	e := newEnv(t)
	client := e.register("platform", crmCeiling)
	e.addVerifier("crm")
	for name, bearer := range map[string]string{
		"admin token":   adminToken,
		"client secret": client,
		"made up":       "mdv_crm.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	} {
		r := e.do(http.MethodPost, "/v1/decisions", bearer, batchOf(1, "s"))
		r.wantError(t, 401, "invalid_token")
		if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer realm=") {
			t.Errorf("%s: no challenge", name)
		}
	}
	e.do(http.MethodPost, "/v1/decisions", "", batchOf(1, "s")).wantError(t, 401, "unauthorized")
	if n := len(e.decisions("").Decisions); n != 0 {
		t.Errorf("%d decisions stored from unauthenticated batches", n)
	}
	// Reading needs the admin.
	e.do(http.MethodGet, "/v1/decisions", "", nil).wantError(t, 401, "unauthorized")
	e.do(http.MethodGet, "/v1/decisions", client, nil).wantError(t, 403, "insufficient_scope")
	e.do(http.MethodGet, "/v1/decisions/export", client, nil).wantError(t, 403, "insufficient_scope")
	e.do(http.MethodGet, "/v1/decisions/stream", client, nil).wantError(t, 403, "insufficient_scope")
	e.do(http.MethodPost, "/v1/decisions/head", client, nil).wantError(t, 403, "insufficient_scope")
}

func TestIngestRefusesBadBatchesWhole(t *testing.T) {
	e := newEnv(t)
	cred := e.addVerifier("crm")
	good := batchOf(3, "s")
	if r := e.do(http.MethodPost, "/v1/decisions", cred, good); r.status != 200 {
		t.Fatalf("good batch: %d %s", r.status, r.body)
	}
	withBad := func(mut func(d map[string]any)) map[string]any {
		b := batchOf(3, "s")
		mut(b["decisions"].([]map[string]any)[2])
		return b
	}
	big := batchOf(decisions.MaxBatch+1, "s")
	for name, body := range map[string]any{
		"not JSON":             "{",
		"trailing data":        `{"decisions":[]} {}`,
		"unknown field":        map[string]any{"decisions": []any{}, "extra": 1},
		"unknown record field": withBad(func(d map[string]any) { d["token"] = "eyJ..." }),
		"empty":                map[string]any{"decisions": []any{}},
		"no id":                withBad(func(d map[string]any) { delete(d, "id") }),
		"bad time":             withBad(func(d map[string]any) { d["time"] = "yesterday" }),
		"denied, no kind":      withBad(func(d map[string]any) { d["allowed"] = false; delete(d, "kind") }),
		"bad revocation ID":    withBad(func(d map[string]any) { d["revocation_ids"] = []string{"xyz"} }),
		"string duration":      withBad(func(d map[string]any) { d["duration_ns"] = "1ms" }),
		"over the count":       big,
	} {
		r := e.do(http.MethodPost, "/v1/decisions", cred, body)
		r.wantError(t, 400, "invalid_request")
		_ = name
	}
	huge := `{"decisions":[` + strings.Repeat(" ", decisions.MaxBatchBytes) + `]}`
	e.do(http.MethodPost, "/v1/decisions", cred, huge).wantError(t, 413, "request_too_large")
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/v1/decisions", strings.NewReader(jsonOf(t, good)))
	req.Header.Set("Authorization", "Bearer "+cred)
	req.Header.Set("Content-Type", "text/plain")
	e.send(req).wantError(t, 415, "unsupported_media_type")
	if n := len(e.decisions("limit=1000").Decisions); n != 3 {
		t.Errorf("%d decisions stored, want the 3 of the good batch only", n)
	}
	// A batch of several hundred KiB (over the API's usual body limit) is
	// taken.
	if r := e.do(http.MethodPost, "/v1/decisions", cred, batchOf(decisions.MaxBatch, "s")); r.status != 200 {
		t.Fatalf("full batch: %d %s", r.status, r.body)
	}
}

func TestQueryDecisionsOverHTTP(t *testing.T) {
	e := newEnv(t)
	cred := e.addVerifier("crm")
	e.do(http.MethodPost, "/v1/decisions", cred, batchOf(10, "s1"))
	e.do(http.MethodPost, "/v1/decisions", cred, batchOf(4, "client/s2"))
	if p := e.decisions("session=" + url.QueryEscape("client/s2")); len(p.Decisions) != 4 || p.Decisions[0].Verifier != "crm" {
		t.Errorf("session query: %+v", p)
	}
	if p := e.decisions("session=s1&allowed=false"); len(p.Decisions) != 5 {
		t.Errorf("denied in s1: %d", len(p.Decisions))
	}
	// Paging.
	seen := 0
	q := "agent=support-bot&limit=3"
	for {
		p := e.decisions(q)
		seen += len(p.Decisions)
		if p.Next == "" {
			break
		}
		q = "agent=support-bot&limit=3&cursor=" + p.Next
	}
	if seen != 14 {
		t.Errorf("paged through %d decisions, want 14", seen)
	}
	future := url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	if p := e.decisions("org=acme&after=" + future); len(p.Decisions) != 0 {
		t.Errorf("after the future: %d", len(p.Decisions))
	}
	for _, bad := range []string{"limit=0", "limit=x", "after=yesterday", "allowed=maybe", "sesion=s1", "session=a&session=b", "cursor=%21%21", "after=2026-01-02T00:00:00Z&before=2026-01-01T00:00:00Z"} {
		e.do(http.MethodGet, "/v1/decisions?"+bad, adminToken, nil).wantError(t, 400, "invalid_request")
	}
}

func TestDecisionStream(t *testing.T) {
	e := newEnv(t)
	cred := e.addVerifier("crm")
	e.do(http.MethodPost, "/v1/decisions", cred, batchOf(2, "old"))
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/v1/decisions/stream?session=live", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(res.Body)
	sc.Scan() // retry:
	e.do(http.MethodPost, "/v1/decisions", cred, batchOf(1, "other"))
	e.do(http.MethodPost, "/v1/decisions", cred, batchOf(2, "live"))
	var ids, datas []string
	for len(datas) < 2 && sc.Scan() {
		line := sc.Text()
		if id, ok := strings.CutPrefix(line, "id: "); ok {
			ids = append(ids, id)
		}
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			datas = append(datas, d)
		}
	}
	if len(datas) != 2 || ids[0] != "4" || ids[1] != "5" || !strings.Contains(datas[0], `"session":"live"`) {
		t.Fatalf("events: ids %v data %v", ids, datas)
	}
	// Reconnecting with Last-Event-ID replays what was missed.
	res.Body.Close()
	e.do(http.MethodPost, "/v1/decisions", cred, batchOf(1, "live"))
	req, _ = http.NewRequest(http.MethodGet, e.srv.URL+"/v1/decisions/stream?session=live", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Last-Event-ID", "5")
	res2, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res2.Body.Close()
	sc = bufio.NewScanner(res2.Body)
	for sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
			if id != "6" {
				t.Errorf("replayed %s, want 6", id)
			}
			break
		}
	}
	e.do(http.MethodGet, "/v1/decisions/stream?after=2026-01-01T00:00:00Z", adminToken, nil).wantError(t, 400, "invalid_request")
}

func TestExportAndSignedHeadOverHTTP(t *testing.T) {
	e := newEnv(t)
	cred := e.addVerifier("crm")
	e.do(http.MethodPost, "/v1/decisions", cred, batchOf(5, "s"))
	r := e.do(http.MethodPost, "/v1/decisions/head", adminToken, nil)
	var h decisions.Head
	r.json(t, &h)
	keys := map[uint32]ed25519.PublicKey{}
	for _, k := range e.a.Keys() {
		keys[k.ID] = k.PublicKey
	}
	if r.status != 200 || h.Seq != 5 || !h.Verify(keys[h.KeyID]) {
		t.Fatalf("signed head: %d %s", r.status, r.body)
	}
	r = e.do(http.MethodGet, "/v1/decisions/export", adminToken, nil)
	if r.status != 200 || r.header.Get("Content-Type") != "application/jsonl" {
		t.Fatalf("export: %d %s", r.status, r.body)
	}
	rep, err := decisions.VerifyExport(strings.NewReader(string(r.body)), keys)
	if err != nil || rep.Decisions != 5 || rep.Heads != 1 { // the export re-signs the head at 5
		t.Fatalf("verify: %+v %v", rep, err)
	}
	e.do(http.MethodGet, "/v1/decisions/export?after=x", adminToken, nil).wantError(t, 400, "invalid_request")
	e.do(http.MethodGet, "/v1/decisions/export?from=1", adminToken, nil).wantError(t, 400, "invalid_request")
}

// A decision altered on disk while the authority was stopped is found when
// it starts: the log refuses to serve, ingest or export (503), while the
// rest of the authority works.
func TestTamperedDecisionStoreIsRefused(t *testing.T) {
	dir := t.TempDir()
	open := func() *authority.Authority {
		a, err := authority.Open(context.Background(), authority.Config{DataDir: dir, AdminToken: adminToken, AdminTokenOutput: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := open()
	_, cred, err := a.AddVerifier(context.Background(), authority.Principal{Admin: true}, "crm")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Decisions().Append(context.Background(), "crm", []token.DecisionRecord{
		{ID: "d1", Time: time.Now(), Allowed: false, Kind: "caveat_denied", Reason: "no"},
		{ID: "d2", Time: time.Now(), Allowed: true, Reason: "allowed"},
	}); err != nil {
		t.Fatal(err)
	}
	a.Close()

	st, err := authority.OpenBadgerStore(filepath.Join(dir, "db"), authority.BadgerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns := st.Namespace("decisions")
	ent, err := ns.Get(context.Background(), "e/0000000000000001")
	if err != nil {
		t.Fatal(err)
	}
	v := []byte(strings.Replace(string(ent.Value), `"allowed":false`, `"allowed":true`, 1))
	if _, err := ns.Apply(context.Background(), kv.Put(ent.Key, v, ent.ExpiresAt)); err != nil {
		t.Fatal(err)
	}
	st.Close()

	e := &env{t: t, dir: dir}
	a = open()
	e.a = a
	e.srv = httptest.NewServer(authority.NewHandler(a))
	t.Cleanup(func() { a.Shutdown(); e.srv.Close(); a.Close() })
	if a.Decisions().Corrupt() == nil {
		t.Fatal("the altered decision was not detected at start")
	}
	r := e.do(http.MethodGet, "/v1/decisions", adminToken, nil)
	r.wantError(t, 503, "temporarily_unavailable")
	if !strings.Contains(string(r.body), "integrity") {
		t.Errorf("the answer does not say why: %s", r.body)
	}
	e.do(http.MethodGet, "/v1/decisions/export", adminToken, nil).wantError(t, 503, "temporarily_unavailable")
	e.do(http.MethodPost, "/v1/decisions", cred, batchOf(1, "s")).wantError(t, 503, "temporarily_unavailable")
	if r := e.do(http.MethodGet, "/v1/keys", "", nil); r.status != 200 {
		t.Errorf("the rest of the authority stopped: %d", r.status)
	}
}

// People read the decisions of their orgs only: the scope hook the
// console uses.
func TestPeopleReadTheirOrgs(t *testing.T) {
	e := newEnv(t)
	cred := e.addVerifier("crm")
	acme := batchOf(2, "s_acme")
	other := batchOf(3, "s_other")
	for _, d := range other["decisions"].([]map[string]any) {
		d["org"] = "other"
	}
	e.do(http.MethodPost, "/v1/decisions", cred, acme)
	e.do(http.MethodPost, "/v1/decisions", cred, other)
	viewer := e.addPerson("bob@acme.test", "viewer", "acme")
	everyOrg := e.addPerson("carol@acme.test", "viewer", "*")
	for name, tc := range map[string]struct {
		bearer, query string
		want          int
	}{
		"viewer, no filter":        {viewer, "", 2},
		"viewer, its org":          {viewer, "org=acme", 2},
		"viewer, another session":  {viewer, "session=s_other", 0},
		"viewer of every org":      {everyOrg, "", 5},
		"viewer of every org, org": {everyOrg, "org=other", 3},
	} {
		r := e.do(http.MethodGet, "/v1/decisions?"+tc.query, tc.bearer, nil)
		var p pageJSON
		r.json(t, &p)
		if r.status != 200 || len(p.Decisions) != tc.want {
			t.Errorf("%s: %d, %d decisions, want %d", name, r.status, len(p.Decisions), tc.want)
		}
	}
	e.do(http.MethodGet, "/v1/decisions?org=other", viewer, nil).wantError(t, 403, "insufficient_scope")
	e.do(http.MethodGet, "/v1/decisions/export", viewer, nil).wantError(t, 403, "insufficient_scope")
	e.do(http.MethodPost, "/v1/decisions", viewer, acme).wantError(t, 401, "invalid_token")
}
