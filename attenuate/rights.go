package attenuate

import (
	"github.com/biscuit-auth/biscuit-go/v2"

	"github.com/mandate-dev/mandate/token"
)

// Rights allows only calls that one of rights covers, read as the
// authority reads a right: tool and operation "*" for any, the resource a
// plain string prefix. One check, one branch per right:
//
//	check if service($s), tool($t), operation($o), resource($r),
//	         $s == "github", $t == "read_file", $o == "read", $r.starts_with("repo:acme/")
//	      or service($s), tool($t), operation($o), resource($r), $s == "crm", $r.starts_with("account:acme/")
//
// At most token.MaxQueriesPerCheck rights. The result is never wider than
// the token: a call must still be covered by a right of the authority
// block. The authority's OAuth token exchange (RFC 8693) narrows tokens
// with it.
func (b *Builder) Rights(rights ...token.Right) *Builder {
	const method = "Rights"
	if b.err != nil {
		return b
	}
	if len(rights) == 0 {
		return b.fail(caveatError(method, "no right given: a token that allows nothing is not a caveat"))
	}
	if len(rights) > token.MaxQueriesPerCheck {
		return b.fail(limitError(method, "%d rights is over the limit of %d branches in one check", len(rights), token.MaxQueriesPerCheck))
	}
	s, t, o, r := biscuit.Variable("s"), biscuit.Variable("t"), biscuit.Variable("o"), biscuit.Variable("r")
	body := []biscuit.Predicate{pred(token.FactService, s), pred(token.FactTool, t), pred(token.FactOperation, o), pred(token.FactResource, r)}
	var c biscuit.Check
	for _, rt := range rights {
		if err := checkName(method, "service", rt.Service); err != nil {
			return b.fail(err)
		}
		if rt.Service == token.Wildcard {
			return b.fail(caveatError(method, "service cannot be %q", token.Wildcard))
		}
		exprs := []biscuit.Expression{{value(s), value(biscuit.String(rt.Service)), biscuit.BinaryEqual}}
		for _, f := range []struct {
			what string
			v    string
			x    biscuit.Variable
		}{{"tool", rt.Tool, t}, {"operation", rt.Operation, o}} {
			if err := checkName(method, f.what, f.v); err != nil {
				return b.fail(err)
			}
			if f.v != token.Wildcard {
				exprs = append(exprs, biscuit.Expression{value(f.x), value(biscuit.String(f.v)), biscuit.BinaryEqual})
			}
		}
		if rt.Resource != "" {
			if err := checkResource(method, "resource prefix", rt.Resource); err != nil {
				return b.fail(err)
			}
			exprs = append(exprs, biscuit.Expression{value(r), value(biscuit.String(rt.Resource)), biscuit.BinaryPrefix})
		}
		c.Queries = append(c.Queries, query(body, exprs...))
	}
	return b.addCheck(method, c)
}

// Audience binds the token to one resource server, as the authority's
// MintRequest.Audience does: only a verifier that states
// audience(aud) (mcpmw with Options.Audience) accepts it.
//
//	check if audience($a), $a == "https://crm.example.com/mcp"
func (b *Builder) Audience(aud string) *Builder {
	const method = "Audience"
	if b.err != nil {
		return b
	}
	if err := checkName(method, "audience", aud); err != nil {
		return b.fail(err)
	}
	a := biscuit.Variable("a")
	return b.addCheck(method, check(query([]biscuit.Predicate{pred(token.FactAudience, a)},
		biscuit.Expression{value(a), value(biscuit.String(aud)), biscuit.BinaryEqual})))
}
