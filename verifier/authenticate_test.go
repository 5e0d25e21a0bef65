package verifier_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
)

type revokeOne []byte

func (r revokeOne) Revoked(ids [][]byte) int {
	for i, id := range ids {
		if string(id) == string(r) {
			return i
		}
	}
	return -1
}

func TestAuthenticate(t *testing.T) {
	key, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	other, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	mint := func(k token.SigningKey, at time.Time) *token.Minted {
		m, err := token.Mint(k, token.MintRequest{
			Subject: token.Subject{Agent: "bot", Session: "s_1"},
			Rights:  []token.Right{{Service: "crm", Tool: "*", Operation: "read", Resource: "account:"}},
			TTL:     time.Hour,
			Now:     at,
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	good := mint(key, now)
	revoked := mint(key, now)
	// A block that expires in a minute, checked by a verifier two minutes on.
	shortLived, err := attenuate.New(good.Token)
	if err != nil {
		t.Fatal(err)
	}
	short, err := shortLived.TTL(time.Minute).Build()
	if err != nil {
		t.Fatal(err)
	}
	later := func() time.Time { return now.Add(2 * time.Minute) }

	tests := []struct {
		name    string
		tok     string
		now     func() time.Time
		fresh   func() error
		ctx     context.Context
		wantErr error // nil: valid
		invalid bool
	}{
		{name: "valid", tok: good.Token},
		{name: "valid attenuated", tok: short},
		{name: "garbage", tok: "nope", wantErr: token.ErrInvalid, invalid: true},
		{name: "unknown key", tok: mint(other, now).Token, wantErr: token.ErrUnknownKey, invalid: true},
		{name: "expired authority block", tok: mint(key, now.Add(-2*time.Hour)).Token, wantErr: token.ErrExpired, invalid: true},
		{name: "expired attenuation block", tok: short, now: later, wantErr: token.ErrExpired, invalid: true},
		{name: "revoked", tok: revoked.Token, wantErr: verifier.ErrRevoked, invalid: true},
		{name: "stale", tok: good.Token, fresh: func() error { return errors.New("feed unreachable") }, wantErr: verifier.ErrStale}, // the verifier's state, not the token: 503
		{name: "canceled", tok: good.Token, ctx: canceled(), wantErr: verifier.ErrCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := verifier.New(verifier.Config{
				Keys:        token.NewKeySet(key.Public()),
				Revocations: revokeOne(revoked.RevocationIDs[0]),
				Fresh:       tt.fresh,
				Now:         tt.now,
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			d := v.Authenticate(ctx, tt.tok)
			if tt.wantErr == nil {
				if !d.Allowed || d.Err != nil || d.Session != "s_1" || d.Agent != "bot" || len(d.RevocationIDs) != d.Blocks || d.DecisionID == "" {
					t.Fatalf("Authenticate = %+v, want a valid token of session s_1", d)
				}
				return
			}
			if d.Allowed {
				t.Fatal("Authenticate allowed, want a denial")
			}
			if !errors.Is(d.Err, tt.wantErr) || !errors.Is(d.Err, verifier.ErrDenied) {
				t.Errorf("Err = %v, want errors.Is %v and ErrDenied", d.Err, tt.wantErr)
			}
			if d.InvalidToken() != tt.invalid {
				t.Errorf("InvalidToken() = %v, want %v", d.InvalidToken(), tt.invalid)
			}
			if d.Reason == "" {
				t.Error("no reason")
			}
		})
	}
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
