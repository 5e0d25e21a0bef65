// Package follow is the verifier's client of the mandate authority: it
// keeps a verifier's trusted keys and its replica of the revocation log in
// step with the authority, and tells the verifier when that replica is too
// old to decide on, so that decisions fail closed.
//
// # Wiring a tool server
//
//  1. Open the local revocation store. It is durable, so a restarted
//     verifier resumes the log where it stopped instead of from the start.
//  2. Create a [Follower] with [New], giving it the authority's base URL,
//     its root public key as a trust anchor (configured out of band:
//     `mandate authority serve` prints it), the store and the
//     [token.KeySet] the verifier trusts.
//  3. Create the verifier with the same key set and store, and with
//     [Follower.Fresh] as its freshness check.
//  4. Start [Follower.Run] in a goroutine; cancel its context to stop it.
//     Until the first sync succeeds every decision is denied; use
//     [Follower.WaitSeq](ctx, 0) (or [Follower.SyncOnce] before Run) to
//     wait for it before reporting ready.
//
// Copy and adapt:
//
//	store, err := badgerstore.Open("/var/lib/tool-server/revocations")
//	if err != nil {
//		return err
//	}
//	defer store.Close()
//	root, err := token.ParsePublicKey(os.Getenv("MANDATE_TRUST_KEY"))
//	if err != nil {
//		return err
//	}
//	keys := token.NewKeySet() // filled by the follower from /v1/keys
//	f, err := follow.New(follow.Config{
//		Authority:    "http://127.0.0.1:8421",
//		TrustAnchors: []token.PublicKey{{ID: token.KeyID(root), Key: root}},
//		Store:        store,
//		Keys:         keys,
//		Logger:       &logger,
//	})
//	if err != nil {
//		return err
//	}
//	v, err := verifier.New(verifier.Config{
//		Keys:        keys,
//		Revocations: store,
//		Fresh:       f.Fresh,
//	})
//	if err != nil {
//		return err
//	}
//	ctx, stop := context.WithCancel(context.Background())
//	defer stop()
//	go f.Run(ctx)
//	if err := f.WaitSeq(ctx, 0); err != nil { // ready once synced
//		return err
//	}
//	// serve, calling v.Authorize(ctx, tok, req) before each tool call
//
// A command-line tool that checks one token calls [Follower.SyncOnce]
// instead of Run: keys and log once, then Fresh succeeds for MaxStaleness.
//
// # How the log is followed
//
// The follower asks GET {Authority}/v1/revocations?after=SEQ&wait=WAIT&nonce=N
// for the entries after SEQ; the authority answers at once when it has
// some and otherwise holds the request for up to WAIT (a long poll), so a
// new revocation reaches a connected follower in about one round trip. The
// answer's "next" is the SEQ of the following request. The first request
// after a start, a failure or a log restart uses wait=0, so that the
// follower is fresh at once even when the log is quiet.
//
// Each response is validated whole before anything of it is applied:
// malformed JSON, a revocation ID that is not hex or is too long, an
// expiry that is not RFC 3339, sequence numbers that do not strictly
// increase from SEQ, a "next" below the last entry, more than
// [MaxBatchEntries] entries or more than [MaxResponseBytes] bytes reject
// the response ([ErrBadResponse]); the follower keeps its position, backs
// off and retries. A valid batch is added to the Store in one Add, and
// the position moves only after the Store accepted it: with a durable
// store, Store.LastSeq is where a restarted follower resumes.
//
// # Tamper evidence
//
// The authority's log is hash-chained: entry n carries
// h_n = token.ChainHash(h_{n-1}, n, ID, expiry), and every answer is signed
// with the authority's root key. The answer's wire format, version 1 (new
// fields carry a version suffix, so that a later format can be added beside
// it):
//
//	{"entries": [{"seq", "revocation_id", "expires_at",
//	              "hash_v1",          // h_seq, hex
//	              "prev_hash_v1"?}],  // h_{seq-1}: on the first entry and after a gap
//	 "next": N,
//	 "chain_v1": {"head_seq", "head_hash",   // the log's last seq and its hash
//	              "key_id", "signature"}}     // Ed25519 over token.FeedPage.SigningBytes
//
// Before applying anything the follower recomputes every entry's hash,
// checks that the page continues the chain hash it persisted with its
// position ([revocation.Store.LastHash]) and that the signed head matches,
// and verifies the signature with a key reachable from its trust anchors
// (see Keys). The signature covers the requested SEQ, "next", the head and
// every entry's seq and hash, so an entry cannot be altered, dropped, added
// or replayed to another position, and a follower that starts after the
// first entries expired (mid-chain) still authenticates what it receives:
// it takes the first entry's prev_hash_v1, which the signed hashes bind.
// Any failure is [ErrTampered] (an [ErrBadResponse]): nothing is applied,
// the position does not move, and if it lasts the follower goes stale and
// the verifier denies. A follower pointed at an authority that predates
// the signed feed refuses every answer and says so.
//
// Every request carries a random nonce (&nonce=HEX) that the signature
// covers too, so an answer proves it was made for this request: a man in
// the middle can withhold answers, and can replay old ones, but the
// follower refuses them and goes stale at its bound (fail closed); it can
// never make the follower accept a forged or truncated log, nor keep it
// "fresh" while hiding new revocations.
//
// Gaps between sequence numbers are normal (the authority drops entries
// once every token they could match has expired) and are not errors. An
// answer 409 {"error":"sequence_ahead"}, or an empty answer whose "next" is
// below SEQ, means that the authority's log does not reach SEQ: it was
// reset, or this is another authority. The follower logs it at error level
// and starts over from 0.
// Entries are idempotent and the Store never forgets an ID on its own, so
// nothing already revoked is un-revoked. (A log that restarted and has
// already grown past SEQ cannot be told apart from a healthy one by this
// protocol.)
//
// Failed requests are retried after an exponential backoff with jitter,
// from MinBackoff (100ms) to MaxBackoff (10s).
//
// # Freshness: the exact bound
//
// [Follower.Fresh] returns nil at instant t if and only if some request
// the follower sent at an instant s with t − s ≤ MaxStaleness got a valid
// answer whose entries were applied to the Store (instants by Config.Now,
// monotonic when it is time.Now). The authority builds an answer after the
// request reached it, so that answer holds every entry logged before s.
// Fresh is computed from the clock on every call; it does not wait for a
// request to time out. So:
//
//   - A revocation the authority logged at T is enforced by every verifier
//     using Fresh from T + MaxStaleness on, whatever the network does:
//     either the follower applied it, or every answer it has applied was
//     to a request sent before T, and then it fails closed by
//     T + MaxStaleness. No transit time or timeout enters this bound.
//   - A quiet, healthy follower's state dates from the start of its
//     previous long poll, which the authority answered (empty) after Wait;
//     so its staleness climbs to about 2 × Wait plus two round trips before
//     the current poll returns. Hence Wait must be shorter than
//     MaxStaleness / 2: by default it is min(25s, MaxStaleness × 2/5), 12 s
//     for the default 30 s bound, leaving 6 s of headroom.
//     [Follower.Staleness] reports this age.
//   - While connected, a new revocation is applied about one round trip
//     after the authority logged it: the held long poll returns at once
//     (the propagation target is p99 ≤ 1 s; BenchmarkRevocationPropagation
//     in package authority measures it against the real authority).
//   - If the authority dies or the network drops in the middle of a long
//     poll without closing the connection, the follower gives up on the
//     request when no answer has started Wait + Grace after it was sent
//     (15 s by default), and on a body still incomplete [BodyTimeout] after
//     that; then it reconnects with backoff. Fresh fails at the bound
//     either way.
//   - Before the first successful sync, Fresh returns [ErrNotSynced]. A
//     follower whose Run has stopped goes stale MaxStaleness after the
//     start of its last successful request.
//
// A long poll in progress does not count as fresh: while it is held, the
// follower cannot tell a quiet authority from one that is gone.
//
// # Keys
//
// The follower trusts only keys reachable from Config.TrustAnchors: the
// anchors themselves and keys endorsed by one, directly or through a chain.
// At every rotation the authority signs the new key with the key active
// until then ([token.Endorse]), and that key with the new one (it keeps
// verifying its tokens until they expire), and publishes every endorsement
// it ever made in GET /v1/keys:
//
//	{"keys": [...],
//	 "endorsements_v1": [{"key_id", "public_key", "signer_key_id", "signature"}]}
//
// so a follower pinned to any key of the authority (the first, or the
// active one when the follower was set up) reaches every other after any
// number of rotations, while a key published by anyone else (a man in the
// middle of plain HTTP) is skipped, and a response with no reachable key is
// refused ([ErrTampered]). New refuses a Config without TrustAnchors
// unless InsecureNoTrustAnchor is set, which trusts whatever keys the URL
// answers (demos on one machine only). A feed page signed by a key not yet
// trusted makes the follower refresh its keys once and check again, so a
// rotation is picked up at the first page the new key signs.
//
// The follower fetches GET {Authority}/v1/keys
// when Run starts and every KeyRefresh (1 minute) after, and, when
// Config.Keys is set, replaces the key set with [token.KeySet.Set] only
// when the whole response is valid: a
// malformed key, a response over [MaxKeysResponseBytes] or one without a
// single usable Ed25519 key is an error, and the installed keys stay. Keys
// of another algorithm, or with a status other than "active" or
// "retiring", are skipped (never trusted). A key's not_after becomes
// [token.PublicKey.NotAfter].
//
// A key the authority stops publishing stops verifying at the next
// successful refresh, up to KeyRefresh later. The verifier cannot ask the
// follower for keys on demand; call [Follower.RefreshKeys] to pick up a
// rotation at once, but not once per token with an unknown key (that would
// let anyone make the verifier hammer the authority). Key freshness does
// not affect Fresh: a failed refresh keeps the last valid key set, and
// [Follower.Status] reports the error.
//
// # Many followers
//
// Followers share nothing: a process may run any number of them, each with
// its own Store (and its own HTTP transport unless Config.HTTPClient is
// set). Stop them by canceling their contexts; Run returns once every
// goroutine it started has ended, and closes the idle connections of the
// transport it owns.
package follow
