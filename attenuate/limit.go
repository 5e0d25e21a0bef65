package attenuate

import (
	"strings"
	"time"

	"github.com/mandate-dev/mandate/token"
)

// LimitCalls declares a usage limit: at most max calls of tool ("*": of
// every tool) per fixed window (zero: for the life of this block).
//
//	b.LimitCalls("send_email", 20, time.Hour)   check if limit_ok("send_email", "calls", "", 20, 3600)
//
// See Limit.
func (b *Builder) LimitCalls(tool string, max int64, window time.Duration) *Builder {
	return b.Limit(token.Limit{Tool: tool, Measure: token.LimitCalls, Max: max, Window: window})
}

// LimitSum declares a usage limit on the sum of tool's integer argument
// arg across calls: at most max per fixed window (zero: for the life of
// this block). A call of tool without the argument, or with a negative or
// non-integer one, is denied.
//
//	b.LimitSum("refund", "amount", 1000, 0)   check if limit_ok("refund", "sum", "amount", 1000, 0)
func (b *Builder) LimitSum(tool, arg string, max int64, window time.Duration) *Builder {
	return b.Limit(token.Limit{Tool: tool, Measure: token.LimitSum, Arg: arg, Max: max, Window: window})
}

// Limit declares a usage limit (token.Limit) in this block. The limit
// belongs to the block: every token attenuated from the result, by this
// agent or any sub-agent, counts against it, and nothing appended later
// can reset or enlarge it (a later block can only declare a limit of its
// own, which narrows further). Its declaration is a check that only a
// verifier enforcing limits satisfies (token.FactLimitOK), so the token
// fails closed at a verifier that does not. The verifier counts calls
// across every verifier of the authority (package verifier/usage).
//
// Windows are fixed (aligned to the Unix epoch on the authority's clock),
// from token.MinLimitWindow to token.MaxLimitWindow; a token declares at
// most token.MaxLimitsPerToken limits in all its blocks.
func (b *Builder) Limit(l token.Limit) *Builder {
	const method = "Limit"
	if b.err != nil {
		return b
	}
	if err := checkName(method, "tool name", l.Tool); err != nil {
		return b.fail(err)
	}
	c, err := l.Check()
	if err != nil {
		return b.fail(caveatError(method, "%s", strings.TrimPrefix(err.Error(), token.ErrBadRequest.Error()+": ")))
	}
	for _, o := range b.limits {
		if o == l {
			return b.fail(caveatError(method, "the usage limit %s is declared twice in this block", l))
		}
	}
	if n := len(b.parsed.UnsafeLimits()) + len(b.limits) + 1; n > token.MaxLimitsPerToken {
		return b.fail(limitError(method, "the token would declare %d usage limits, over the limit of %d", n, token.MaxLimitsPerToken))
	}
	b.limits = append(b.limits, l)
	return b.addCheck(method, c)
}
