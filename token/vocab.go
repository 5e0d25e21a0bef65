package token

import (
	"strings"
	"time"

	"github.com/mandate-dev/mandate/internal/datalog"
)

// The Datalog vocabulary. These names are a public contract: agents in
// other languages attenuate tokens against them, so they are never renamed.
// The package documentation describes each one.
const (
	// Authority facts, written only by the authority.
	FactSession = "session" // session("s_…")
	FactAgent   = "agent"   // agent("support-bot")
	FactUser    = "user"    // user("alice@acme.test")
	FactOrg     = "org"     // org("acme")
	FactRight   = "right"   // right(service, tool|"*", operation|"*", resource prefix)

	// Request facts, added by the verifier for every decision and never
	// taken from a token.
	FactTime      = "time"      // time(2026-11-22T10:00:00Z): the verifier's clock
	FactService   = "service"   // service("crm")
	FactTool      = "tool"      // tool("get_account")
	FactOperation = "operation" // operation("read")
	FactResource  = "resource"  // resource("account:acme/42")
	FactArg       = "arg"       // arg(name, value): one per scalar argument; a list is a set
	// FactAudience is stated by a verifier that knows its resource
	// identifier (mcpmw: its RFC 9728 resource URL), so that a token
	// minted for one resource server (MintRequest.Audience) is refused by
	// every other. A verifier that states none refuses such tokens.
	FactAudience = "audience" // audience("https://crm.example.com/mcp")

	// Informational attenuation facts.
	FactDelegatedTo = "delegated_to" // delegated_to("sub-agent")

	// Wildcard matches any tool or operation in a right.
	Wildcard = "*"
)

// Subject says who a token was minted for.
type Subject struct {
	Agent   string `json:"agent"`
	User    string `json:"user,omitempty"`
	Org     string `json:"org,omitempty"`
	Session string `json:"session"`
}

// Right grants operations on resources through a tool of a service. Tool and
// Operation may be Wildcard. Resource is a plain string prefix:
// "account:acme/42" also covers "account:acme/420", so end it with a
// separator ("account:acme/42/") to grant one subtree only.
type Right struct {
	Service   string `json:"service"`
	Tool      string `json:"tool"`
	Operation string `json:"operation"`
	Resource  string `json:"resource"`
}

// Covers reports whether r grants the request.
func (r Right) Covers(service, tool, operation, resource string) bool {
	return r.Service == service &&
		(r.Tool == Wildcard || r.Tool == tool) &&
		(r.Operation == Wildcard || r.Operation == operation) &&
		strings.HasPrefix(resource, r.Resource)
}

// Policy is mandate's fixed authorization policy, in Datalog, for
// documentation: a request is allowed when a right of the authority block
// covers its service, tool, operation and resource, and every check of every
// block passes. The verifier evaluates it natively.
const Policy = `allow if service($s), tool($t), operation($o), resource($r),
         right($s, $rt, $ro, $rp),
         ($rt == "*" || $rt == $t), ($ro == "*" || $ro == $o),
         $r.starts_with($rp)`

// subjectOf reads the subject and rights from authority facts, and the
// expiry from authority checks of the form `check if time($t), $t <= DATE`.
func subjectOf(b *datalog.Block) (Subject, []Right, time.Time) {
	var s Subject
	var rights []Right
	for _, f := range b.Facts {
		if len(f.Terms) == 4 && f.Name == FactRight {
			if r, ok := rightOf(f); ok {
				rights = append(rights, r)
			}
			continue
		}
		if len(f.Terms) != 1 || f.Terms[0].Kind != datalog.KindString {
			continue
		}
		v := f.Terms[0].Str
		switch f.Name {
		case FactSession:
			s.Session = first(s.Session, v)
		case FactAgent:
			s.Agent = first(s.Agent, v)
		case FactUser:
			s.User = first(s.User, v)
		case FactOrg:
			s.Org = first(s.Org, v)
		}
	}
	return s, rights, ExpiryOf(b)
}

func first(cur, v string) string {
	if cur == "" {
		return v
	}
	return cur
}

func rightOf(f datalog.Predicate) (Right, bool) {
	for _, t := range f.Terms {
		if t.Kind != datalog.KindString {
			return Right{}, false
		}
	}
	return Right{Service: f.Terms[0].Str, Tool: f.Terms[1].Str, Operation: f.Terms[2].Str, Resource: f.Terms[3].Str}, true
}

// ExpiryOf returns the earliest expiry a block's checks state in the form
// `check if time($t), $t <= DATE` (or `<`), or the zero time. It only reads
// what the block says: the expiry of an attenuation block is untrusted (the
// block may satisfy its own check with a time fact). See
// [Verified.EffectiveExpiry] and [Verified.ExpiresAt].
func ExpiryOf(b *datalog.Block) time.Time {
	var exp time.Time
	for _, c := range b.Checks {
		if len(c.Queries) != 1 {
			continue
		}
		q := c.Queries[0]
		if len(q.Body) != 1 || q.Body[0].Name != FactTime || len(q.Body[0].Terms) != 1 ||
			q.Body[0].Terms[0].Kind != datalog.KindVariable || len(q.Expressions) != 1 {
			continue
		}
		x := q.Expressions[0]
		if len(x) != 3 || x[0].Kind != datalog.OpValue || x[0].Term.Kind != datalog.KindVariable ||
			x[0].Term.Int != q.Body[0].Terms[0].Int || x[1].Kind != datalog.OpValue ||
			x[1].Term.Kind != datalog.KindDate || x[2].Kind != datalog.OpBinary {
			continue
		}
		t := time.Unix(x[1].Term.Int, 0).UTC()
		switch x[2].Code {
		case datalog.BinaryLessOrEqual:
		case datalog.BinaryLessThan:
			t = t.Add(-time.Second)
		default:
			continue
		}
		if exp.IsZero() || t.Before(exp) {
			exp = t
		}
	}
	return exp
}
