package mcpmw

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
)

// ToolPolicy says what calling one tool means to the verifier: the service
// and operation it performs and the resource it touches. Declare it next to
// the tool with [AddTool] or [Guard.AddTool].
type ToolPolicy struct {
	// Service is the service the tool belongs to ("github"). Required.
	Service string
	// Operation is what the tool does ("read", "write"). Required.
	Operation string
	// Resource derives the one resource the call touches from its
	// arguments, e.g. "repo:acme/api" from {"repo": "acme/api"}. Nil means
	// the empty resource, which only a right with an empty resource prefix
	// covers. It must return what the tool will actually touch: if the
	// tool cleans a path or resolves an alias, Resource must do the same.
	// An error denies the call (400). See [ArgResource].
	Resource func(args map[string]any) (string, error)
	// Args, when set, chooses the arguments that become arg(name, value)
	// facts; by default every argument does. The verifier accepts
	// integers, strings, booleans and flat lists of one of these; a tool
	// with an object argument needs Args to flatten or drop it, or every
	// call is denied as a bad request.
	Args func(args map[string]any) (map[string]any, error)
}

func (p ToolPolicy) validate(tool string) error {
	switch {
	case tool == "":
		return errors.New("mcpmw: the tool has no name")
	case p.Service == "":
		return fmt.Errorf("mcpmw: tool %q: ToolPolicy.Service is required", tool)
	case p.Operation == "":
		return fmt.Errorf("mcpmw: tool %q: ToolPolicy.Operation is required", tool)
	}
	// The verifier refuses such names in every request: fail at
	// declaration instead of denying every call.
	for _, f := range [...]struct{ what, v string }{{"the tool name", tool}, {"ToolPolicy.Service", p.Service}, {"ToolPolicy.Operation", p.Operation}} {
		if err := token.CheckNameRunes(f.v); err != nil {
			return fmt.Errorf("mcpmw: tool %q: %s %w", tool, f.what, err)
		}
	}
	return nil
}

// request builds the verifier request of a call. A panic in the policy's
// functions is an error: a malformed argument must never crash the server.
func (p ToolPolicy) request(tool string, args map[string]any, approval string) (req verifier.Request, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("tool %q: the policy panicked on these arguments", tool)
		}
	}()
	req = verifier.Request{Service: p.Service, Tool: tool, Operation: p.Operation, Args: args, Approval: approval}
	if p.Resource != nil {
		if req.Resource, err = p.Resource(args); err != nil {
			return req, fmt.Errorf("tool %q: resource: %w", tool, err)
		}
	}
	if p.Args != nil {
		if req.Args, err = p.Args(args); err != nil {
			return req, fmt.Errorf("tool %q: arguments: %w", tool, err)
		}
	}
	return req, nil
}

// ArgResource returns a ToolPolicy.Resource that is prefix followed by the
// string argument name, which must be present and non-empty:
// ArgResource("repo:", "repo") maps {"repo": "acme/api"} to
// "repo:acme/api".
func ArgResource(prefix, name string) func(args map[string]any) (string, error) {
	return func(args map[string]any) (string, error) {
		s, ok := args[name].(string)
		if !ok || s == "" {
			return "", fmt.Errorf("argument %q must be a non-empty string", name)
		}
		return prefix + s, nil
	}
}

// Options configure a [Guard].
type Options struct {
	// ResourceMetadata is the URL of this server's RFC 9728 protected
	// resource metadata (see [MetadataURL]). MCP clients find the
	// authority through it: it is sent in every 401 and 403 challenge as
	// resource_metadata="…". Strongly recommended.
	ResourceMetadata string
	// Audience is this server's resource identifier, the Resource of its
	// RFC 9728 metadata (such as "https://crm.example.com/mcp"). When set,
	// every call states audience(Audience), so that a token the authority
	// bound to this resource (an OAuth resource indicator, RFC 8707) is
	// accepted and a token bound to another resource is denied, as the
	// MCP authorization specification requires. Tokens bound to no
	// resource are accepted as before. Leave it empty and this server
	// refuses every audience-bound token (fail closed).
	Audience string
	// Realm is the realm of challenges (default "mandate").
	Realm string
	// MaxBodyBytes bounds the request bodies the middleware reads; zero
	// means DefaultMaxBodyBytes. Keep it at or above the SDK handler's
	// own limit (StreamableHTTPOptions.MaxRequestBodyBytes).
	MaxBodyBytes int64
	// ApprovalURL is the base URL of the authority that approves calls,
	// and ApprovalPageURL the page where a person decides (the console);
	// see verifier.HTTPOptions. A call that needs approval is answered
	// with the URL elicitation error ([CodeURLElicitationRequired])
	// pointing the person at the page.
	ApprovalURL, ApprovalPageURL string
}

// Guard authorizes the tool calls of MCP servers with a verifier. It holds
// each tool's policy; tools registered on a server without one are denied.
// A Guard is safe for concurrent use and may serve several servers.
type Guard struct {
	v        *verifier.Verifier
	opts     Options
	mu       sync.RWMutex
	policies map[string]ToolPolicy
	// typed holds the tools with an output schema: their denials carry
	// the structured denial in _meta only (see denialResult).
	typed map[string]bool
}

// New returns a Guard deciding with v.
func New(v *verifier.Verifier, opts Options) (*Guard, error) {
	if v == nil {
		return nil, errors.New("mcpmw: a verifier is required")
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	return &Guard{v: v, opts: opts, policies: make(map[string]ToolPolicy), typed: make(map[string]bool)}, nil
}

func (g *Guard) httpOptions() verifier.HTTPOptions {
	return verifier.HTTPOptions{Realm: g.opts.Realm, ResourceMetadata: g.opts.ResourceMetadata, ApprovalURL: g.opts.ApprovalURL, ApprovalPageURL: g.opts.ApprovalPageURL}
}

func (g *Guard) policy(tool string) (ToolPolicy, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	p, ok := g.policies[tool]
	return p, ok
}

func (g *Guard) declare(tool string, p ToolPolicy, outputSchema bool) error {
	if err := p.validate(tool); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.policies[tool] = p
	g.typed[tool] = outputSchema
	return nil
}

func (g *Guard) hasOutputSchema(tool string) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.typed[tool]
}

// AddTool declares the policy of t and registers t on s, like s.AddTool,
// with h wrapped so that each call is authorized again as the SDK
// dispatches it (see the package documentation). It returns an error for an
// invalid policy; the SDK itself panics on an invalid tool (no input schema).
func (g *Guard) AddTool(s *mcp.Server, t *mcp.Tool, p ToolPolicy, h mcp.ToolHandler) error {
	if t == nil {
		return errors.New("mcpmw: AddTool: nil tool")
	}
	if err := g.declare(t.Name, p, t.OutputSchema != nil); err != nil {
		return err
	}
	s.AddTool(t, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		ctx, denied, err := g.authorizeCall(ctx, p, req)
		if denied != nil || err != nil {
			return denied, err
		}
		return h(ctx, req)
	})
	return nil
}

// AddTool declares the policy of t and registers t on s with a typed
// handler, like mcp.AddTool, with h wrapped so that each call is authorized
// again as the SDK dispatches it. It returns an error for an invalid policy;
// the SDK itself panics on input or output types it cannot describe.
func AddTool[In, Out any](g *Guard, s *mcp.Server, t *mcp.Tool, p ToolPolicy, h mcp.ToolHandlerFor[In, Out]) error {
	if t == nil {
		return errors.New("mcpmw: AddTool: nil tool")
	}
	// mcp.AddTool gives the tool an output schema exactly when this holds.
	if err := g.declare(t.Name, p, t.OutputSchema != nil || reflect.TypeFor[Out]() != reflect.TypeFor[any]()); err != nil {
		return err
	}
	mcp.AddTool(s, t, func(ctx context.Context, req *mcp.CallToolRequest, in In) (*mcp.CallToolResult, Out, error) {
		ctx, denied, err := g.authorizeCall(ctx, p, req)
		if denied != nil || err != nil {
			var zero Out
			return denied, zero, err
		}
		return h(ctx, req, in)
	})
	return nil
}

// authorizeCall is the in-SDK decision: it uses the tool name and the raw
// arguments exactly as the SDK parsed them, and the bearer token of the
// HTTP request that carried the call. A denial is a tool error result
// ([Guard.denialResult]); an allowed call's context carries the decision
// (verifier.DecisionFrom). A call that needs approval is answered with the
// URL elicitation error instead (err). Behind the middleware, a call
// reaches it only if the middleware allowed it, so a denial here is rare
// (the token was revoked in between).
func (g *Guard) authorizeCall(ctx context.Context, p ToolPolicy, req *mcp.CallToolRequest) (context.Context, *mcp.CallToolResult, error) {
	var hdr http.Header
	if req.Extra != nil {
		hdr = req.Extra.Header
	}
	name := ""
	var rawArgs []byte
	if req.Params != nil {
		name, rawArgs = req.Params.Name, req.Params.Arguments
	}
	tok, err := verifier.BearerToken(&http.Request{Header: hdr})
	if err != nil {
		err = fmt.Errorf("%v (serve the MCP handler behind Guard.Middleware, over HTTP, with a bearer token)", err)
		return ctx, g.denialResult(name, &verifier.Decision{Err: fmt.Errorf("%w: %w", verifier.ErrDenied, verifier.ErrNoToken), Reason: err.Error()}), nil
	}
	args, err := decodeArgs(rawArgs)
	if err != nil {
		return ctx, g.denialResult(name, &verifier.Decision{Err: fmt.Errorf("%w: %w", verifier.ErrBadRequest, err), Reason: err.Error()}), nil
	}
	var approval string
	if req.Params != nil {
		if approval, err = metaApproval(req.Params.Meta[verifier.ApprovalMetaKey], req.Params.Meta != nil && req.Params.Meta[verifier.ApprovalMetaKey] != nil); err != nil {
			return ctx, g.denialResult(name, &verifier.Decision{Err: fmt.Errorf("%w: %w", verifier.ErrBadRequest, err), Reason: err.Error()}), nil
		}
	}
	vreq, err := p.request(name, args, approval)
	if err != nil {
		return ctx, g.denialResult(name, &verifier.Decision{Err: fmt.Errorf("%w: %w", verifier.ErrBadRequest, err), Reason: err.Error()}), nil
	}
	vreq.Audience = g.opts.Audience
	d := g.v.Authorize(ctx, tok, vreq)
	switch {
	case d.Kind() == verifier.KindApprovalRequired:
		return ctx, nil, g.elicitationError(name, &d)
	case !d.Allowed:
		return ctx, g.denialResult(name, &d), nil
	}
	return verifier.WithDecision(ctx, &d), nil, nil
}

// metaApproval reads the approval of params._meta: a string, or absent.
func metaApproval(v any, present bool) (string, error) {
	if !present {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("params._meta[%q] must be a string (the encoded approval)", verifier.ApprovalMetaKey)
	}
	return s, nil
}
