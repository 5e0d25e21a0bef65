// Package authority is the mandate authority: the service that platform
// backends call to mint capability tokens for their agents' sessions, that
// anyone entitled calls to revoke them, and that verifiers follow for
// public keys and revocations. The core type, [Authority], knows nothing of
// HTTP; [NewHandler] puts the JSON API in front of it and [Serve] runs both
// until a context ends. `mandate authority serve` is Serve with flags.
//
// # Running one
//
//  1. Open it on a data folder: [Open](ctx, [Config]{DataDir: dir}). On first
//     start it creates dir (mode 0700), an Ed25519 root key in dir/keys
//     (PEM PKCS#8, mode 0600) and a Badger database in dir/db, and sets up
//     the admin bearer token: Config.AdminToken if set (the command reads
//     MANDATE_ADMIN_TOKEN), otherwise a generated one, printed once to
//     Config.AdminTokenOutput and never again. Only hashes of credentials
//     are stored. [Serve] binds its address before it opens the authority,
//     so a start that cannot listen generates no token; a lost one is
//     replaced with [ResetAdminToken] (`mandate authority admin-token
//     --reset`), with the authority stopped.
//  2. Serve [NewHandler](a) on any listener, or call [Serve], which also
//     shuts down gracefully: long polls end at once, in-flight requests
//     finish, queued writes commit, Badger closes.
//  3. As the admin, register a client per platform backend with
//     [Authority.RegisterClient] (POST /v1/clients): it gets a secret,
//     shown once, and a [Ceiling] it can never mint beyond.
//  4. The client mints with [Authority.Mint] (POST /v1/tokens) and hands
//     the token to its agent. Verifiers fetch the keys (GET /v1/keys) and
//     follow the revocation feed (GET /v1/revocations); package
//     verifier/follow does both.
//
// People (package people) are named persons with their own credentials
// ("mp_…"), created by the admin: they sign in to the console and approve
// calls. A person with the admin role acts as the admin under its own name;
// approvers and viewers own no session and no token.
//
// Tests and demos can pass [WithStore]([NewMemoryStore]()) to keep state in
// memory; keys still live in DataDir/keys.
//
// # The HTTP API
//
// Every error is {"error": code, "error_description": text}; bearer
// failures carry an RFC 6750 WWW-Authenticate challenge (realm "mandate").
// Request bodies are JSON (unknown fields are rejected) of at most
// [MaxBodyBytes]; every response has an X-Request-ID (the caller's when it
// is sane). Times are RFC 3339, IDs and keys hex, key IDs numbers.
//
//	POST /v1/tokens                          admin or client: mint
//	     {"agent","user","org","session"?,"rights":[{"service","tool","operation","resource"}],"ttl_seconds",
//	      "limits"?:["send_email:calls=20/1h", …]}
//	     → 201 {"token","session","revocation_ids":[hex],"expires_at","key_id"}
//	POST /v1/revocations                     {"token"}: anyone holding it
//	     {"revocation_id"|"session"|"agent"|"user"}: admin or the minting client
//	     → 200 {"entries":[{"seq","revocation_id","expires_at"}],"total","created"}
//	GET  /v1/revocations?after=SEQ&wait=DUR[&nonce=HEX]  public: the log after SEQ, long-polled;
//	     the signature covers the follower's nonce (at most 32 bytes) when it sends one
//	     → 200 {"entries":[{…,"hash_v1","prev_hash_v1"?}],"next":SEQ,
//	            "chain_v1":{"head_seq","head_hash","key_id","signature"}}
//	       (409 sequence_ahead: SEQ was never issued; see "Integrity")
//	GET  /v1/keys                            public: {"keys":[{"key_id","algorithm","public_key","status","not_after"?}],
//	                                                 "endorsements_v1":[{"key_id","public_key","signer_key_id","signature"}]}
//	POST /v1/keys/rotate                     admin: new active key; → the key list
//	GET  /v1/sessions/{id}                   admin or the session's client; with "limits": usage per limit and window
//	POST /v1/leases                          {"token","limit_id","need","want","renew"?,"renew_unused"?}: the token is
//	     the credential (verified, unexpired, unrevoked; the limit read from its signed block)
//	     → 200 {"lease_id"?,"amount","window","resets_in_ms"?,"resets_at"?,"used","held"} (amount 0: used up)
//	POST /v1/leases/return                   {"lease_id","unused"}: the lease ID is the credential → 204
//	POST /v1/limits/usage                    {"token"} → 200 {"limits":[{"limit_id","block","limit","max","window",
//	                                          "resets_at"?,"used","spent","held","leases","current"}]}
//	POST|GET /v1/clients, GET|DELETE /v1/clients/{id}   admin
//	POST|GET /v1/people, DELETE /v1/people/{name}       admin (see package people)
//	     {"name","role":"admin"|"approver"|"viewer","orgs":[…]} → 201 {…,"credential"} (once)
//	GET  /v1/people/{name}                   admin, or the person itself
//	POST /v1/people/{name}/reset             admin: → {"name","credential"} (once)
//	POST|GET /v1/verifiers, DELETE /v1/verifiers/{name}   admin: verifier credentials (package verifiers)
//	POST /v1/decisions                       verifier credential: a batch of decisions (package decisions)
//	GET  /v1/decisions[/stream]              admin, people (their orgs): query, live events
//	GET  /v1/decisions/export?after=SEQ      admin: JSON lines with the hash chain and signed heads
//	POST /v1/decisions/head                  admin: sign the decision log's head now
//	GET  /.well-known/biscuit-web-keys       public: Biscuit web key set (a JSON array)
//	GET  /.well-known/oauth-authorization-server   RFC 8414 metadata
//	POST /oauth2/revoke                      RFC 7009 form; always 200
//	POST /oauth2/introspect                  RFC 7662 form; admin or client
//	GET  /healthz, /readyz, /metrics         liveness, readiness, Prometheus text
//
// Sessions are scoped per client ([Principal.SessionID]): a client's
// session IDs are "CLIENT/NAME" (generated ones "CLIENT/s_…"), and the
// client may name them by NAME or by the full ID. Another client naming the
// same NAME gets a session of its own, so no client can claim, read, revoke
// or probe another's. The admin names sessions in full.
//
// The revocation feed and the keys are public on purpose: revocation IDs
// are block signatures, not secrets, and every verifier needs both without
// holding a credential. Put the authority behind TLS (a reverse proxy) and
// set Config.Issuer to its public URL.
//
// Held long-polls are shared out: at most [Config.MaxLongPollsPerClient]
// per client (remote IP address, IPv6 /64) and [Config.MaxLongPolls] in
// total wait; a long-poll over a cap is answered at once with what the log
// holds, so every follower stays fresh. [Serve] also caps connections per
// client and in total (to fit RLIMIT_NOFILE, whose soft limit it raises to
// the hard one): at the total cap it closes an idle keep-alive connection
// to make room, and otherwise answers 503, so that a flood of connections
// cannot starve health, keys, mint or revocation.
// # Integrity
//
// The authority's deciding state is tamper-evident (DESIGN.md, invariant
// 11). At rest: Badger verifies the checksums of its tables (when it opens
// them), blocks and value-log entries; the revocation log is hash-chained
// (each entry stores token.ChainHash of its fields and of the previous
// entry's hash, and the store keeps the head), and the chain is checked
// when the log is loaded and on every append; key files and their manifest
// carry SHA-256 checksums. Any mismatch is [ErrCorrupt]: the authority
// refuses to start (or, found while serving, reports not ready on /readyz
// with the reason and refuses the feed) rather than serve altered state.
// Badger's folder is 0700 and its files 0600. In transit: every feed answer
// is signed with the active root key over the requested position, the
// page's entries (seq and chain hash) and the log's head
// (token.FeedPage, with the follower's nonce), and at every rotation the
// new key and the key it replaces endorse each other (token.Endorse),
// published in GET /v1/keys, so a follower pinned to any key of the
// authority can follow (package verifier/follow).
//
// # Revocation
//
// Revoking adds block revocation IDs to an append-only log with dense
// sequence numbers; verifiers deny any token with a revoked block. What is
// revoked depends on the form:
//
//   - a token ([Authority.RevokeToken]): its last block only, so that token
//     and everything attenuated from it, never the token it was attenuated
//     from. Holding the token is the credential; it must verify against
//     this authority's keys, or nothing is revoked.
//   - a session ([Authority.RevokeSession]): the authority block of every
//     token minted into it (so all their attenuations too), and the session
//     takes no new token afterwards.
//   - an agent or a user: every live token minted for it (by the calling
//     client, or by anyone for the admin); later tokens are not affected.
//   - a revocation ID: one the client minted, or any ID for the admin.
//
// Every form is idempotent: an ID already in the log yields its entry, no
// new one. Each entry carries the latest expiry of any token it can match;
// storage drops it [RetentionGrace] later (Badger TTL), so the log and
// every replica of it stay bounded.
//
// # Durability and the group-commit writer
//
// Nothing the API acknowledged is lost in a crash: every write (a
// revocation, and also the record of each minted token: its session,
// agent, user, org, client, authority-block revocation ID and expiry) is on
// disk (Badger, synchronous writes) before the response is sent. To make
// that cheap, all writes go through one goroutine that commits whatever is
// queued in one transaction and one fsync (see writer.go): under load, a
// commit carries tens of mints. So revoking a session after a crash still
// revokes every token minted into it before the crash, and mint throughput
// is bounded by CPU (signing), not by the disk.
//
// # Keys
//
// [Authority.Rotate] makes a new key active. The previous key becomes
// "retiring": it is still published, with a not_after of the rotation time
// plus token.MaxTTL, the last instant one of its tokens can be valid, and
// is dropped after it. The key manifest (dir/keys/keys.json) is replaced
// atomically after the new key file is on disk, so a crash leaves either
// the old or the new key ring.
//
// # Watch out
//
//   - One process per data folder: Badger locks it. Running several
//     authorities means implementing [Store] on a replicated database
//     (storetest.RunStoreTests checks a backend against the contract);
//     keys then need a shared home too.
//   - Deleting a client stops its secret at once but leaves its tokens
//     valid until they expire: revoke its sessions first.
//   - The admin token is all-powerful. A token in MANDATE_ADMIN_TOKEN must
//     be random and at least [MinAdminTokenBytes] long, because it is
//     stored as a fast hash.
package authority
