package mcpmw

// Limits of the MCP adapter. Each one bounds the work a single HTTP request
// can make the adapter do before the verifier's own limits apply.
const (
	// DefaultMaxBodyBytes bounds the JSON-RPC body the middleware reads to
	// find tools/call requests. It matches the SDK's own default
	// (mcp.DefaultMaxRequestBodyBytes), so a body the SDK would accept is
	// never refused here. Larger bodies are answered 413.
	DefaultMaxBodyBytes = 4 << 20

	// MaxBatchCalls bounds the tools/call requests of one JSON-RPC batch:
	// each is a decision, and a batch is one HTTP request. Batches were
	// removed from MCP in protocol version 2025-06-18; older clients send a
	// handful at most.
	MaxBatchCalls = 64

	// MaxJSONDepth bounds the nesting of the body. Tool arguments the
	// verifier can use are flat; deeper documents are refused before any
	// decision (400), as a bound on the duplicate-key scan.
	MaxJSONDepth = 64
)
