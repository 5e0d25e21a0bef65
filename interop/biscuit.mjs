// biscuit.mjs runs a batch of operations with Biscuit's Rust implementation
// (@biscuit-auth/biscuit-wasm, pinned in package.json) for interop_test.go.
//
// It reads batches from stdin, one JSON object a line, {"ops": [op, ...]},
// and answers each with one line on stdout, {"results": [result, ...]}, one
// result per op, in order, until stdin closes; the Go tests start it once.
// An op that fails yields {"ok": false, "error": ...}; the batch goes on.
// Ops (fields besides "op"):
//
//	info                                   -> {version}
//	inspect   {public_key, token}          -> {revocation_ids, blocks, sources}
//	append    {public_key, token, code}    -> {token}   appends a block written in Rust Datalog
//	seal      {public_key, token}          -> {token}
//	mint      {private_key, code, root_key_id?} -> {token, public_key}  private_key: 64 hex characters
//	authorize {public_key, token, code}    -> {allowed, policy} or {allowed, reason, failed_checks}
//
// public_key is 64 hex characters (Ed25519), without the "ed25519/" prefix
// that PublicKey.fromString refuses. Tokens are URL-safe base64.
//
// Run by hand:
//
//	echo '{"ops":[{"op":"info"}]}' | node --experimental-wasm-modules interop/biscuit.mjs
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";

// The wasm module prints "biscuit-wasm loading" with console.log when it
// loads; keep stdout for the one JSON answer.
console.log = (...args) => console.error(...args);
const { AuthorizerBuilder, Biscuit, KeyPair, PrivateKey, PublicKey, SignatureAlgorithm } = await import(
  "@biscuit-auth/biscuit-wasm"
);

const pkg = JSON.parse(
  readFileSync(new URL("./node_modules/@biscuit-auth/biscuit-wasm/package.json", import.meta.url), "utf8"),
);

// Explicit limits: with its defaults, authorize() of biscuit-wasm 0.6.0 under
// Node 20 fails every request with {"RunLimit":"Timeout"}, and a 1 ms budget
// would fire spuriously on a loaded CI machine anyway. These tests compare
// decisions, not speed.
const limits = { max_facts: 10000, max_iterations: 1000, max_time_micro: 10_000_000 };

function publicKey(hex) {
  return PublicKey.fromString(hex, SignatureAlgorithm.Ed25519);
}

function load(op) {
  return Biscuit.fromBase64(op.token, publicKey(op.public_key));
}

// message renders whatever the wasm module threw: an Error, a string, or a
// serialized Rust error enum.
function message(e) {
  if (e instanceof Error) return e.message;
  if (typeof e === "string") return e;
  return JSON.stringify(e);
}

// failedChecks extracts {block, check, rule} from a Rust authorization
// error: {FailedLogic: {Unauthorized|NoMatchingPolicy: {checks: [...]}}}.
// Authorizer checks are reported with block -1.
function failedChecks(e) {
  const logic = e && typeof e === "object" ? e.FailedLogic : undefined;
  const body = logic && (logic.Unauthorized ?? logic.NoMatchingPolicy);
  if (!body || !Array.isArray(body.checks)) return [];
  return body.checks.map((c) => {
    if (c.Block) return { block: c.Block.block_id, check: c.Block.check_id, rule: c.Block.rule };
    if (c.Authorizer) return { block: -1, check: c.Authorizer.check_id, rule: c.Authorizer.rule };
    return { block: -2, check: -1, rule: JSON.stringify(c) };
  });
}

const ops = {
  info: () => ({ version: pkg.version }),
  inspect(op) {
    const t = load(op);
    const n = t.countBlocks();
    const sources = [];
    for (let i = 0; i < n; i++) sources.push(t.getBlockSource(i));
    return { revocation_ids: t.getRevocationIdentifiers(), blocks: n, sources };
  },
  append(op) {
    const bb = Biscuit.block_builder();
    bb.addCode(op.code);
    return { token: load(op).appendBlock(bb).toBase64() };
  },
  seal: (op) => ({ token: load(op).sealToken().toBase64() }),
  mint(op) {
    const kp = KeyPair.fromPrivateKey(PrivateKey.fromString("ed25519-private/" + op.private_key));
    const b = Biscuit.builder();
    b.addCode(op.code);
    if (op.root_key_id !== undefined) b.setRootKeyId(op.root_key_id);
    const pub = kp.getPublicKey().toString().replace(/^ed25519\//, "");
    return { token: b.build(kp.getPrivateKey()).toBase64(), public_key: pub };
  },
  authorize(op) {
    const t = load(op);
    const ab = new AuthorizerBuilder();
    ab.addCode(op.code);
    const az = ab.buildAuthenticated(t);
    try {
      return { allowed: true, policy: az.authorizeWithLimits(limits) };
    } catch (e) {
      // A denial is a result, not a failure of the op.
      return { allowed: false, reason: message(e), failed_checks: failedChecks(e) };
    }
  },
};

function run(op) {
  const fn = Object.hasOwn(ops, op.op) ? ops[op.op] : undefined;
  if (!fn) return { ok: false, error: `unknown op ${JSON.stringify(op.op)}` };
  try {
    return { ok: true, ...fn(op) };
  } catch (e) {
    return { ok: false, error: message(e) };
  }
}

// One batch per line, answered in order, until stdin closes.
const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (line.trim() === "") continue;
  let answer;
  try {
    answer = { results: (JSON.parse(line).ops ?? []).map(run) };
  } catch (e) {
    answer = { error: `unreadable batch: ${message(e)}` };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
}
