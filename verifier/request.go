package verifier

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/mandate-dev/mandate/internal/callfacts"
	"github.com/mandate-dev/mandate/internal/datalog"
	"github.com/mandate-dev/mandate/internal/strictjson"
	"github.com/mandate-dev/mandate/token"
)

// Request describes one tool call. The verifier turns it into the request
// facts (time, service, tool, operation, resource, arg) itself; nothing in a
// token can add or replace them.
//
// A call that touches several resources must be authorized once per
// resource: a check `check if resource($r), ...` passes when any resource
// fact matches, so a request carries exactly one.
type Request struct {
	Service   string
	Tool      string
	Operation string
	Resource  string
	// Audience is this resource server's identifier (for an MCP server,
	// its RFC 9728 resource URL). When set, the request states
	// audience(Audience), which a token minted for this resource
	// (token.MintRequest.Audience) needs; a token minted for another
	// resource is denied. Set it from configuration, never from the
	// request.
	Audience string
	// Args become arg(name, value) facts. Supported values: integers
	// (any Go integer type, json.Number, or a float64 with an integral
	// value, as encoding/json decodes numbers), strings, booleans,
	// time.Time (a date) and []byte. A list ([]string, []int, []any, ...)
	// of scalars of one type becomes one set value, so that a check must
	// hold for the whole list (`["a", "b"].contains($to)` is a subset
	// test), never for just one matching element. A string or list over
	// the token limits is left out: Datalog 3.0 has no negation, so a
	// missing fact can only make checks fail, never pass.
	Args map[string]any
	// Approval is an approval the agent presents with the call (the
	// encoded token.Approval, as the authority returned it). It is read
	// only when an approval caveat stops the call, and only by a verifier
	// configured with Config.Approvals; it is never a capability.
	Approval string
}

// MaxArgs bounds the arguments of one request.
const MaxArgs = 64

// MaxArgsJSONDepth bounds the nesting of a JSON document ArgsFromJSON
// reads. Arguments the verifier can use are flat (scalars and lists of
// scalars); the bound keeps the duplicate-key scan cheap.
const MaxArgsJSONDepth = 64

// ArgsFromJSON decodes a JSON object into Request.Args for a tool server
// whose arguments arrive as JSON (a request body, MCP tool arguments).
// Numbers stay exact (json.Number). It refuses, with an error matching
// ErrBadRequest, a document that is not one object, is not UTF-8, is
// nested deeper than MaxArgsJSONDepth, or has an object (at any level) with
// a repeated key or two keys that differ only in case: encoding/json
// decodes {"amount":300,"Amount":900} into a struct field "amount" as 900
// while a map lookup sees 300, so the verifier would authorize one call and
// the handler run another.
func ArgsFromJSON(body []byte) (map[string]any, error) {
	if err := strictjson.Check(body, MaxArgsJSONDepth); err != nil {
		return nil, fmt.Errorf("%w: arguments: %w", ErrBadRequest, err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var args map[string]any
	if err := dec.Decode(&args); err != nil {
		return nil, fmt.Errorf("%w: arguments must be one JSON object: %v", ErrBadRequest, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: arguments must be one JSON object: data after it", ErrBadRequest)
	}
	if args == nil {
		return nil, fmt.Errorf("%w: arguments must be a JSON object, not null", ErrBadRequest)
	}
	return args, nil
}

func (r *Request) validate() error {
	switch {
	case r.Service == "":
		return fmt.Errorf("%w: request has no service", ErrBadRequest)
	case r.Tool == "":
		return fmt.Errorf("%w: request has no tool", ErrBadRequest)
	case r.Operation == "":
		return fmt.Errorf("%w: request has no operation", ErrBadRequest)
	case len(r.Args) > MaxArgs:
		return fmt.Errorf("%w: %d arguments is over the limit of %d", ErrBadRequest, len(r.Args), MaxArgs)
	}
	for _, f := range [...]struct{ what, v string }{{"service", r.Service}, {"tool", r.Tool}, {"operation", r.Operation}} {
		if err := token.CheckNameRunes(f.v); err != nil {
			return fmt.Errorf("%w: %s %q %w", ErrBadRequest, f.what, f.v, err)
		}
	}
	// The resource is what a right's prefix is compared with: one that a
	// tool server could resolve elsewhere ("account:acme/../globex/1")
	// is refused, never compared.
	if err := token.CheckResource(r.Resource); err != nil {
		return fmt.Errorf("%w: resource %q: %w", ErrBadRequest, r.Resource, err)
	}
	return checkArgNames(r.Args)
}

// checkArgNames refuses argument names that differ only in case: a
// handler decoding the same JSON with encoding/json reads "Amount" into
// its field "amount", so a check on arg("amount", …) would judge a value
// the handler never uses.
func checkArgNames(args map[string]any) error {
	for name := range args {
		if err := token.CheckNameRunes(name); err != nil {
			return fmt.Errorf("%w: argument name %q %w", ErrBadRequest, name, err)
		}
	}
	if len(args) < 2 {
		return nil
	}
	seen := make(map[string]string, len(args))
	for name := range args {
		f := strictjson.Fold(name)
		if prev, dup := seen[f]; dup {
			a, b := min(prev, name), max(prev, name)
			return fmt.Errorf("%w: arguments %q and %q differ only in case; a handler may read either, so send one", ErrBadRequest, a, b)
		}
		seen[f] = name
	}
	return nil
}

// facts builds the request facts, with time from the verifier's clock. Their
// terms are carved out of sc's reusable arena, so a decision allocates
// nothing for them.
func (r *Request) facts(now time.Time, sc *scratch) ([]datalog.Predicate, error) {
	need := 6 + 2*len(r.Args)
	if cap(sc.terms) < need {
		sc.terms = make([]datalog.Term, 0, max(need, 16))
	}
	terms := sc.terms[:0]
	out := sc.facts[:0]
	add := func(name string, ts ...datalog.Term) {
		start := len(terms)
		terms = append(terms, ts...)
		out = append(out, datalog.Predicate{Name: name, Terms: terms[start:len(terms):len(terms)]})
	}
	add(token.FactTime, datalog.Date(now))
	add(token.FactService, datalog.String(r.Service))
	add(token.FactTool, datalog.String(r.Tool))
	add(token.FactOperation, datalog.String(r.Operation))
	add(token.FactResource, datalog.String(r.Resource))
	if r.Audience != "" {
		add(token.FactAudience, datalog.String(r.Audience))
	}
	sc.facts, sc.terms = out, terms
	if len(r.Args) == 0 {
		return out, nil
	}
	names := make([]string, 0, len(r.Args))
	for k := range r.Args {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, name := range names {
		t, ok, err := callfacts.ArgTerm(r.Args[name])
		if err != nil {
			return nil, fmt.Errorf("%w: argument %q: %v", ErrBadRequest, name, err)
		}
		if !ok || len(name) > token.MaxStringBytes {
			continue
		}
		add(token.FactArg, datalog.String(name), t)
	}
	sc.facts, sc.terms = out, terms
	return out, nil
}
