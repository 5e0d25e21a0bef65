// Package interop holds no code, only tests: they prove that mandate and
// Biscuit's Rust reference implementation agree on the same tokens, and that
// an independent MCP client sees mandate's denials as intended. The Rust
// side runs under Node.js through the npm package
// @biscuit-auth/biscuit-wasm, and the MCP client is the official TypeScript
// SDK, @modelcontextprotocol/sdk, both pinned in package.json and
// package-lock.json; biscuit.mjs runs a batch of operations (mint, append,
// seal, inspect, authorize) that the Go tests send it as JSON on stdin, and
// mcpclient.mjs runs MCP client sessions against a guarded server on
// 127.0.0.1.
//
// To run the tests, from the repository root:
//
//	npm ci --prefix interop      # once, and after package-lock.json changes
//	go test -race -count=1 ./interop/...
//
// They need Node.js 20 or newer (started with --experimental-wasm-modules).
// Without node or the installed package they FAIL, saying what to run, so
// that CI can never pass without them. A developer who cannot install Node
// may set MANDATE_SKIP_INTEROP=1 to skip them locally; CI must never set it.
//
// What they cover:
//
//  1. Tokens minted and attenuated by mandate verify in Rust, and Rust's
//     authorizer, given the same request facts and mandate's policy
//     (token.Policy), decides every request as mandate's verifier does.
//  2. A block appended in Rust, written with Rust's {..} set syntax, is
//     honoured by mandate's verifier, which locates the failing check in
//     that block as Rust does.
//  3. A block that uses Datalog newer than Biscuit v3 ("check all",
//     "reject if", "!=", [..] arrays, bitwise operators), which Rust would
//     allow, is denied by mandate with token.ErrUnsupported and a reason
//     naming the block version.
//  4. Revocation IDs agree, for padded and unpadded base64.
//  5. Sealed tokens cross in both directions; a token minted in Rust with a
//     root key ID verifies in mandate.
//  6. Regular expressions decide as in Rust on Unicode input (\d, \w, \s
//     are Unicode classes), and the constructs Go and Rust read
//     differently (\b, \Q...\E, octal escapes, (?-u), ...) are refused by
//     the Builder and the verifier.
//  7. A rule whose body is only an expression (p(1) <- true), written by
//     Rust's parser, is read and decided by mandate.
//  8. Overlapping symbol tables are refused by both (SymbolTableOverlap,
//     token.ErrSymbolOverlap); mandate also refuses a block that repeats
//     one of its own symbols.
//  9. The TypeScript MCP client, with and without an OAuth provider: token
//     problems fail with 401; a call no right covers is a 403 that the
//     provider answers with step-up for exactly the covering scope; a
//     caveat, unusable arguments or an undeclared tool come back as isError
//     tool results with the machine-readable denial and never reach the
//     provider; every session keeps working after each denial.
//
// Agents that attenuate with the Rust, JS or Python libraries must write
// sets as {"a", "b"}: in those libraries ["a", "b"] is an array, a Datalog
// 3.3 type that a Biscuit v3 verifier refuses.
package interop
