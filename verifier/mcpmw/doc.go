// Package mcpmw protects an MCP tool server built on the official Go SDK
// (github.com/modelcontextprotocol/go-sdk) with the mandate verifier, over
// streamable HTTP.
//
// The verifier decides every tools/call from the tool's name and its
// arguments. What a call means — the service, the operation and the
// resource it touches — is declared next to the tool, in a [ToolPolicy]
// registered with it; the arguments become the request's arg facts. A tool
// registered without a policy is denied: the guard fails closed.
//
// # Protecting a server in four steps
//
//  1. Build a [verifier.Verifier] for the authority's keys, and a [Guard]
//     with the URL of this server's protected resource metadata
//     ([MetadataURL]).
//  2. Register each tool with [AddTool] (typed handlers) or
//     [Guard.AddTool], with its policy next to it.
//  3. Wrap the SDK's streamable HTTP handler with [Guard.Middleware].
//  4. Serve [ProtectedResourceMetadata] at the metadata URL, outside the
//     middleware, naming the authority.
//
// For example:
//
//	meta, _ := mcpmw.MetadataURL("https://tools.example/mcp")
//	guard, _ := mcpmw.New(v, mcpmw.Options{ResourceMetadata: meta})
//	server := mcp.NewServer(&mcp.Implementation{Name: "repo-tools"}, nil)
//	mcpmw.AddTool(guard, server, &mcp.Tool{Name: "read_file"},
//		mcpmw.ToolPolicy{Service: "github", Operation: "read",
//			Resource: mcpmw.ArgResource("repo:", "repo")},
//		readFile)
//	handler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
//	http.Handle("/mcp", guard.Middleware(handler))
//	md, _ := mcpmw.ProtectedResourceMetadata(mcpmw.Metadata{
//		Resource:             "https://tools.example/mcp",
//		AuthorizationServers: []string{"https://authority.example"},
//	})
//	http.Handle("/.well-known/oauth-protected-resource/mcp", md)
//
// Handlers of allowed calls find the decision (session, agent, decision
// ID) with [verifier.DecisionFrom] on their context.
//
// # What clients see
//
// The MCP authorization specification puts authorization on the HTTP
// response: a request without a valid token gets 401 with a
// WWW-Authenticate challenge whose resource_metadata leads the client to the
// authority, and a token whose scopes do not cover the request gets 403
// with error="insufficient_scope", which clients answer with step-up
// authorization. MCP SDK clients hand every 401 and 403 to their OAuth
// handler, so a 403 must mean "a broader grant would allow this" and
// nothing else. [Guard.Middleware] checks the bearer token first (before a
// byte of the body is read, so that only a token holder can make it parse
// anything), then reads the JSON-RPC body (up to Options.MaxBodyBytes, 413
// beyond; then restores it), authorizes every tools/call in it — every
// call of a batch; the first denial refuses the batch — and answers by the
// denial's [verifier.Kind]:
//
//   - 401, bare challenge: no token. 401 error="invalid_token": the token is
//     malformed, unverifiable, expired or revoked. Every request, including
//     initialize, tools/list and the GET event stream, needs a valid token.
//   - 403 error="insufficient_scope", scope="…": no right of the token
//     covers the call and no caveat denies it; scope is the right that
//     would (token.Right.Scope). The body is a JSON-RPC error response
//     (code [CodeForbidden]) with the reason, the scope and the decision
//     ID, so that a client without an OAuth handler fails that call and
//     keeps the session (the Go SDK closes the session on a non-JSON-RPC
//     error body).
//   - HTTP 200 with the call's tool result, isError true: everything no
//     grant can fix — an attenuation caveat (even when no right covers the
//     call either), arguments the policy cannot map, a tool without a
//     policy, a stale revocation replica. The text is one sentence the model
//     can act on ([Sentence]); the structured content is the [Denial] (the
//     kind as "error", the failed block and check, the decision ID), also
//     under _meta at [DenialMetaKey]. Tools with an output schema get it in
//     _meta only: clients validate structured content against the output
//     schema even in error results. This is the reasoning of SEP-1303 (MCP
//     2025-11-25), which moved argument validation failures from protocol
//     errors to tool results: the model can correct its call, and no
//     client starts an authorization flow that cannot help.
//   - 400 with a JSON-RPC error (invalid params): the body cannot be read
//     unambiguously.
//
// Approval-required denials (the approvals issue) will be answered with its
// URL-mode elicitation error; that kind is reserved
// ([verifier.KindApprovalRequired]) and not produced yet.
//
// # Two decisions per call, on purpose
//
// The middleware reads the body with encoding/json; the SDK parses it again
// with its own JSON library. If the two could disagree on a body, an agent
// could have one call authorized and another one run. The middleware
// refuses what parsers disagree on (repeated keys, keys that differ only in
// case — encoding/json matches "Amount" to a field "amount" — invalid
// UTF-8, deep nesting), reads envelope fields ("method", "params", "name",
// "arguments") case-insensitively, so that a call spelled "Method" or
// "Arguments" is authorized rather than skipped whatever a decoder makes of
// it, and the handlers registered through AddTool decide each call
// again from the SDK's own parse of it (name, raw arguments and the
// Authorization header of the HTTP request) before the tool runs. That
// second decision is a warm cache hit (microseconds); a denial there is a
// tool error result like the middleware's (an insufficient_scope one
// included: the SDK has already accepted the request). Both decisions
// appear in the audit log.
//
// Without the middleware (another transport, or a handler mounted without
// it), the wrapped handlers still deny every call that does not carry an
// allowing token, but tools registered directly on the server, without
// AddTool, are then unprotected: register every tool through this package.
//
// # Where people go wrong
//
// The resource is what the tool touches. If a tool cleans a path, resolves
// an alias or defaults a repository, ToolPolicy.Resource must do the same,
// or the token is checked against one resource and the tool acts on
// another. Tool arguments become arg facts as they are sent; amounts must be
// integers (minor units), and object arguments need ToolPolicy.Args.
package mcpmw
