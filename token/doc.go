// Package token is mandate's token vocabulary: Biscuit v3 capability tokens
// for one agent session, how they are minted, encoded, parsed under strict
// limits, verified against trusted root keys and inspected.
//
// # From key to inspection in seven steps
//
//  1. Keys. The authority signs with a root [SigningKey]: [GenerateKey], or
//     [ParsePrivateKey] of a PEM PKCS#8 file (as `openssl genpkey -algorithm
//     ed25519` writes it; [MarshalPrivateKeyPEM] writes the same) or of hex
//     (a 32-byte seed or the 64-byte key, optionally "ed25519-private/"
//     prefixed), wrapped with [NewSigningKey]. Each key has a [KeyID]
//     derived from its public key. Verifiers trust public keys in a
//     [KeySet]: [NewKeySet] of [SigningKey.Public], or of keys read with
//     [ParsePublicKey] ("ed25519/" and 64 hex characters, the prefix
//     optional). A [PublicKey] with NotAfter set stops being trusted after
//     that instant, which is how a rotated-out key retires.
//  2. Mint. [Mint] signs a [MintRequest] (a [Subject], at least one [Right] and a TTL of
//     at most [MaxTTL]) into a [Minted] token: the subject facts, one right
//     fact per right and an expiry check, with the key's ID as the root key
//     ID hint.
//  3. Encode. [Minted].Token is already encoded; [Encode] turns raw bytes
//     into padded URL-safe base64, the form agents send as a bearer token.
//  4. Parse. [ParseString] (or [Parse] for raw bytes, after [Decode])
//     accepts padded or unpadded input, enforces every limit in limits.go
//     and rejects any format newer than Biscuit v3 ([ErrUnsupported]). It
//     checks no signature and returns an [*Unverified].
//  5. Verify. [Unverified.Verify] checks the signature chain against a
//     [KeySet] at a given instant and returns a [*Verified]. The hint picks
//     the key to try first; without it (biscuit-go drops it when it appends
//     a block) or when it names an unknown key, every trusted key is tried.
//     Signatures are checked one by one with curve25519-voi under exactly
//     crypto/ed25519's acceptance rules (never a batch equation, which
//     would accept small-order components that crypto/ed25519 rejects);
//     [KeySet] keeps each root key's point precomputed.
//  6. Read. [Verified.Subject], [Verified.Rights], [Verified.ExpiresAt],
//     [Verified.EffectiveExpiry], [Verified.RevocationIDs] and
//     [Verified.KeyID] are now facts you can rely on. Deciding whether a
//     request is allowed is the verifier's job (package verifier), which
//     also checks revocation and evaluates every block.
//  7. Inspect. [Inspect] (or [InspectVerified]) describes a token block by
//     block; [Inspection.Text] is for people, its JSON encoding for tools.
//
// In code:
//
//	key, _ := token.GenerateKey()
//	m, err := token.Mint(key, token.MintRequest{
//		Subject: token.Subject{Agent: "support-bot", User: "alice@acme.test", Org: "acme"},
//		Rights:  []token.Right{{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/42/"}},
//		TTL:     15 * time.Minute,
//	})
//	// ... the agent sends m.Token; a tool server receives it:
//	u, err := token.ParseString(m.Token)
//	v, err := u.Verify(token.NewKeySet(key.Public()), time.Now())
//	fmt.Println(v.Subject().Agent, v.Rights())
//	fmt.Print(token.InspectVerified(v).Text())
//
// # Unverified is not Verified
//
// An [*Unverified] token is only well-formed bytes. Anyone can sign a token
// with a key of their own that claims any agent and any right, so nothing
// read from an Unverified token may decide anything: its content accessors
// are named Unsafe ([Unverified.UnsafeBlocks]), and [Inspect] marks its
// output UNVERIFIED with the subject and rights "claimed". Only
// [Unverified.Verify] produces a [*Verified] token, and only a Verified
// token can be authorized. Expiry is not part of Verify: the verifier
// checks it (and every attenuation block's own expiry) with its clock.
//
// # The Datalog vocabulary
//
// These names are a public contract: agents written in other languages
// attenuate tokens against them with their own Biscuit library, so they are
// never renamed.
//
// Authority facts, written by the authority only ([Mint]); they are the
// only facts the policy trusts ([FactSession], [FactAgent], [FactUser],
// [FactOrg], [FactRight], and the expiry check [ExpiryCheck]):
//
//	session("s_…")
//	agent("support-bot")
//	user("alice@acme.test")      omitted when empty
//	org("acme")                  omitted when empty
//	right("crm", "get_account", "read", "account:acme/42")
//	                             service, tool or "*", operation or "*", resource prefix
//	check if time($time), $time <= 2026-11-22T10:15:00Z
//
// Request facts, added by the verifier for every decision and never taken
// from a token ([FactTime], [FactService], [FactTool], [FactOperation],
// [FactResource], [FactArg]). Exactly one service, tool, operation and
// resource per decision: a call that touches several resources is
// authorized once per resource.
//
//	time(2026-11-22T10:00:00Z)   the verifier's clock, a date
//	service("crm")
//	tool("get_account")
//	operation("read")
//	resource("account:acme/42")
//	arg("limit", 1)              one per argument: an integer, string, bool,
//	arg("to", "bob@x.test")      date or bytes value; a list is one set,
//	arg("cc", ["a@x", "b@x"])    never one fact per element
//
// The policy is fixed ([Policy]): a request is allowed when a right covers
// its service, tool, operation and resource ([Right.Covers]) and every check
// of every block passes.
//
// Attenuation blocks hold checks, and optionally informational facts such as
// delegated_to("sub-agent") ([FactDelegatedTo]), which grant and restrict
// nothing. The caveat forms (package attenuate writes them for you):
//
//	check if tool($t), ["get_account", "list_invoices"].contains($t);
//	check if resource($r), $r.starts_with("account:acme/42/");
//	check if resource($r), $r == "account:acme/42";
//	check if tool($t), !($t == "refund") or arg("amount", $a), $a <= 500;
//	check if time($t), $t <= 2026-11-22T10:05:00Z;
//
// A block's facts and rules are visible to its own checks only: nothing an
// attenuation block states can satisfy the policy or another block's
// checks, so appending a block can only narrow a token.
//
// # Approvals
//
// Some calls need a person. An approval caveat ([ApprovalRequirement],
// written by package attenuate or by [MintRequest].RequireApproval in the
// authority block) passes for every other call and, for the calls it
// names, only with the approval fact ([FactApproved]):
//
//	approved("alice@acme.test", "acme")   approver, approver's org
//	check if tool($t), !($t == "refund") or arg("amount", $a), $a <= 100 or approved($p, $o)
//
// Only a verifier adds approved(...), for one decision, after checking an
// [Approval]: a statement signed by an authority root key (under its own
// domain, so it never reads as a Biscuit block, a feed page or a key
// endorsement) that binds an approver's consent to one call
// ([CallDigest], a documented encoding agents in any language compute),
// one session and one lineage (a block revocation ID the token must
// carry). A verifier that does not know approvals never adds the fact, so
// the caveat fails closed. [SignApproval] signs one, [ParseApproval] reads
// one strictly and [UnverifiedApproval.Verify] checks its signature and
// expiry; package verifier/approval binds it to the call. An approval is
// never a capability: it grants nothing by itself.
//
// # Usage limits
//
// A block may declare usage limits ([Limit], written by package attenuate
// or by [MintRequest].Limits in the authority block): at most N calls of a
// tool ("*": every tool) per fixed window, or an integer argument summed to
// at most N, per window or for the life of the block. A declaration is one
// check that asks for the usage-limit fact ([FactLimitOK]) with the limit's
// own terms:
//
//	limit_ok(tool, measure, arg, max, window_s)                      only a verifier adds it
//	check if limit_ok("send_email", "calls", "", 20, 3600);          20 calls per hour
//	check if limit_ok("refund", "sum", "amount", 1000, 0);           amounts summing to 1,000
//
// A verifier that enforces limits (verifier.Config.Limits) adds limit_ok
// for every limit of the token and counts each allowed call against the
// limits that apply to it; one that does not adds none, so the token is
// denied there: a limit fails closed. A limit's identity is its declaring
// block's revocation ID and its position among the block's limits
// ([DeclaredLimit], [LimitID]), the same in every token derived from the
// block: sub-agents' calls count against it, and nothing appended later can
// reset or enlarge it. Parse refuses a token that names limit_ok anywhere
// but in a declaration (a block stating it would satisfy its own limit),
// declares one limit twice in a block, or more than MaxLimitsPerToken in
// all.
//
// Warning: a resource prefix is a plain string prefix. "account:acme/42"
// also covers "account:acme/420". End a prefix at a separator
// ("account:acme/42/") to grant one subtree, or compare with == for one
// resource exactly.
//
// # Writing sets from other Biscuit libraries
//
// mandate verifies Biscuit v3 blocks (block version 3, Datalog 3.0).
// biscuit-go writes sets as ["a", "b"]. The Rust library (version 6 and
// later) and the JavaScript and Python libraries built on it write sets as
// {"a", "b"} and read ["a", "b"] as an array, a Datalog 3.3 type: a block
// that uses one is rejected with [ErrUnsupported] and a message saying to
// write {"a", "b"}. The same holds for other features newer than v3 (check
// all, reject if, !=, closures, scope annotations, third-party blocks,
// P-256 keys): write `!($a == $b)` instead of `$a != $b`.
//
// # Regular expressions
//
// `$r.matches("...")` is defined by Biscuit's reference (Rust)
// implementation, whose regular expressions are Unicode-aware; Go's are
// ASCII-only in places. mandate evaluates the Rust dialect: \d is any
// Unicode decimal digit (\p{Nd}), \w any Unicode letter, mark, digit or
// connector (so "é" and "٣" are word characters), \s any Unicode White_Space
// (no-break space, \v, U+2028), and their complements are negated to match.
// Constructs that Go and Rust read differently and that Go cannot express
// as Rust does are refused with [ErrUnsupported], naming the construct: \b
// and \B (Unicode word boundaries), \Q...\E (a Go-only quote), \0 to \9
// (octal in Go, refused by Rust), inline flags other than i, m, s and U
// ((?-u), (?x)), \p{..} names other than general categories, scripts and
// Any, \W or \S inside [...], nested classes and the set operations &&, --
// and ~~ of Rust's classes. A literal pattern is checked when the token is
// parsed; a pattern bound from a fact at run time fails its check with the
// same reason. A pattern Go cannot compile (such as a repetition over
// 1000) fails its check, where Rust reads it as "no match": a check that
// the pattern matches fails in both, one that it does not match fails in
// mandate only (fail closed). Unicode tables are those of Go (Unicode 15.0)
// and may lag Rust's for characters assigned since.
//
// # Conformance
//
// testdata/biscuit-samples holds the official Biscuit samples (the
// specification's and the Rust implementation's); every Biscuit v3 sample
// decides as its samples.json says, and every newer one is refused naming
// its feature. A block whose symbol table repeats a default symbol, a
// symbol of an earlier block or one of its own is refused
// ([ErrSymbolOverlap]), as the specification requires: readers would
// resolve its strings differently.
//
// # Limits
//
// Every size and count limit lives in limits.go with the reason for its
// value: [MaxTokenBytes] and [MaxEncodedBytes], [MaxBlocks], [MaxSymbols],
// [MaxStringBytes], facts, rules and checks per block, the shape of a rule
// ([MaxBodyPredicates], [MaxOpsPerExpression], [MaxSetSize], …), the
// evaluation budget [EvalLimits], and for minting [MaxTTL],
// [MaxRightsPerToken] and [MaxSubjectBytes]. A token over any of them is
// rejected with [ErrTooLarge] before a signature is checked or a rule runs.
//
// # Errors
//
// Every reason a token is unusable wraps [ErrInvalid]: [ErrMalformed],
// [ErrTooLarge], [ErrUnsupported], [ErrSignature] and [ErrUnknownKey].
// Match them with errors.Is. Mint requests that fail validation wrap
// [ErrBadRequest].
package token
