// Package attenuate narrows a mandate token offline: an agent that holds a
// token appends a Biscuit v3 block of checks and hands the result to a
// sub-agent. No key, no network and no call to the authority are needed,
// and nothing appended can widen what the authority granted: the verifier
// only trusts the authority block's rights and its own request facts, and
// every check of every block must pass.
//
// # Delegating in four steps
//
//  1. Start a block on the token you hold with [New] (or [NewFromBytes]).
//     A sealed token, a token that cannot be read under mandate's limits,
//     and a token that already has the most blocks a verifier accepts are
//     refused here.
//  2. Add caveats. Each method validates its input at once and returns the
//     builder, so calls chain; the first error is kept and later calls do
//     nothing ([Builder.Err] reports it).
//  3. Call [Builder.Build]. It appends the block with biscuit-go, restores
//     the root key ID hint that biscuit-go drops, reads the result back with
//     the verifier's own parser and limits, and refuses anything a verifier
//     would reject, and any block whose decoded facts and checks differ,
//     term by term, from what the builder meant to write. A token whose
//     symbol tables overlap is refused by [New] (token.ErrSymbolOverlap):
//     biscuit-go and the verifier would read such a token's next block
//     differently.
//  4. Hand the new token to the sub-agent. To stop it from delegating
//     further, [Builder.Seal] before Build, or [Seal] the token.
//
// For example:
//
//	b, err := attenuate.New(tok)
//	if err != nil {
//		return err // unreadable, sealed or full: ask for another token
//	}
//	sub, err := b.Tools("get_account", "list_invoices", "refund").
//		ResourcePrefix("account:acme/42").
//		ArgMax("refund", "amount", 500).
//		TTL(10 * time.Minute).
//		DelegatedTo("billing-helper").
//		Build()
//
// # The Datalog each caveat appends
//
// The request facts a check can see are the verifier's: time, service,
// tool, operation, resource and arg (see package token). Each caveat is one
// check:
//
//	Tools("a", "b")          check if tool($t), ["a", "b"].contains($t)
//	Operations("read")       check if operation($o), ["read"].contains($o)
//	Services("crm")          check if service($s), ["crm"].contains($s)
//	Resource("doc/7")        check if resource($r), $r == "doc/7"
//	ResourcePrefix("doc/7")  check if resource($r), $r == "doc/7" || $r.starts_with("doc/7/")
//	ResourcePrefix("doc/")   check if resource($r), $r.starts_with("doc/")
//	ArgMax("refund", "amount", 500)
//	                         check if tool($t), !($t == "refund") or tool("refund"), arg("amount", $a), $a <= 500
//	ArgMin("refund", "amount", 1)
//	                         check if tool($t), !($t == "refund") or tool("refund"), arg("amount", $a), $a >= 1
//	ArgOneOf("send_email", "to", "bob@acme.test")
//	                         check if tool($t), !($t == "send_email") or tool("send_email"), arg("to", $v), ["bob@acme.test"].contains($v)
//	ExpiresAt(t), TTL(d)     check if time($time), $time <= 2026-11-22T10:05:00Z
//	Check(text)              the check as written
//
// and DelegatedTo("helper") adds the fact delegated_to("helper"), which
// grants and restricts nothing; it names the sub-agent for inspection and
// audit.
//
// Calling a caveat twice adds two checks, and both must hold: Tools("a",
// "b") then Tools("b", "c") allows only "b". Contradicting caveats are not
// an error; they simply allow nothing.
//
// # Where people go wrong
//
// Resource prefixes. The authority's rights use plain string prefixes, so a
// right on "account:acme/42" also covers "account:acme/420". ResourcePrefix
// is segment-aware: the prefix covers itself and what lies below a
// separator ("/" by default; [WithSeparators] adds others such as ":"), so
// "account:acme/42" does not cover "account:acme/420". Use [Builder.Resource]
// for one exact resource.
//
// Argument bounds. An argument caveat constrains only calls of its tool,
// and fails closed for that tool: a call of "refund" without "amount", or
// with an amount that is not an integer, is denied. Datalog 3.0 has no
// "!=", hence !($t == "refund").
//
// Lists. The verifier passes a list argument as one set, and a set checked
// with ArgOneOf passes only when every element is allowed (contains on two
// sets is a subset test); ArgMax and ArgMin deny lists (a type error).
//
// Expiry. Biscuit dates have one-second resolution; ExpiresAt and TTL round
// down, so a token never lives longer than asked. The verifier's clock
// decides, never the agent's.
//
// Raw checks. [Builder.Check] takes one "check if" in biscuit-go's syntax,
// which is Datalog 3.0: sets are written ["a", "b"] and there is no "!=",
// "check all" or "reject if". Biscuit's Rust library (and its Python and JS
// bindings) writes sets as {"a", "b"} and reads ["a", "b"] as an array, a
// Datalog 3.3 type; a block using it is rejected by mandate's verifier, so
// agents attenuating with those libraries must write {"a", "b"}.
//
// # Errors
//
// Caveat errors match [ErrInvalidCaveat], limit errors also [ErrOverLimit],
// and an empty block is [ErrEmptyBlock]. Token errors are package token's:
// token.ErrInvalid (and its children) for a token that cannot be read,
// token.ErrSealed for a sealed one.
package attenuate
