package verifier

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/token"
)

// TestKind: every denial is classified by who can fix it. A caveat in an
// attenuation block is never something a broader grant fixes, even when no
// right covers the call either; a check of the authority block (expiry) is
// a token problem.
func TestKind(t *testing.T) {
	a := newTestAuthority(t)
	ctx := context.Background()
	now := time.Now()
	tok := a.mint(t, time.Hour)
	onlyGet := appendBlock(t, tok, `check if tool($t), ["get_account"].contains($t)`)
	capped := appendBlock(t, tok, `check if tool($t), !($t == "refund") or arg("amount", $a), $a <= 500`)
	soon := appendBlock(t, tok, fmt.Sprintf(`check if time($t), $t <= %s`, now.Add(time.Minute).UTC().Format(time.RFC3339)))
	refund := func(amount int) Request {
		return Request{Service: "crm", Tool: "refund", Operation: "write", Resource: "account:acme/42", Args: map[string]any{"amount": amount}}
	}
	globex := Request{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:globex/7"}
	stale := func(c *Config) { c.Fresh = func() error { return errors.New("feed unreachable") } }
	later := func(c *Config) { c.Now = func() time.Time { return now.Add(2 * time.Minute) } }
	canceled, cancel := context.WithCancel(ctx)
	cancel()

	tests := []struct {
		name      string
		tok       string
		req       Request
		cfg       func(*Config)
		ctx       context.Context
		want      Kind
		wantErr   error
		wantScope string
		wantBlock int // failed check's block, -1 for none
	}{
		{name: "allowed", tok: tok, req: readAccount, want: "", wantBlock: -1},
		{name: "garbage token", tok: "garbage", req: readAccount, want: KindInvalidToken, wantErr: token.ErrInvalid, wantBlock: -1},
		{name: "expired token", tok: a.mint(t, time.Minute), req: readAccount, cfg: later, want: KindInvalidToken, wantErr: token.ErrExpired, wantBlock: 0},
		{name: "expired by an attenuation block", tok: soon, req: readAccount, cfg: later, want: KindInvalidToken, wantErr: token.ErrExpired, wantBlock: 1},
		{name: "no right covers", tok: tok, req: globex, want: KindInsufficientScope, wantErr: ErrNoRight, wantScope: "crm:get_account:read:account:globex/7", wantBlock: -1},
		{name: "no right covers, attenuated but no caveat denies", tok: capped, req: globex, want: KindInsufficientScope, wantErr: ErrNoRight, wantScope: "crm:get_account:read:account:globex/7", wantBlock: -1},
		{name: "caveat denies", tok: capped, req: refund(900), want: KindCaveat, wantErr: ErrCheckFailed, wantBlock: 1},
		{name: "caveat denies and no right covers", tok: onlyGet, req: Request{Service: "crm", Tool: "refund", Operation: "write", Resource: "account:globex/7"}, want: KindCaveat, wantErr: ErrCheckFailed, wantBlock: 1},
		{name: "bad request", tok: tok, req: Request{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/../globex"}, want: KindBadRequest, wantErr: ErrBadRequest, wantBlock: -1},
		{name: "stale revocations", tok: tok, req: readAccount, cfg: stale, want: KindUnavailable, wantErr: ErrStale, wantBlock: -1},
		{name: "canceled", tok: tok, req: readAccount, ctx: canceled, want: KindUnavailable, wantErr: ErrCanceled, wantBlock: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mut []func(*Config)
			if tt.cfg != nil {
				mut = append(mut, tt.cfg)
			}
			v := newVerifier(t, a, mut...)
			c := tt.ctx
			if c == nil {
				c = ctx
			}
			d := v.Authorize(c, tt.tok, tt.req)
			if got := d.Kind(); got != tt.want {
				t.Fatalf("Kind() = %q, want %q (err %v)", got, tt.want, d.Err)
			}
			if tt.wantErr != nil && (!errors.Is(d.Err, tt.wantErr) || !errors.Is(d.Err, ErrDenied)) {
				t.Errorf("Err = %v, want errors.Is %v and ErrDenied", d.Err, tt.wantErr)
			}
			if got := d.Scope(); got != tt.wantScope {
				t.Errorf("Scope() = %q, want %q", got, tt.wantScope)
			}
			block := -1
			if d.FailedCheck != nil {
				block = d.FailedCheck.Block
			}
			if block != tt.wantBlock {
				t.Errorf("failed check block %d, want %d", block, tt.wantBlock)
			}
			if tt.want.GrantCanFix() != (tt.want == KindInsufficientScope) {
				t.Error("only insufficient_scope is fixable by a grant")
			}
			if r, err := token.ParseScope(d.Scope()); d.Scope() != "" && (err != nil || !r.Covers(tt.req.Service, tt.req.Tool, tt.req.Operation, tt.req.Resource)) {
				t.Errorf("scope %q does not parse to a right covering the call: %+v %v", d.Scope(), r, err)
			}
		})
	}
}

// TestWriteChallengePerKind: only token problems and insufficient_scope
// carry a Bearer challenge; nothing else invites a client to authorize.
func TestWriteChallengePerKind(t *testing.T) {
	tests := []struct {
		kind      Kind
		err       error
		fc        *FailedCheck
		status    int
		challenge string // substring; "" for none
	}{
		{KindNoToken, fmt.Errorf("%w: %w", ErrDenied, ErrNoToken), nil, 401, `Bearer realm="mandate", resource_metadata="http://m"`},
		{KindInvalidToken, fmt.Errorf("%w: %w", ErrDenied, token.ErrMalformed), nil, 401, `error="invalid_token"`},
		{KindInsufficientScope, &NoRightError{Right: token.Right{Service: "s", Tool: "t", Operation: "o", Resource: "r:1"}}, nil, 403, `scope="s:t:o:r:1"`},
		{KindCaveat, ErrCheckFailed, &FailedCheck{Block: 2, Check: 0, Text: "check if x"}, 403, ""},
		{KindBadRequest, ErrBadRequest, nil, 400, ""},
		{KindUnavailable, ErrStale, nil, 503, ""},
		{KindDenied, ErrEvaluation, nil, 403, ""},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			d := &Decision{Err: tt.err, FailedCheck: tt.fc, Reason: "r", DecisionID: "d_1"}
			if d.Kind() != tt.kind || StatusOf(d) != tt.status {
				t.Fatalf("Kind %q status %d, want %q %d", d.Kind(), StatusOf(d), tt.kind, tt.status)
			}
			rec := httptest.NewRecorder()
			WriteChallenge(rec, StatusOf(d), d, HTTPOptions{ResourceMetadata: "http://m"})
			www := rec.Header().Get("WWW-Authenticate")
			if (tt.challenge == "") != (www == "") || !strings.Contains(www, tt.challenge) {
				t.Errorf("WWW-Authenticate %q, want %q", www, tt.challenge)
			}
			if !strings.Contains(rec.Body.String(), `"error":"`+string(tt.kind)+`"`) {
				t.Errorf("body %s, want error %q", rec.Body, tt.kind)
			}
			if tt.status == http.StatusServiceUnavailable && rec.Header().Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		})
	}
}
