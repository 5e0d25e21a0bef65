// Package verifier is mandate's decision point: a small library a tool
// server embeds to decide, before a tool runs, whether the capability token
// the agent sent allows this call.
//
// # Embedding it in ten lines
//
// A net/http tool server wraps its handler with [Middleware] and says, in a
// [RequestFunc], which tool call each HTTP request performs:
//
//	keys := token.NewKeySet(token.PublicKey{ID: keyID, Key: authorityPub})
//	store, _ := badgerstore.Open("verifier-data")        // durable revocation replica
//	v, _ := verifier.New(verifier.Config{Keys: keys, Revocations: store})
//	toRequest := func(r *http.Request) (verifier.Request, error) {
//		return verifier.Request{Service: "crm", Tool: "get_account", Operation: "read",
//			Resource: "account:acme/" + r.PathValue("id")}, nil
//	}
//	mux.Handle("GET /accounts/{id}", verifier.Middleware(v, toRequest, verifier.HTTPOptions{})(getAccount))
//
// In production, keep the keys and the revocation replica current with
// package verifier/follow, and pass its Fresh method as [Config.Fresh] so
// that decisions fail closed when the replica falls behind. Gin and MCP tool
// servers use the adapters in verifier/ginmw and verifier/mcpmw.
//
// # What a decision does
//
//  1. It decodes the token under the limits of package token and verifies
//     its signature chain against the trusted root keys ([Config.Keys]).
//     Verified chains are cached by the SHA-256 of the token, so a token
//     seen before skips its signature checks — and nothing else.
//  2. It denies the token if the revocation replica is stale
//     ([Config.Fresh]) or if any of its blocks' revocation IDs is revoked
//     ([Config.Revocations]): revoking a block revokes every token
//     attenuated from it.
//  3. It builds the request facts itself — time from its own clock,
//     service, tool, operation, resource and one arg fact per argument —
//     and evaluates the token's Datalog under a fixed step budget: the
//     authority block's checks, mandate's policy (a right of the authority
//     block must cover service, tool, operation and resource), then each
//     attenuation block's checks, each block seeing only its own facts.
//
// [Verifier.Authorize] returns a [Decision]: allowed or not, a reason that
// says what to do next, the failed check (block, index, Datalog text), a
// decision ID, the token's revocation IDs and subject. Denials match
// [ErrDenied] and a more specific error ([ErrRevoked], [ErrNoRight],
// [ErrCheckFailed], token.ErrExpired, token.ErrUnsupported, ...) with
// errors.Is. Every error is a deny: there is no input, token or load under
// which Authorize allows by default, panics, or leaves a goroutine behind.
//
// # Who can fix a denial
//
// [Decision.Kind] classifies a denial by who can fix it, and the adapters
// answer by it ([StatusOf], [WriteChallenge]): a token problem
// ([KindNoToken], [KindInvalidToken]: 401) needs a new token; a missing
// right ([KindInsufficientScope]: 403 with the Bearer challenge) a broader
// grant, named as an OAuth scope by [Decision.Scope]; everything else —
// an attenuation caveat ([KindCaveat]), a bad request, a stale replica —
// the caller's own call, and is answered without a challenge, so that no
// client starts an authorization flow that cannot help. Attenuation only
// narrows, so a caveat is never something a grant fixes: when a caveat
// and a missing right both deny a call, the decision reports the caveat.
//
// # Approvals
//
// A token may say that some calls need a person's approval
// (token.ApprovalRequirement). When such a check fails, the decision is a
// deny of kind [KindApprovalRequired] and the call's digest
// ([Decision].CallDigest): the agent asks the authority for an approval of
// that call and retries with it in [Request].Approval. A verifier configured
// with [Config].Approvals (package verifier/approval) checks the approval
// offline, adds approved(approver, approver_org), evaluates again, and only
// if that allows the call spends one use at the authority. Any problem with
// the approval is a deny of kind [KindApprovalInvalid]. Without
// Config.Approvals every approval-gated call is denied: the caveat fails
// closed. An approval presented with a call that needs none is ignored and
// not spent.
//
// # Usage limits
//
// A token may declare usage limits (token.Limit: "20 send_email calls per
// hour", "refunds summing to 1,000"). A verifier configured with
// [Config].Limits (package verifier/usage) adds limit_ok for each, and
// counts a call the token allows against every limit that applies to it,
// atomically with the decision, from leases on the authority's ledger; a
// call over a limit is a deny of kind [KindLimitExceeded] that names the
// limit, its block, how much is used and when it resets
// ([LimitExceededError]). Without Config.Limits every call of a token that
// declares a limit is denied ([ErrLimitUnenforced], kind access_denied):
// the declaration fails closed.
//
// # Decision log
//
// [Config].Decisions receives every decision once it is final
// ([DecisionRecorder]). Package verifier/decisionlog implements it: it
// ships the decisions to the authority's decision log in batches, from a
// bounded buffer, without ever making a decision wait (a full buffer drops
// and counts). The recorder sees the decision, the request and the verified
// token; decisionlog ships a description of them, never the token.
//
// # Where people go wrong
//
//   - One resource per decision. A check `check if resource($r), ...`
//     passes when any resource fact matches, so a call that touches several
//     resources must be authorized once per resource.
//   - Arguments are facts only if you pass them. An argument bound in a
//     token (`arg("amount", $a), $a <= 500`) fails closed when the request
//     has no such argument, so map every argument a caveat may constrain.
//     Lists become one set value: a check must hold for the whole list.
//   - Numbers are integers. Pass amounts in minor units; a fractional
//     number is a bad request, not a rounding.
//   - Prefixes are plain string prefixes: a right on "account:acme/42"
//     covers "account:acme/420". Grant "account:acme/42/" to mean one
//     subtree, or attenuate with a segment-aware prefix.
//   - A resource is compared as a string, never resolved: one with a "." or
//     ".." segment, an empty segment ("a//b"), or either once
//     percent-decoded ("%2e%2e") is a bad request (see token.CheckResource).
//     Build the resource from what the handler will actually touch.
//   - Argument names are compared exactly, but encoding/json matches field
//     names case-insensitively: names that differ only in case
//     ("amount", "Amount") are a bad request. Decode JSON arguments with
//     [ArgsFromJSON], which also refuses repeated keys.
//   - Names (service, tool, operation, argument) with control, format or
//     separator characters (U+202E, U+200B, U+2028, …) are a bad request.
//   - [Config.InsecureNoRevocation] turns revocation off. It is for tests
//     and offline tools only.
package verifier
