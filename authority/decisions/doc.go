// Package decisions is the authority's decision log: the room that stores
// every decision verifiers ship (package verifier/decisionlog), serves them
// to people and the console, and keeps them tamper-evident.
//
//  1. [Open] the log on a kv namespace (the authority passes
//     Store.Namespace("decisions") and a function that signs with its
//     active root key). Open checks the whole hash chain; a log that fails
//     refuses to serve or ingest ([Log.Corrupt] says why).
//  2. [Log.Append] stores a batch from a named verifier after validating
//     every record strictly (token.ValidateDecision): all of it in one
//     storage transaction, or nothing. Concurrent batches are committed
//     together (group commit), each decision chained by hash to the one
//     before it (see [ChainHash]).
//  3. [Log.Query] pages through the decisions by session, agent, org,
//     time and outcome, newest first, with a cursor; [Log.Subscribe]
//     streams new ones live. Every read takes a [Scope]: that is the
//     authorization hook (the admin reads All; a console account will read
//     the orgs its roles name).
//  4. The head of the chain is signed every SignInterval and by
//     [Log.SignHead]; [Log.Export] writes JSON lines with the chain and the
//     signed heads, which [VerifyExport] (and "mandate audit verify")
//     checks against the root public keys.
//
// Decisions expire Config.Retention after they were received (kv expiry),
// oldest first, so the chain is cut only at its start. Delivery is at
// least once: a verifier that retries a batch whose acknowledgement it
// lost stores it twice (the decision IDs tell the copies apart).
//
// Nothing here holds a token, a secret or a key: verifiers ship
// descriptions of decisions (token.DecisionRecord), never the token.
package decisions
