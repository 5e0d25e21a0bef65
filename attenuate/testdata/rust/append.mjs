// append.mjs attenuates a mandate token with Biscuit's Rust library
// (@biscuit-auth/biscuit-wasm 0.6), writing the vectors rust_test.go reads:
//
//	go run ./attenuate/testdata/rust/mint.go > /tmp/minted.txt
//	BISCUIT_WASM=/path/to/node_modules/@biscuit-auth/biscuit-wasm/module/biscuit.js \
//	  node --experimental-wasm-modules attenuate/testdata/rust/append.mjs /tmp/minted.txt attenuate/testdata/rust
import { readFileSync, writeFileSync } from "node:fs";

const mod = await import(process.env.BISCUIT_WASM ?? "@biscuit-auth/biscuit-wasm");
const { Biscuit, PublicKey, SignatureAlgorithm } = mod;
const [pub, tok] = readFileSync(process.argv[2], "utf8").trim().split("\n");
const root = PublicKey.fromString(pub, SignatureAlgorithm.Ed25519);
const minted = Biscuit.fromBase64(tok, root);

function append(code) {
  const bb = Biscuit.block_builder();
  bb.addCode(code);
  return minted.appendBlock(bb).toBase64();
}

const out = process.argv[3];
// A v3 block: Rust writes sets as {..}.
writeFileSync(`${out}/v3_block.txt`, append(
  'check if tool($t), {"get_account", "list_invoices", "refund"}.contains($t); delegated_to("rust-agent");') + "\n");
// A Datalog 3.3 block: in Rust, [..] is an array.
writeFileSync(`${out}/array_block.txt`, append(
  'check if tool($t), ["get_account"].contains($t);') + "\n");
