// Package interop holds no code, only tests: they prove that mandate and
// Biscuit's Rust reference implementation agree on the same tokens. The
// Rust side runs under Node.js through the npm package
// @biscuit-auth/biscuit-wasm, pinned in package.json and package-lock.json;
// biscuit.mjs runs a batch of operations (mint, append, seal, inspect,
// authorize) that the Go tests send it as JSON on stdin.
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
//
// Agents that attenuate with the Rust, JS or Python libraries must write
// sets as {"a", "b"}: in those libraries ["a", "b"] is an array, a Datalog
// 3.3 type that a Biscuit v3 verifier refuses.
package interop
