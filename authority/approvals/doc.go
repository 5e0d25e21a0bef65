// Package approvals is the authority's room for human approval of one
// tool call: requests, decisions, the signed approvals the authority
// issues, and their single-use redemption. It keeps its state in its own
// kv namespace; the authority wires it ([Config]) and serves it under
// /v1/approvals with thin handlers.
//
// # The loop
//
//  1. A call fails an approval caveat: the verifier denies it with
//     approval_required and the call's digest (token.CallDigest).
//  2. The agent asks, with its own token: [Room.Ask]. The room verifies the
//     token and decides the call as a verifier would (the same facts and
//     policy, internal/callfacts, and the same evaluator; the authority
//     does not import package verifier): a call the token allows without approval, or
//     could never make even with one (no right covers it, another caveat
//     denies it, no one person satisfies all of its approval caveats), is
//     refused with [ErrNotApprovable] and the reason. It records who asks
//     (session, agent, user, org, the delegation chain), the call, the
//     caveats and whom they accept ([Requirement]), and an expiry.
//  3. A person decides: [Room.Decide]. The person must approve for the
//     request's org (people.Person.MayApprove) and be accepted by every
//     caveat; the admin token alone is not a person. Decisions on expired,
//     decided or revoked requests are refused. Approving signs a
//     token.Approval with the authority's active root key.
//  4. The agent waits: [Room.Wait] long-polls the request.
//  5. A verifier redeems one use: [Room.Redeem], one compare-and-set on
//     the request's record, durable before the answer. Its credential is
//     the call's own token (see verifier/approval.AuthorityRedeemer).
//
// # Invariants
//
//   - Exactly MaxUses redemptions succeed per approval, across every
//     verifier and across crashes: a use is spent durably before Redeem
//     answers, so a crash in between wastes it and never grants another.
//   - Revoking a session or any block of the asking token revokes its
//     pending requests and unused approvals ([Room.RevokeSession],
//     [Room.RevokeBlocks]); reads and redemption also consult the
//     revocation log, so a revocation the room missed still holds.
//   - A session holds at most Config.MaxPendingPerSession pending
//     requests: each takes one of that many slots, created atomically with
//     it, so the cap holds under races.
//   - Every request, decision, use, refusal and revocation is an audit
//     event; none carries a token or a credential.
//
// # Where people go wrong
//
//   - The approval binds every argument the verifier sees: ask with exactly
//     the arguments of the call (an MCP tool's resource argument too).
//   - Waiting uses an in-process broadcast; with several authority
//     replicas, a long-poll also re-reads its request every
//     Config.PollInterval (the authority sets 250 ms on a replicated
//     store), so a decision made at another replica reaches it then.
package approvals
