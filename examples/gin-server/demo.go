package main

import (
	"fmt"
	"io"
	"time"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/token"
)

// Demo is the self-contained mode: an in-process root key and two tokens
// minted with it, as the authority would.
type Demo struct {
	key token.SigningKey
	// Support may read every acme account and refund any amount on 42.
	Support string
	// Refunds is Support attenuated offline: refunds only, on account 42,
	// at most 500 cents, for 10 minutes.
	Refunds string
}

func newDemo() (*Demo, error) {
	key, err := token.GenerateKey()
	if err != nil {
		return nil, err
	}
	m, err := token.Mint(key, token.MintRequest{
		Subject: token.Subject{Agent: "support-bot", User: "alice@acme.test", Org: "acme"},
		Rights: []token.Right{
			{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/"},
			// A trailing separator: "account:acme/42" would also cover
			// "account:acme/420".
			{Service: "crm", Tool: "refund", Operation: "write", Resource: "account:acme/42/"},
		},
		TTL: time.Hour,
	})
	if err != nil {
		return nil, err
	}
	b, err := attenuate.New(m.Token)
	if err != nil {
		return nil, err
	}
	refunds, err := b.Tools("refund").ResourcePrefix("account:acme/42").ArgMax("refund", "amount", 500).
		TTL(10 * time.Minute).DelegatedTo("refunds-bot").Build()
	if err != nil {
		return nil, err
	}
	return &Demo{key: key, Support: m.Token, Refunds: refunds}, nil
}

func (d *Demo) print(out io.Writer, url string) {
	fmt.Fprintf(out, `
Demo mode: an in-process root key signed two tokens.
  SUPPORT=%s
  REFUNDS=%s   (attenuated: refund only, account 42, amount <= 500)

Try:
  curl -i %[3]s/accounts/42 -H "Authorization: Bearer $SUPPORT"                 # 200
  curl -i %[3]s/accounts/42                                                   # 401, bare challenge
  curl -i %[3]s/accounts/42 -H "Authorization: Bearer $REFUNDS"                 # 403 caveat_denied, the refunds token cannot read
  curl -i %[3]s/accounts/42/refunds -H "Authorization: Bearer $REFUNDS" -d '{"amount":300,"reason":"late"}'   # 200
  curl -i %[3]s/accounts/42/refunds -H "Authorization: Bearer $REFUNDS" -d '{"amount":900,"reason":"late"}'   # 403 caveat_denied, amount over 500
  curl -i %[3]s/accounts/7/refunds  -H "Authorization: Bearer $SUPPORT" -d '{"amount":100,"reason":"late"}'   # 403 insufficient_scope, scope crm:refund:write:account:acme/7/refunds
Stop with Ctrl-C.
`, d.Support, d.Refunds, url)
}
