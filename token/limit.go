package token

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/biscuit-auth/biscuit-go/v2"

	"github.com/mandate-dev/mandate/internal/datalog"
)

// FactLimitOK is the usage-limit fact:
//
//	limit_ok($tool, $measure, $arg, $max, $window_s)
//
// A block declares a usage limit ([Limit]) with exactly one check that asks
// for it with literal terms, and nothing else:
//
//	check if limit_ok("send_email", "calls", "", 20, 3600);   20 calls per hour
//	check if limit_ok("refund", "sum", "amount", 1000, 0);    refunds summing to 1,000
//
// Only a verifier adds limit_ok facts, one per limit it enforced for the
// call, with the declaration's own terms, after it counted the call against
// the limit (verifier.Config.Limits). A verifier that does not enforce
// limits never adds one, so the declaring block's check fails there: a
// limit fails closed.
//
// Biscuit scoping would let a block satisfy its own check with a fact or a
// rule of its own, and the authority block's facts reach every check. So
// Parse refuses a token in which any block names limit_ok anywhere but in
// a declaration (a fact, a rule head or body, a check of another form),
// declares the same limit twice, or declares more than MaxLimitsPerToken
// limits in all.
const FactLimitOK = "limit_ok"

// Limit measures.
const (
	// LimitCalls counts calls.
	LimitCalls = "calls"
	// LimitSum adds up one integer argument of the calls.
	LimitSum = "sum"
)

// Limit is a usage limit a block declares: at most Max calls of Tool (or
// Tool's integer argument Arg summing to at most Max), per fixed window of
// Window, or for the life of the block when Window is zero. Tool may be
// Wildcard (every tool). It binds every token derived from the declaring
// block: see [DeclaredLimit] for its identity.
//
// Windows are fixed, not sliding: window k covers [k·Window, (k+1)·Window)
// counted from the Unix epoch in UTC, on the authority's clock, and the
// count starts again at 0 in each. Up to 2·Max calls can fall within one
// Window's length that straddles a boundary.
type Limit struct {
	Tool    string        `json:"tool"`
	Measure string        `json:"measure"` // LimitCalls or LimitSum
	Arg     string        `json:"arg,omitempty"`
	Max     int64         `json:"max"`
	Window  time.Duration `json:"window,omitempty"` // 0: the life of the block
}

// Validate checks a limit. Errors wrap ErrBadRequest.
func (l *Limit) Validate() error {
	if l.Tool == "" {
		return fmt.Errorf("%w: usage limit: a tool name (or \"*\") is required", ErrBadRequest)
	}
	if err := checkName("usage limit: tool", l.Tool, MaxStringBytes); err != nil {
		return err
	}
	switch l.Measure {
	case LimitCalls:
		if l.Arg != "" {
			return fmt.Errorf("%w: usage limit: a call count names no argument", ErrBadRequest)
		}
	case LimitSum:
		if l.Arg == "" {
			return fmt.Errorf("%w: usage limit: a sum needs an argument name", ErrBadRequest)
		}
		if err := checkName("usage limit: argument", l.Arg, MaxStringBytes); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%w: usage limit: measure %q is neither %q nor %q", ErrBadRequest, l.Measure, LimitCalls, LimitSum)
	}
	if l.Max < 1 || l.Max > MaxLimitAmount {
		return fmt.Errorf("%w: usage limit: maximum %d is not between 1 and %d", ErrBadRequest, l.Max, int64(MaxLimitAmount))
	}
	if l.Window != 0 {
		if l.Window%time.Second != 0 || l.Window < MinLimitWindow || l.Window > MaxLimitWindow {
			return fmt.Errorf("%w: usage limit: window %s is not whole seconds between %s and %s (leave it out for the life of the block)", ErrBadRequest, l.Window, MinLimitWindow, MaxLimitWindow)
		}
	}
	return nil
}

// Applies reports whether a call of tool counts against the limit.
func (l *Limit) Applies(tool string) bool { return l.Tool == Wildcard || l.Tool == tool }

// String is the limit in the CLI's form: TOOL:calls=N[/WINDOW] or
// TOOL:ARG=N[/WINDOW].
func (l Limit) String() string {
	var b strings.Builder
	b.WriteString(l.Tool + ":")
	if l.Measure == LimitSum {
		b.WriteString(l.Arg)
	} else {
		b.WriteString(LimitCalls)
	}
	b.WriteString("=" + strconv.FormatInt(l.Max, 10))
	if l.Window > 0 {
		b.WriteString("/" + formatWindow(l.Window))
	}
	return b.String()
}

func formatWindow(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return d.String()
}

// ParseLimit reads the CLI's form of a limit:
//
//	send_email:calls=20/1h    at most 20 calls of send_email per (fixed) hour
//	refund:amount=1000        refunds whose amount arguments sum to at most 1,000
//	refund:amount=1000/24h    the same, per day
//	*:calls=500/24h           at most 500 calls of any tool per day
//
// A window is a Go duration ("90m", "1h30m") or a number of days ("1d").
// An argument named "calls" cannot be summed (it reads as a call count).
func ParseLimit(spec string) (Limit, error) {
	bad := func(why string) (Limit, error) {
		return Limit{}, fmt.Errorf("%w: usage limit %q: %s; want TOOL:calls=N[/WINDOW] or TOOL:ARG=N[/WINDOW], such as send_email:calls=20/1h", ErrBadRequest, spec, why)
	}
	tool, rest, ok := strings.Cut(spec, ":")
	if !ok || tool == "" {
		return bad("no TOOL: before the measure")
	}
	what, amount, ok := strings.Cut(rest, "=")
	if !ok || what == "" {
		return bad("no MEASURE=N")
	}
	n, window, hasWindow := strings.Cut(amount, "/")
	l := Limit{Tool: tool, Measure: LimitCalls}
	if what != LimitCalls {
		l.Measure, l.Arg = LimitSum, what
	}
	v, err := strconv.ParseInt(strings.TrimSpace(n), 10, 64)
	if err != nil {
		return bad(fmt.Sprintf("%q is not an integer", n))
	}
	l.Max = v
	if hasWindow {
		d, err := parseWindow(window)
		if err != nil {
			return bad(err.Error())
		}
		l.Window = d
	}
	return l, l.Validate()
}

func parseWindow(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 32)
		if err != nil || n < 1 {
			return 0, fmt.Errorf("window %q is not a number of days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("window %q is not a duration such as 1h or 30m", s)
	}
	return d, nil
}

// Check returns the limit's declaration: check if limit_ok(…).
func (l Limit) Check() (biscuit.Check, error) {
	if err := l.Validate(); err != nil {
		return biscuit.Check{}, err
	}
	return biscuit.Check{Queries: []biscuit.Rule{{
		Head: biscuit.Predicate{Name: "query"},
		Body: []biscuit.Predicate{{Name: FactLimitOK, IDs: []biscuit.Term{
			biscuit.String(l.Tool), biscuit.String(l.Measure), biscuit.String(l.Arg),
			biscuit.Integer(l.Max), biscuit.Integer(int64(l.Window / time.Second)),
		}}},
	}}}, nil
}

// DeclaredLimit is a limit as a verified token declares it. Its identity is
// the declaring block's revocation ID and the limit's position among that
// block's limits: every token derived from the block carries the same
// block, so every one of them counts against the same ledger, and nothing
// appended later can name it afresh.
type DeclaredLimit struct {
	Limit
	Block int // the declaring block (0: the authority block, at mint)
	Index int // the limit's position among the block's limit declarations
	// ID is the limit's identity: the declaring block's revocation ID in
	// hex, "/", and Index.
	ID   string
	fact datalog.Predicate
}

// OKFact is the limit_ok fact that satisfies the limit's declaration, for
// a verifier that enforced the limit. It is shared: do not modify it.
func (d *DeclaredLimit) OKFact() datalog.Predicate { return d.fact }

// LimitID is the identity of the index-th limit of the block whose
// revocation ID is revID.
func LimitID(revID []byte, index int) string {
	return hex.EncodeToString(revID) + "/" + strconv.Itoa(index)
}

// IsLimitCheck reports whether a decoded check asks for limit_ok: a
// failure of it means the verifier did not enforce the limit.
func IsLimitCheck(c *datalog.Check) bool {
	for qi := range c.Queries {
		for _, p := range c.Queries[qi].Body {
			if p.Name == FactLimitOK {
				return true
			}
		}
	}
	return false
}

// limitsOf reads the limit declarations of one block, refusing a block
// that names limit_ok anywhere else or declares a limit twice.
func limitsOf(b *datalog.Block) ([]Limit, error) {
	if b.Produces(FactLimitOK) {
		return nil, fmt.Errorf("%w: the block states %s facts, which only a verifier adds", ErrMalformed, FactLimitOK)
	}
	for _, r := range b.Rules {
		for _, p := range r.Body {
			if p.Name == FactLimitOK {
				return nil, fmt.Errorf("%w: a rule reads %s, which only declarations may name", ErrMalformed, FactLimitOK)
			}
		}
	}
	var out []Limit
	for ci := range b.Checks {
		c := &b.Checks[ci]
		if !IsLimitCheck(c) {
			continue
		}
		l, ok := limitDeclaration(c)
		if !ok {
			return nil, fmt.Errorf("%w: check %d names %s but is not a usage limit declaration (check if %s(TOOL, MEASURE, ARG, MAX, WINDOW_S) with literal terms, alone)", ErrMalformed, ci, FactLimitOK, FactLimitOK)
		}
		if err := l.Validate(); err != nil {
			return nil, fmt.Errorf("%w: check %d: %w", ErrMalformed, ci, err)
		}
		for _, o := range out {
			if o == l {
				return nil, fmt.Errorf("%w: check %d declares the usage limit %s a second time", ErrMalformed, ci, l)
			}
		}
		out = append(out, l)
	}
	return out, nil
}

// limitDeclaration reads a check of the form check if limit_ok(literals).
func limitDeclaration(c *datalog.Check) (Limit, bool) {
	if len(c.Queries) != 1 {
		return Limit{}, false
	}
	q := &c.Queries[0]
	if len(q.Body) != 1 || len(q.Expressions) != 0 || q.Body[0].Name != FactLimitOK {
		return Limit{}, false
	}
	t := q.Body[0].Terms
	want := [...]datalog.Kind{datalog.KindString, datalog.KindString, datalog.KindString, datalog.KindInteger, datalog.KindInteger}
	if len(t) != len(want) {
		return Limit{}, false
	}
	for i, k := range want {
		if t[i].Kind != k {
			return Limit{}, false
		}
	}
	if t[4].Int < 0 || t[4].Int > int64(MaxLimitWindow/time.Second) {
		return Limit{}, false
	}
	return Limit{Tool: t[0].Str, Measure: t[1].Str, Arg: t[2].Str, Max: t[3].Int, Window: time.Duration(t[4].Int) * time.Second}, true
}

// checkLimits validates the limit declarations of blocks[from:] and the
// count over all of them.
func checkLimits(blocks []*datalog.Block, from int) error {
	n := 0
	for i, b := range blocks {
		ls, err := limitsOf(b)
		if err != nil {
			if i < from {
				continue // checked when the earlier token was parsed
			}
			return fmt.Errorf("block %d: %w", i, err)
		}
		n += len(ls)
	}
	if n > MaxLimitsPerToken {
		return fmt.Errorf("%w: the blocks declare %d usage limits, over the limit of %d", ErrTooLarge, n, MaxLimitsPerToken)
	}
	return nil
}

// declaredLimits lists the limits of a parsed token, in block order.
func declaredLimits(u *Unverified) []DeclaredLimit {
	var out []DeclaredLimit
	for bi, b := range u.blocks {
		ls, _ := limitsOf(b) // Parse refused a token where this fails
		for i, l := range ls {
			out = append(out, DeclaredLimit{Limit: l, Block: bi, Index: i, ID: LimitID(u.signed[bi].Signature, i),
				fact: datalog.Predicate{Name: FactLimitOK, Terms: []datalog.Term{
					datalog.String(l.Tool), datalog.String(l.Measure), datalog.String(l.Arg),
					datalog.Int(l.Max), datalog.Int(int64(l.Window / time.Second)),
				}}})
		}
	}
	return out
}

// Limits returns the usage limits the token's blocks declare, in block
// order. The slice is shared: do not modify it.
func (v *Verified) Limits() []DeclaredLimit { return v.limits }

// UnsafeLimits returns the usage limits the blocks declare, for
// inspection; nothing about them is authenticated.
func (u *Unverified) UnsafeLimits() []DeclaredLimit { return declaredLimits(u) }
