package attenuate_test

import (
	"testing"
	"time"

	"github.com/mandate-dev/mandate/attenuate"
)

// BenchmarkAttenuate measures one offline attenuation with a 3-caveat block:
// parse the token, add the caveats, append, sign, and read the result back.
func BenchmarkAttenuate(b *testing.B) {
	a := newAuthority(b)
	tok := a.mint(b)
	clock := attenuate.WithClock(clockAt(t0))
	b.ReportAllocs()
	for b.Loop() {
		bl, err := attenuate.New(tok, clock)
		if err != nil {
			b.Fatal(err)
		}
		_, err = bl.Tools("get_account", "list_invoices").
			ResourcePrefix("account:acme/42").
			TTL(10 * time.Minute).
			Build()
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAttenuateRawCheck shows the cost of biscuit-go's text parser,
// which a raw Check pays once.
func BenchmarkAttenuateRawCheck(b *testing.B) {
	a := newAuthority(b)
	tok := a.mint(b)
	b.ReportAllocs()
	for b.Loop() {
		bl, err := attenuate.New(tok)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := bl.Check(`check if tool($t), ["get_account", "list_invoices"].contains($t)`).Build(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSeal measures sealing a token.
func BenchmarkSeal(b *testing.B) {
	a := newAuthority(b)
	tok := a.mint(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := attenuate.Seal(tok); err != nil {
			b.Fatal(err)
		}
	}
}
