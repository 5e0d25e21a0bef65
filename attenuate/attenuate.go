package attenuate

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/biscuit-auth/biscuit-go/v2"
	bdatalog "github.com/biscuit-auth/biscuit-go/v2/datalog"

	"github.com/mandate-dev/mandate/internal/datalog"
	"github.com/mandate-dev/mandate/token"
)

// DefaultSeparators are the resource separators ResourcePrefix ends a
// prefix at unless WithSeparators says otherwise.
const DefaultSeparators = "/"

// maxSeparators bounds WithSeparators: each separator adds one
// starts_with test to a ResourcePrefix check.
const maxSeparators = 8

// Option configures a Builder.
type Option func(*options)

type options struct {
	now  func() time.Time
	seps string
}

// WithClock sets the clock that TTL and ExpiresAt measure from (default
// time.Now). Tests and tools that attenuate for a later moment use it.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// WithSeparators sets the characters at which ResourcePrefix may end a
// prefix, for example "/:" for resources like "account:acme/42". Each byte
// is one separator and must be ASCII punctuation; at most 8. The default is
// DefaultSeparators ("/").
func WithSeparators(seps string) Option {
	return func(o *options) { o.seps = seps }
}

// Builder appends one attenuation block to a token. Each method validates
// its input at once, records the first error and turns every later call
// into a no-op, so a chain of calls needs one error check, at Build (or
// Err). A Builder never modifies the token it was made from and can Build
// more than once. It is not safe for concurrent use.
type Builder struct {
	orig   *biscuit.Biscuit // the stand-in biscuit-go appends to (token.AppendBase)
	parsed *token.Unverified
	blocks int
	now    func() time.Time
	seps   string

	checks []biscuit.Check
	facts  []biscuit.Fact
	limits []token.Limit   // declared in this block
	seen   map[string]bool // facts already added
	seal   bool
	err    error
}

// New starts an attenuation block on tok, a token in URL-safe base64
// (padded or not). It needs no key and no network. It refuses a token that
// cannot be read under mandate's limits (errors.Is(err, token.ErrInvalid)),
// a sealed token (token.ErrSealed), and a token that already has the most
// blocks a verifier accepts (ErrOverLimit).
func New(tok string, opts ...Option) (*Builder, error) {
	raw, err := token.Decode(tok)
	if err != nil {
		return nil, fmt.Errorf("attenuate: %w", err)
	}
	return newBuilder(raw, opts)
}

// NewFromBytes is New for a raw (decoded) token. raw is copied.
func NewFromBytes(raw []byte, opts ...Option) (*Builder, error) {
	return newBuilder(bytes.Clone(raw), opts)
}

func newBuilder(raw []byte, opts []Option) (*Builder, error) {
	o := options{now: time.Now, seps: DefaultSeparators}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.now == nil {
		o.now = time.Now
	}
	if err := validSeparators(o.seps); err != nil {
		return nil, err
	}
	u, err := parseUnsealed(raw)
	if err != nil {
		return nil, err
	}
	base, syms, err := u.StandIn()
	if err != nil {
		return nil, fmt.Errorf("attenuate: %w", err)
	}
	bt, err := unmarshalWith(base, syms)
	if err != nil {
		return nil, err
	}
	if n := u.BlockCount(); n >= token.MaxBlocks {
		return nil, fmt.Errorf("attenuate: %w: the token already has %d blocks, the most a verifier accepts; attenuate a token earlier in the delegation chain", ErrOverLimit, n)
	}
	b := &Builder{orig: bt, parsed: u, blocks: u.BlockCount(), now: o.now, seps: o.seps, seen: map[string]bool{}}
	return b, nil
}

// open parses raw under mandate's limits, refuses sealed tokens, and reads
// it with biscuit-go for appending.
func open(raw []byte) (*token.Unverified, *biscuit.Biscuit, error) {
	u, err := parseUnsealed(raw)
	if err != nil {
		return nil, nil, err
	}
	bt, err := unmarshal(raw)
	if err != nil {
		return nil, nil, err
	}
	return u, bt, nil
}

// parseUnsealed parses raw under mandate's limits and refuses sealed tokens.
func parseUnsealed(raw []byte) (*token.Unverified, error) {
	u, err := token.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("attenuate: %w", err)
	}
	if u.Sealed() {
		return nil, fmt.Errorf("attenuate: %w; attenuate the token it was sealed from, or ask the delegating agent for an unsealed token", token.ErrSealed)
	}
	return u, nil
}

func unmarshal(raw []byte) (bt *biscuit.Biscuit, err error) {
	defer func() {
		if r := recover(); r != nil {
			bt, err = nil, fmt.Errorf("attenuate: %w: biscuit-go cannot read the token", token.ErrMalformed)
		}
	}()
	bt, err = biscuit.Unmarshal(raw)
	if err != nil {
		return nil, fmt.Errorf("attenuate: %w: %v", token.ErrMalformed, err)
	}
	return bt, nil
}

// unmarshalWith is unmarshal for a stand-in whose symbols are given
// (token.Unverified.StandIn).
func unmarshalWith(raw []byte, syms []string) (bt *biscuit.Biscuit, err error) {
	defer func() {
		if r := recover(); r != nil {
			bt, err = nil, fmt.Errorf("attenuate: %w: biscuit-go cannot read the token", token.ErrMalformed)
		}
	}()
	table := bdatalog.SymbolTable(syms)
	bt, err = (&biscuit.Unmarshaler{Symbols: &table}).Unmarshal(raw)
	if err != nil {
		return nil, fmt.Errorf("attenuate: %w: %v", token.ErrMalformed, err)
	}
	return bt, nil
}

func validSeparators(seps string) error {
	if seps == "" || len(seps) > maxSeparators {
		return fmt.Errorf("attenuate: WithSeparators: %w: want 1 to %d separator characters, got %d", ErrInvalidCaveat, maxSeparators, len(seps))
	}
	for i := 0; i < len(seps); i++ {
		c := rune(seps[i])
		if c >= utf8.RuneSelf || !(unicode.IsPunct(c) || unicode.IsSymbol(c)) {
			return fmt.Errorf("attenuate: WithSeparators: %w: separator %d is not ASCII punctuation (use characters like \"/\" or \":\")", ErrInvalidCaveat, i+1)
		}
		if strings.IndexByte(seps[:i], seps[i]) >= 0 {
			return fmt.Errorf("attenuate: WithSeparators: %w: separator %q is repeated", ErrInvalidCaveat, seps[i])
		}
	}
	return nil
}

// Err returns the first error recorded by the builder's methods, or nil.
func (b *Builder) Err() error { return b.err }

// Tools allows only the named tools:
//
//	check if tool($t), ["get_account", "list_invoices"].contains($t)
func (b *Builder) Tools(names ...string) *Builder {
	return b.member("Tools", token.FactTool, "t", "tool", names)
}

// Operations allows only the named operations:
//
//	check if operation($o), ["read"].contains($o)
func (b *Builder) Operations(names ...string) *Builder {
	return b.member("Operations", token.FactOperation, "o", "operation", names)
}

// Services allows only the named services:
//
//	check if service($s), ["crm"].contains($s)
func (b *Builder) Services(names ...string) *Builder {
	return b.member("Services", token.FactService, "s", "service", names)
}

func (b *Builder) member(method, fact, v, what string, names []string) *Builder {
	if b.err != nil {
		return b
	}
	if len(names) == 0 {
		return b.fail(caveatError(method, "at least one %s name is required (an empty list would allow nothing; to delegate nothing, do not delegate)", what))
	}
	set := make(biscuit.Set, 0, len(names))
	seen := make(map[string]bool, len(names))
	for i, n := range names {
		if checkName(method, what, n) != nil {
			// checked again only to name the position in the error
			return b.fail(checkName(method, fmt.Sprintf("%s name %d", what, i+1), n))
		}
		if n == token.Wildcard {
			return b.fail(caveatError(method, "%q is not a wildcard in a caveat; to allow any %s, do not call %s", n, what, method))
		}
		if !seen[n] {
			seen[n] = true
			set = append(set, biscuit.String(n))
		}
	}
	if len(set) > token.MaxSetSize {
		return b.fail(limitError(method, "%d %s names is over the limit of %d elements in a set", len(set), what, token.MaxSetSize))
	}
	return b.addCheck(method, check(query([]biscuit.Predicate{pred(fact, biscuit.Variable(v))},
		biscuit.Expression{value(set), value(biscuit.Variable(v)), biscuit.BinaryContains})))
}

// Resource allows only this exact resource:
//
//	check if resource($r), $r == "account:acme/42"
func (b *Builder) Resource(resource string) *Builder {
	if b.err != nil {
		return b
	}
	if err := checkResource("Resource", "resource", resource); err != nil {
		return b.fail(err)
	}
	return b.addCheck("Resource", check(query([]biscuit.Predicate{pred(token.FactResource, biscuit.Variable("r"))},
		biscuit.Expression{value(biscuit.Variable("r")), value(biscuit.String(resource)), biscuit.BinaryEqual})))
}

// ResourcePrefix allows the resource prefix and everything below it, where
// "below" ends at a separator (see WithSeparators; "/" by default), so that
// "account:acme/42" covers "account:acme/42" and "account:acme/42/invoices"
// but not "account:acme/420":
//
//	check if resource($r), $r == "account:acme/42" || $r.starts_with("account:acme/42/")
//
// with one starts_with test per separator. A prefix that already ends with a
// separator is used as is:
//
//	check if resource($r), $r.starts_with("account:acme/42/")
//
// Only configured separators end a prefix: with the default "/",
// ResourcePrefix("account:") covers "account:" and "account:/x" but not
// "account:acme" (add ":" with WithSeparators). Compare the authority's
// rights, whose resource is a plain string prefix.
func (b *Builder) ResourcePrefix(prefix string) *Builder {
	if b.err != nil {
		return b
	}
	if err := checkResource("ResourcePrefix", "resource prefix", prefix); err != nil {
		return b.fail(err)
	}
	r := biscuit.Variable("r")
	var x biscuit.Expression
	if strings.IndexByte(b.seps, prefix[len(prefix)-1]) >= 0 {
		x = biscuit.Expression{value(r), value(biscuit.String(prefix)), biscuit.BinaryPrefix}
	} else {
		if len(prefix)+1 > token.MaxStringBytes {
			return b.fail(limitError("ResourcePrefix", "the resource prefix and its separator are over %d bytes", token.MaxStringBytes))
		}
		x = biscuit.Expression{value(r), value(biscuit.String(prefix)), biscuit.BinaryEqual}
		for i := 0; i < len(b.seps); i++ {
			x = append(x, value(r), value(biscuit.String(prefix+b.seps[i:i+1])), biscuit.BinaryPrefix, biscuit.BinaryOr)
		}
	}
	return b.addCheck("ResourcePrefix", check(query([]biscuit.Predicate{pred(token.FactResource, r)}, x)))
}

// ArgMax bounds an integer argument of one tool from above. Calls of other
// tools are not constrained; a call of tool is denied when the argument is
// missing, is not an integer (a type error denies), or is above max:
//
//	check if tool($t), !($t == "refund") or tool("refund"), arg("amount", $a), $a <= 500
//
// The bound is one-sided: ArgMax("refund", "amount", 500) allows an amount
// of -1,000,000. To bound both sides, use ArgRange. Datalog 3.0 has no
// "!=", hence !(... == ...).
func (b *Builder) ArgMax(tool, arg string, max int64) *Builder {
	return b.argBound("ArgMax", tool, arg, biscuit.Integer(max), biscuit.BinaryLessOrEqual)
}

// ArgMin is ArgMax with a lower bound, and just as one-sided:
//
//	check if tool($t), !($t == "refund") or tool("refund"), arg("amount", $a), $a >= 1
func (b *Builder) ArgMin(tool, arg string, min int64) *Builder {
	return b.argBound("ArgMin", tool, arg, biscuit.Integer(min), biscuit.BinaryGreaterOrEqual)
}

// ArgRange bounds an integer argument of one tool on both sides, min and
// max included. Calls of other tools are not constrained; a call of tool is
// denied when the argument is missing, is not an integer, or is outside
// [min, max]:
//
//	check if tool($t), !($t == "refund") or tool("refund"), arg("amount", $a), $a >= 0 && $a <= 500
//
// It is one check, so both bounds apply to the same argument fact. min must
// not be above max.
func (b *Builder) ArgRange(tool, arg string, min, max int64) *Builder {
	const method = "ArgRange"
	if b.err != nil {
		return b
	}
	if err := checkToolArg(method, tool, arg); err != nil {
		return b.fail(err)
	}
	if min > max {
		return b.fail(caveatError(method, "the range %d..%d is empty: min is above max", min, max))
	}
	a := biscuit.Variable("a")
	return b.addCheck(method, argCheck(tool, arg, a, biscuit.Expression{
		value(a), value(biscuit.Integer(min)), biscuit.BinaryGreaterOrEqual,
		value(a), value(biscuit.Integer(max)), biscuit.BinaryLessOrEqual,
		biscuit.BinaryAnd,
	}))
}

func (b *Builder) argBound(method, tool, arg string, bound biscuit.Term, op biscuit.BinaryOp) *Builder {
	if b.err != nil {
		return b
	}
	if err := checkToolArg(method, tool, arg); err != nil {
		return b.fail(err)
	}
	a := biscuit.Variable("a")
	return b.addCheck(method, argCheck(tool, arg, a, biscuit.Expression{value(a), value(bound), op}))
}

// ArgOneOf restricts an argument of one tool to a set of values. Calls of
// other tools are not constrained; a call of tool is denied when the
// argument is missing or not in the set. A list argument (which the
// verifier passes as one set) passes only when every element is in the set,
// and an empty list passes since it has no element outside it:
//
//	check if tool($t), !($t == "send_email") or tool("send_email"), arg("to", $v), ["bob@acme.test"].contains($v)
//
// Values are strings, integers (any Go integer type, or a float64 with an
// integral value), booleans, []byte or time.Time, all of one type; at least
// one and at most token.MaxSetSize distinct values.
func (b *Builder) ArgOneOf(tool, arg string, values ...any) *Builder {
	const method = "ArgOneOf"
	if b.err != nil {
		return b
	}
	if err := checkToolArg(method, tool, arg); err != nil {
		return b.fail(err)
	}
	if len(values) == 0 {
		return b.fail(caveatError(method, "at least one allowed value is required (an empty set would deny every call of %q)", tool))
	}
	set := make(biscuit.Set, 0, len(values))
	seen := make(map[string]bool, len(values))
	kind := ""
	for i, v := range values {
		t, k, key, err := argValue(v)
		if err != nil {
			return b.fail(wrapError(method, err, "value %d", i+1))
		}
		if kind != "" && k != kind {
			return b.fail(caveatError(method, "value %d is a %s but value 1 is a %s: Biscuit v3 sets hold one type", i+1, k, kind))
		}
		kind = k
		if !seen[key] {
			seen[key] = true
			set = append(set, t)
		}
	}
	if len(set) > token.MaxSetSize {
		return b.fail(limitError(method, "%d values is over the limit of %d elements in a set", len(set), token.MaxSetSize))
	}
	v := biscuit.Variable("v")
	return b.addCheck(method, argCheck(tool, arg, v, biscuit.Expression{value(set), value(v), biscuit.BinaryContains}))
}

// argCheck is `check if tool($t), !($t == TOOL) or tool(TOOL), arg(ARG, $x), COND`.
func argCheck(tool, arg string, x biscuit.Variable, cond biscuit.Expression) biscuit.Check {
	t := biscuit.Variable("t")
	other := query([]biscuit.Predicate{pred(token.FactTool, t)},
		biscuit.Expression{value(t), value(biscuit.String(tool)), biscuit.BinaryEqual, biscuit.UnaryParens, biscuit.UnaryNegate})
	bounded := query([]biscuit.Predicate{pred(token.FactTool, biscuit.String(tool)), pred(token.FactArg, biscuit.String(arg), x)}, cond)
	return biscuit.Check{Queries: []biscuit.Rule{other, bounded}}
}

func checkToolArg(method, tool, arg string) error {
	if err := checkName(method, "tool name", tool); err != nil {
		return err
	}
	if tool == token.Wildcard {
		return caveatError(method, "%q is not a wildcard in a caveat: name the tool whose argument to bound", tool)
	}
	return checkName(method, "argument name", arg)
}

// argValue converts one ArgOneOf value, returning its term, kind, and a
// deduplication key.
func argValue(v any) (biscuit.Term, string, string, error) {
	integer := func(i int64) (biscuit.Term, string, string, error) {
		return biscuit.Integer(i), "integer", "i" + strconv.FormatInt(i, 10), nil
	}
	switch x := v.(type) {
	case string:
		if err := checkText(x); err != nil {
			return nil, "", "", err
		}
		return biscuit.String(x), "string", "s" + x, nil
	case bool:
		return biscuit.Bool(x), "bool", "b" + strconv.FormatBool(x), nil
	case int:
		return integer(int64(x))
	case int8:
		return integer(int64(x))
	case int16:
		return integer(int64(x))
	case int32:
		return integer(int64(x))
	case int64:
		return integer(x)
	case uint8:
		return integer(int64(x))
	case uint16:
		return integer(int64(x))
	case uint32:
		return integer(int64(x))
	case uint:
		if uint64(x) > math.MaxInt64 {
			return nil, "", "", fmt.Errorf("integer %d is out of range", x)
		}
		return integer(int64(x))
	case uint64:
		if x > math.MaxInt64 {
			return nil, "", "", fmt.Errorf("integer %d is out of range", x)
		}
		return integer(int64(x))
	case float64:
		if x != math.Trunc(x) || x < math.MinInt64 || x >= math.MaxInt64 {
			return nil, "", "", fmt.Errorf("number %v is not an integer (Biscuit has no floats: use minor units)", x)
		}
		return integer(int64(x))
	case json.Number:
		i, err := x.Int64()
		if err != nil {
			return nil, "", "", fmt.Errorf("number %s is not an integer (Biscuit has no floats: use minor units)", x)
		}
		return integer(i)
	case []byte:
		if len(x) > token.MaxStringBytes {
			return nil, "", "", limitMsg(fmt.Sprintf("%d bytes is over the %d-byte limit for a value", len(x), token.MaxStringBytes))
		}
		return biscuit.Bytes(bytes.Clone(x)), "bytes", "x" + string(x), nil
	case time.Time:
		if x.Unix() < 0 || x.Year() > 9999 {
			return nil, "", "", fmt.Errorf("date %s is outside the years 1970 to 9999", x.UTC().Format(time.RFC3339))
		}
		d := x.UTC().Truncate(time.Second)
		return biscuit.Date(d), "date", "d" + strconv.FormatInt(d.Unix(), 10), nil
	case nil:
		return nil, "", "", fmt.Errorf("nil is not a value")
	}
	return nil, "", "", fmt.Errorf("unsupported type %T (pass strings, integers, booleans, []byte or time.Time, one per argument: ArgOneOf(tool, arg, \"a\", \"b\"))", v)
}

// ExpiresAt makes the token expire at t, rounded down to the second
// (Biscuit dates have one-second resolution), unless it already expires
// earlier:
//
//	check if time($time), $time <= 2026-11-22T10:05:00Z
//
// An expiry already in the past is refused.
func (b *Builder) ExpiresAt(t time.Time) *Builder {
	if b.err != nil {
		return b
	}
	return b.expiry("ExpiresAt", t)
}

// TTL makes the token expire d from now (see WithClock), rounded down to
// the second, as ExpiresAt does. d must be positive.
func (b *Builder) TTL(d time.Duration) *Builder {
	if b.err != nil {
		return b
	}
	if d <= 0 {
		return b.fail(caveatError("TTL", "the TTL must be positive, got %s", d))
	}
	return b.expiry("TTL", b.now().Add(d))
}

func (b *Builder) expiry(method string, t time.Time) *Builder {
	if t.IsZero() {
		return b.fail(caveatError(method, "the expiry is the zero time"))
	}
	exp := t.UTC().Truncate(time.Second)
	now := b.now()
	if exp.Unix() < now.Unix() {
		return b.fail(caveatError(method, "the expiry %s is in the past (now is %s)", exp.Format(time.RFC3339), now.UTC().Format(time.RFC3339)))
	}
	if exp.Year() > 9999 {
		return b.fail(caveatError(method, "the expiry is after the year 9999"))
	}
	return b.addCheck(method, token.ExpiryCheck(exp))
}

// DelegatedTo records, for inspection and audit, whom the block was
// written for. The fact grants and restricts nothing:
//
//	delegated_to("sub-agent")
func (b *Builder) DelegatedTo(name string) *Builder {
	if b.err != nil {
		return b
	}
	if err := checkName("DelegatedTo", "name", name); err != nil {
		return b.fail(err)
	}
	if b.seen[name] {
		return b
	}
	if len(b.facts) >= token.MaxFactsPerBlock {
		return b.fail(limitError("DelegatedTo", "a block holds at most %d facts", token.MaxFactsPerBlock))
	}
	b.seen[name] = true
	b.facts = append(b.facts, biscuit.Fact{Predicate: pred(token.FactDelegatedTo, biscuit.String(name))})
	return b
}

// Seal makes Build seal the attenuated token, so that nobody can append a
// block to it (see the package function Seal).
func (b *Builder) Seal() *Builder {
	b.seal = true
	return b
}

// Build appends the block and returns the attenuated token in URL-safe
// base64. It returns the first error of the builder's methods, ErrEmptyBlock
// when no caveat was added, and an error matching ErrInvalidCaveat (and
// ErrOverLimit and the token error) when the verifier would reject the
// result, for example because it is over the token's size limit.
func (b *Builder) Build() (string, error) {
	raw, err := b.BuildBytes()
	if err != nil {
		return "", err
	}
	return token.Encode(raw), nil
}

// BuildBytes is Build returning the raw token.
func (b *Builder) BuildBytes() ([]byte, error) {
	if b.err != nil {
		return nil, b.err
	}
	if len(b.checks) == 0 && len(b.facts) == 0 {
		return nil, ErrEmptyBlock
	}
	raw, u, err := b.append(b.checks, b.facts, b.seal)
	if err != nil {
		return nil, fmt.Errorf("attenuate: Build: %w", err)
	}
	if u.BlockCount() != b.blocks+1 || u.Sealed() != b.seal {
		return nil, fmt.Errorf("attenuate: Build: %w: the attenuated token does not read back as built", ErrInvalidCaveat)
	}
	if err := readBack(u, b.checks, b.facts); err != nil {
		return nil, fmt.Errorf("attenuate: Build: %w", err)
	}
	return raw, nil
}

// readBack compares the last block of u, as mandate's verifier decodes it
// from the bytes, with what the builder meant to write: every fact and
// check, term by term, in order, and nothing else. biscuit-go writes
// strings by interning them in its own reading of the symbol tables; if
// that reading ever differed from the positional one every verifier uses,
// a caveat would silently constrain a different string. (token.Parse
// already refuses overlapping symbol tables, the known way to cause this;
// readBack makes sure of the outcome whatever the cause.)
func readBack(u *token.Unverified, checks []biscuit.Check, facts []biscuit.Fact) error {
	blocks := u.UnsafeBlocks()
	last := blocks[len(blocks)-1]
	mismatch := func(format string, args ...any) error {
		return fmt.Errorf("%w: the appended block does not read back as built: %s; nothing was emitted (report this as a bug)", ErrInvalidCaveat, fmt.Sprintf(format, args...))
	}
	if len(last.Checks) != len(checks) || len(last.Facts) != len(facts) || len(last.Rules) != 0 {
		return mismatch("it holds %d checks, %d facts and %d rules, want %d checks and %d facts", len(last.Checks), len(last.Facts), len(last.Rules), len(checks), len(facts))
	}
	if last.Version != datalog.MaxVersion || last.Context != "" {
		return mismatch("block version %d, context %q", last.Version, last.Context)
	}
	for i, c := range checks {
		want, err := datalog.FromBiscuitCheck(c)
		if err != nil {
			return mismatch("check %d: %v", i+1, err)
		}
		if !want.Equal(last.Checks[i]) {
			return mismatch("check %d reads %s, want %s", i+1, last.Checks[i], want)
		}
	}
	for i, f := range facts {
		want, err := datalog.FromBiscuitFact(f)
		if err != nil {
			return mismatch("fact %d: %v", i+1, err)
		}
		if !want.Equal(last.Facts[i]) {
			return mismatch("fact %d reads %s, want %s", i+1, last.Facts[i], want)
		}
	}
	return nil
}

// append appends a block to the original token, optionally seals, restores
// the root key ID hint, and re-parses the result under the verifier's
// limits. It never panics.
func (b *Builder) append(checks []biscuit.Check, facts []biscuit.Fact, seal bool) (raw []byte, u *token.Unverified, err error) {
	defer func() {
		if r := recover(); r != nil {
			raw, u, err = nil, nil, fmt.Errorf("%w: biscuit-go failed to build the block", ErrInvalidCaveat)
		}
	}()
	bb := b.orig.CreateBlock()
	for _, f := range facts {
		if err := bb.AddFact(f); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrInvalidCaveat, err)
		}
	}
	for _, c := range checks {
		if err := bb.AddCheck(c); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrInvalidCaveat, err)
		}
	}
	nt, err := b.orig.Append(rand.Reader, bb.Build())
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrInvalidCaveat, err)
	}
	if seal {
		if nt, err = nt.Seal(rand.Reader); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrInvalidCaveat, err)
		}
	}
	raw, err = nt.Serialize()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrInvalidCaveat, err)
	}
	// biscuit-go appended to the stand-in: put its block and proof on the
	// token itself (with its root key ID hint), and read back the result,
	// decoding only the new block.
	raw, u, spliceErr, err := b.parsed.SpliceParse(raw)
	if spliceErr != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrInvalidCaveat, spliceErr)
	}
	return reparsed(raw, u, err)
}

// reparse refuses anything the verifier's parser would reject.
func reparse(raw []byte) ([]byte, *token.Unverified, error) {
	u, err := token.Parse(raw)
	return reparsed(raw, u, err)
}

func reparsed(raw []byte, u *token.Unverified, err error) ([]byte, *token.Unverified, error) {
	switch {
	case err == nil:
		return raw, u, nil
	case errors.Is(err, token.ErrTooLarge):
		return nil, nil, fmt.Errorf("%w (%w): a verifier would reject the attenuated token: %w; use fewer or shorter caveats", ErrInvalidCaveat, ErrOverLimit, err)
	}
	return nil, nil, fmt.Errorf("%w: a verifier would reject the attenuated token: %w", ErrInvalidCaveat, err)
}

func (b *Builder) addCheck(method string, c biscuit.Check) *Builder {
	if len(b.checks) >= token.MaxChecksPerBlock {
		return b.fail(limitError(method, "a block holds at most %d checks; Build this block and attenuate the result again to add more", token.MaxChecksPerBlock))
	}
	b.checks = append(b.checks, c)
	return b
}

func (b *Builder) fail(err error) *Builder {
	if b.err == nil {
		b.err = err
	}
	return b
}

// checkName refuses names that are blank, too long, not UTF-8 or hold
// control, format or separator characters (token.UnsafeNameRune), which
// would let a name forge lines in logs and inspection output or look like
// another name.
func checkName(method, what, v string) error {
	if strings.TrimSpace(v) == "" {
		return caveatError(method, "%s is empty", what)
	}
	if err := checkText(v); err != nil {
		return wrapError(method, err, "%s", what)
	}
	if err := token.CheckNameRunes(v); err != nil {
		return wrapError(method, err, "%s", what)
	}
	return nil
}

// checkResource is checkName for a resource or resource prefix, which must
// also pass token.CheckResource (no "." or ".." segment, no "//").
func checkResource(method, what, v string) error {
	if err := checkName(method, what, v); err != nil {
		return err
	}
	if err := token.CheckResource(v); err != nil {
		return wrapError(method, err, "%s %q", what, v)
	}
	return nil
}

// limitMsg is a validation problem that is about a limit of
// token/limits.go; wrapError reports it as ErrOverLimit too.
type limitMsg string

func (m limitMsg) Error() string { return string(m) }

// wrapError turns a validation problem into an error matching
// ErrInvalidCaveat, and ErrOverLimit for a limitMsg.
func wrapError(method string, err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...) + ": " + err.Error()
	var lm limitMsg
	if errors.As(err, &lm) {
		return limitError(method, "%s", msg)
	}
	return caveatError(method, "%s", msg)
}

// checkText refuses strings that are too long, not UTF-8, or hold control
// characters.
func checkText(v string) error {
	if len(v) > token.MaxStringBytes {
		return limitMsg(fmt.Sprintf("%d bytes is over the %d-byte limit for a string", len(v), token.MaxStringBytes))
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("not valid UTF-8")
	}
	if strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return fmt.Errorf("contains control characters")
	}
	return nil
}

func pred(name string, terms ...biscuit.Term) biscuit.Predicate {
	return biscuit.Predicate{Name: name, IDs: terms}
}

func value(t biscuit.Term) biscuit.Value { return biscuit.Value{Term: t} }

func query(body []biscuit.Predicate, exprs ...biscuit.Expression) biscuit.Rule {
	return biscuit.Rule{Head: biscuit.Predicate{Name: "query"}, Body: body, Expressions: exprs}
}

func check(q biscuit.Rule) biscuit.Check { return biscuit.Check{Queries: []biscuit.Rule{q}} }
