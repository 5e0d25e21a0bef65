// mcpclient.mjs drives the official MCP TypeScript SDK client against a
// mandate-guarded MCP server, for mcp_test.go. It reads one plan as JSON on
// stdin and prints one report as JSON on stdout:
//
//   plan:   {url, sessions: [{name, token, oauth, steps: [{name, tool, args}]}]}
//   report: {sessions: [{name, connectError, steps: [outcome]}]}
//
// Each session connects one client (a bearer token in every request; with
// oauth, an OAuthClientProvider holding the token instead), then runs its
// steps in order on that one session. An outcome says whether callTool
// threw (error name, HTTP or JSON-RPC code, message) or returned a result
// (isError, text, structuredContent, _meta), and what the OAuth provider
// was asked to do meanwhile. When a step-up redirect happens, the script
// consents as the person would: it follows the authorization URL to the
// test's authorization server, hands the code to the transport
// (finishAuth) and retries the call once.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const plan = JSON.parse(Buffer.concat(chunks).toString('utf8'));

function describe(err) {
  return {
    name: err?.constructor?.name ?? typeof err,
    code: err instanceof StreamableHTTPError ? err.code : (typeof err?.code === 'number' ? err.code : null),
    message: String(err?.message ?? err),
    unauthorized: err instanceof UnauthorizedError,
    data: err?.data ?? null,
  };
}

// provider is an OAuthClientProvider that starts with a token and records
// every authorization the transport asks for.
function provider(token) {
  const p = {
    current: { access_token: token, token_type: 'Bearer' },
    redirects: [],
    saved: 0,
    invalidated: [],
    verifier: '',
    get redirectUrl() { return 'http://127.0.0.1/callback'; },
    get clientMetadata() {
      return { redirect_uris: ['http://127.0.0.1/callback'], client_name: 'ts-agent', grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'none' };
    },
    clientInformation() { return { client_id: 'ts-agent' }; },
    tokens() { return p.current; },
    saveTokens(t) { p.current = t; p.saved++; },
    redirectToAuthorization(url) { p.redirects.push(url.toString()); },
    saveCodeVerifier(v) { p.verifier = v; },
    codeVerifier() { return p.verifier; },
    invalidateCredentials(scope) { p.invalidated.push(scope); },
  };
  return p;
}

function snapshot(p) {
  return p ? { redirects: p.redirects.length, saved: p.saved, invalidated: p.invalidated.length } : null;
}

async function consent(transport, p) {
  const url = new URL(p.redirects.at(-1));
  const res = await fetch(url, { redirect: 'manual' });
  const back = new URL(res.headers.get('location'));
  await transport.finishAuth(back.searchParams.get('code'));
  return url.searchParams.get('scope');
}

async function step(client, transport, p, s) {
  const before = snapshot(p);
  const out = { name: s.name };
  const call = () => client.callTool({ name: s.tool, arguments: s.args ?? {}, ...(s.meta ? { _meta: s.meta } : {}) });
  try {
    let res;
    try {
      res = await call();
    } catch (err) {
      if (!(p && err instanceof UnauthorizedError && p.redirects.length > before.redirects)) throw err;
      out.stepUpScope = await consent(transport, p);
      res = await call();
    }
    out.isError = res.isError === true;
    out.text = (res.content ?? []).filter(c => c.type === 'text').map(c => c.text).join('');
    out.structuredContent = res.structuredContent ?? null;
    out.meta = res._meta ?? null;
  } catch (err) {
    out.error = describe(err);
  }
  const after = snapshot(p);
  if (p) out.auth = { redirects: after.redirects - before.redirects, saved: after.saved - before.saved, invalidated: after.invalidated - before.invalidated };
  return out;
}

const report = { sessions: [] };
for (const sess of plan.sessions) {
  const r = { name: sess.name, connectError: null, steps: [] };
  report.sessions.push(r);
  const p = sess.oauth ? provider(sess.token) : null;
  const opts = p ? { authProvider: p } : { requestInit: { headers: sess.token ? { Authorization: `Bearer ${sess.token}` } : {} } };
  const transport = new StreamableHTTPClientTransport(new URL(plan.url), opts);
  const client = new Client({ name: 'ts-agent', version: '0.0.1' });
  try {
    await client.connect(transport);
  } catch (err) {
    r.connectError = describe(err);
    await client.close().catch(() => {});
    continue;
  }
  // Listing the tools arms the client's output-schema validation, which
  // the TypeScript SDK applies to structured content even in error results.
  await client.listTools();
  for (const s of sess.steps ?? []) r.steps.push(await step(client, transport, p, s));
  await client.close().catch(() => {});
}
process.stdout.write(JSON.stringify(report) + '\n');
