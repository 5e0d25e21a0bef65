// calldigest.mjs: mandate's call digest (token.CallDigest) in plain
// JavaScript, with Node's crypto only. An agent written in JavaScript
// computes the digest of a tool call with callDigest() to ask the
// authority for an approval of exactly that call.
//
//   digest = SHA-256("mandate/call-digest/v1\0"
//                    ‖ str(service) ‖ str(tool) ‖ str(operation) ‖ str(resource)
//                    ‖ u32(number of arguments)
//                    ‖ for each argument, names sorted bytewise: str(name) ‖ value)
//   str(s) = u32(UTF-8 length) ‖ UTF-8 bytes; integers big-endian
//   value  = 0x01 str | 0x02 i64 | 0x03 0/1 | 0x04 i64 seconds ‖ u32 nanoseconds
//          | 0x05 u32 length ‖ bytes | 0x06 u32 count ‖ values (call order)
//
// JavaScript values: a string, a bigint or an integral number (an
// integer), a boolean, a Date, a Uint8Array (bytes), an array of those.
//
// Run as a script, it reads the test vectors named on the command line
// (token/testdata/call-digest-vectors.json) and prints one line per
// vector: its name, a tab, and its digest in hex.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { argv } from 'node:process';

const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
const i64 = (n) => { const b = Buffer.alloc(8); b.writeBigInt64BE(BigInt.asIntN(64, n)); return b; };
const str = (s) => { const b = Buffer.from(s, 'utf8'); return Buffer.concat([u32(b.length), b]); };

function value(v, top) {
  if (typeof v === 'string') return Buffer.concat([Buffer.from([1]), str(v)]);
  if (typeof v === 'bigint') {
    if (v < -(2n ** 63n) || v >= 2n ** 63n) throw new Error(`integer ${v} is out of range`);
    return Buffer.concat([Buffer.from([2]), i64(v)]);
  }
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new Error(`number ${v} is not a safe integer: pass a bigint`);
    return Buffer.concat([Buffer.from([2]), i64(BigInt(v))]);
  }
  if (typeof v === 'boolean') return Buffer.from([3, v ? 1 : 0]);
  if (v instanceof Date) {
    const ms = BigInt(v.getTime());
    let secs = ms / 1000n, rem = ms % 1000n;
    if (rem < 0n) { secs -= 1n; rem += 1000n; }
    return Buffer.concat([Buffer.from([4]), i64(secs), u32(Number(rem) * 1e6)]);
  }
  if (v instanceof Uint8Array) return Buffer.concat([Buffer.from([5]), u32(v.length), Buffer.from(v)]);
  if (Array.isArray(v)) {
    if (!top) throw new Error('a list in a list has no encoding');
    return Buffer.concat([Buffer.from([6]), u32(v.length), ...v.map((e) => value(e, false))]);
  }
  throw new Error(`${v === null ? 'null' : typeof v} has no encoding`);
}

export function callDigest({ service, tool, operation, resource = '', args = {} }) {
  const h = createHash('sha256');
  h.update('mandate/call-digest/v1\0');
  for (const s of [service, tool, operation, resource]) h.update(str(s));
  const names = Object.keys(args).map((n) => Buffer.from(n, 'utf8')).sort(Buffer.compare);
  h.update(u32(names.length));
  for (const n of names) h.update(Buffer.concat([u32(n.length), n, value(args[n.toString('utf8')], true)]));
  return h.digest('hex');
}

// typed turns a test vector's typed JSON value into a JavaScript value.
function typed(t) {
  if ('string' in t) return t.string;
  if ('integer' in t) return BigInt(t.integer);
  if ('bool' in t) return t.bool;
  if ('date' in t) return new Date(t.date);
  if ('bytes' in t) return Uint8Array.from(Buffer.from(t.bytes, 'hex'));
  if ('list' in t) return t.list.map(typed);
  if ('repeat' in t) return t.repeat.repeat(t.times);
  throw new Error(`untyped value ${JSON.stringify(t)}`);
}

if (argv[1] && import.meta.url.endsWith(argv[1].split('/').pop())) {
  for (const v of JSON.parse(readFileSync(argv[2], 'utf8'))) {
    const args = Object.fromEntries(Object.entries(v.args).map(([k, t]) => [k, typed(t)]));
    console.log(`${v.name}\t${callDigest({ ...v, args })}`);
  }
}
