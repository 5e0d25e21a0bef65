package main

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/mandate-dev/mandate/examples/internal/outtest"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestGinServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	app, err := start(ctx, config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if !strings.HasPrefix(app.URL, "http://127.0.0.1:") {
		t.Fatalf("URL %q is not on 127.0.0.1", app.URL)
	}
	d := app.Demo

	tests := []struct {
		name       string
		method     string
		path       string
		tok        string
		body       string
		wantStatus int
		want       string // in the body
	}{
		{name: "read allowed", method: "GET", path: "/accounts/42", tok: d.Support, wantStatus: 200, want: `"agent":"support-bot"`},
		{name: "read other account", method: "GET", path: "/accounts/7", tok: d.Support, wantStatus: 200, want: `"account":"7"`},
		{name: "no token", method: "GET", path: "/accounts/42", wantStatus: 401, want: `"error":"unauthorized"`},
		{name: "bad token", method: "GET", path: "/accounts/42", tok: "x" + d.Support, wantStatus: 401, want: `"error":"invalid_token"`},
		{name: "refunds token cannot read", method: "GET", path: "/accounts/42", tok: d.Refunds, wantStatus: 403, want: `"error":"caveat_denied"`},
		{name: "refund within bound", method: "POST", path: "/accounts/42/refunds", tok: d.Refunds, body: `{"amount":300,"reason":"late"}`, wantStatus: 200, want: `"refunded":300`},
		{name: "refund over bound", method: "POST", path: "/accounts/42/refunds", tok: d.Refunds, body: `{"amount":900,"reason":"late"}`, wantStatus: 403, want: `"error":"caveat_denied"`},
		{name: "refund on 420 (prefix pitfall avoided)", method: "POST", path: "/accounts/420/refunds", tok: d.Support, body: `{"amount":1,"reason":"x"}`, wantStatus: 403, want: `"scope":"crm:refund:write:account:acme/420/refunds"`},
		{name: "refund elsewhere", method: "POST", path: "/accounts/7/refunds", tok: d.Support, body: `{"amount":100,"reason":"late"}`, wantStatus: 403, want: "no right covers"},
		{name: "support refunds any amount", method: "POST", path: "/accounts/42/refunds", tok: d.Support, body: `{"amount":900,"reason":"late"}`, wantStatus: 200, want: `"refunded":900`},
		{name: "fractional amount", method: "POST", path: "/accounts/42/refunds", tok: d.Support, body: `{"amount":9.5,"reason":"late"}`, wantStatus: 400, want: "minor units"},
		{name: "not JSON", method: "POST", path: "/accounts/42/refunds", tok: d.Support, body: `amount=9`, wantStatus: 400, want: "send a JSON body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, app.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.tok != "" {
				req.Header.Set("Authorization", "Bearer "+tt.tok)
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus || !bytes.Contains(body, []byte(tt.want)) {
				t.Errorf("%s %s: %d %s; want %d containing %s", tt.method, tt.path, resp.StatusCode, body, tt.wantStatus, tt.want)
			}
			if !json.Valid(body) {
				t.Errorf("body is not JSON: %s", body)
			}
			// Only token problems and missing rights invite the client to
			// authorize; a caveat denial carries no challenge.
			www := resp.Header.Get("WWW-Authenticate")
			challenge := tt.wantStatus == 401 || tt.wantStatus == 403 && !strings.Contains(tt.want, "caveat_denied")
			if challenge && !strings.HasPrefix(www, `Bearer realm="crm"`) {
				t.Errorf("WWW-Authenticate %q, want a Bearer challenge for realm crm", www)
			}
			if !challenge && www != "" {
				t.Errorf("WWW-Authenticate %q, want none", www)
			}
		})
	}
}

// TestRun runs main's logic: flags, start, the printed instructions, and a
// clean stop when the context ends.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out outtest.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"--addr", "127.0.0.1:0"}, &out) }()
	if !out.WaitFor(t, "Stop with Ctrl-C.") {
		cancel()
		t.Fatalf("run printed %q; want the demo instructions", out.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, want := range []string{"gin tool API listening on http://127.0.0.1:", "SUPPORT=", "REFUNDS=", "curl -i"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if err := run(context.Background(), []string{"--no-such-flag"}, io.Discard); err == nil {
		t.Error("run accepted an unknown flag")
	}
}
