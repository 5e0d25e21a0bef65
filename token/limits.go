package token

import (
	"time"

	"github.com/mandate-dev/mandate/internal/datalog"
)

// Every size and count limit mandate enforces on tokens lives in this file.
// A token over any of them is rejected before a signature is checked or a
// rule is run, so that the work done for any input is bounded.
const (
	// MaxTokenBytes bounds the raw (decoded) token. A token travels in an
	// HTTP Authorization header, which common servers cap at 8 KiB; 12 KiB
	// raw is 16 KiB of base64, far above any real delegation chain.
	MaxTokenBytes = 12 << 10

	// MaxEncodedBytes bounds base64 input before decoding it.
	MaxEncodedBytes = (MaxTokenBytes+2)/3*4 + 4

	// MaxBlocks bounds the authority block plus attenuation blocks. Each
	// block costs one signature check (about 43 µs), so 16 blocks keep a
	// cold decision under a millisecond; real chains are 2 to 5 deep.
	MaxBlocks = 16

	// MaxSymbols bounds the symbols all blocks add together.
	MaxSymbols = 512

	// MaxStringBytes bounds one string, symbol or bytes value: resources
	// and argument values are identifiers, not documents.
	MaxStringBytes = 1024

	// MaxFactsPerBlock bounds the facts one block states. The authority
	// block holds the subject and one right per (service, tool, op,
	// resource), so this also caps rights per token.
	MaxFactsPerBlock = 64

	// MaxRulesPerBlock bounds rules per block; mandate's own vocabulary
	// needs none, so rules exist only for experts.
	MaxRulesPerBlock = 16

	// MaxChecksPerBlock bounds checks per block. The specification's own
	// test017_expressions sample has 41 checks in one block; 64 admits it
	// with room. The number of checks does not bound the work (every check
	// spends from EvalSteps, and the block's bytes are under
	// MaxTokenBytes), so raising it keeps the worst case
	// (BenchmarkAuthorizeWorstCase) where it was.
	MaxChecksPerBlock = 64

	// MaxQueriesPerCheck bounds the "or" branches of one check.
	MaxQueriesPerCheck = 8

	// MaxBodyPredicates bounds the predicates joined in one rule or query.
	// Join cost grows as facts^predicates; four is enough for every
	// caveat mandate documents and keeps a join bomb small before the step
	// budget even applies.
	MaxBodyPredicates = 4

	// MaxExpressionsPerRule bounds the expressions of one rule or query.
	MaxExpressionsPerRule = 8

	// MaxOpsPerExpression bounds one expression's postfix program.
	MaxOpsPerExpression = 64

	// MaxTermsPerPredicate bounds a predicate's arity (the evaluator
	// tracks at most 16 new bindings per predicate).
	MaxTermsPerPredicate = 8

	// MaxSetSize bounds the elements of a set literal.
	MaxSetSize = 64

	// MaxVariablesPerRule bounds distinct variables in one rule.
	MaxVariablesPerRule = 16

	// MaxContextBytes bounds a block's free-text context.
	MaxContextBytes = 256

	// EvalSteps is the evaluation budget of one decision, counted in
	// work units: a fact tried in a join, an operation run, and a share of
	// every set or string compared, copied or searched. A typical decision
	// uses under 100 and a 16-block token with a few checks per block a
	// few thousand; at 10,000 the most expensive token under the limits
	// above is denied in under 2 ms of CPU, signatures included (see
	// BenchmarkAuthorizeWorstCase).
	EvalSteps = 10000

	// EvalMaxFacts bounds the world of one decision, including facts that
	// rules derive.
	EvalMaxFacts = 512

	// EvalMaxIterations bounds fixpoint rounds per block.
	EvalMaxIterations = 16

	// MaxTTL bounds the lifetime of a minted token. Agent sessions are
	// short; a day is the outer edge of "one task".
	MaxTTL = 24 * time.Hour

	// MaxRightsPerToken bounds the rights in one minted token, leaving
	// room in MaxFactsPerBlock for the subject facts.
	MaxRightsPerToken = MaxFactsPerBlock - 8

	// MaxSubjectBytes bounds agent, user, org and session names.
	MaxSubjectBytes = 256
)

// Limits of approvals (approval.go) and approval caveats.
const (
	// MaxApprovalEncodedBytes bounds an encoded approval before it is
	// decoded: it travels in an HTTP header or an MCP _meta field next to
	// the token. The payload's fields are bounded below; 4 KiB holds the
	// largest with room.
	MaxApprovalEncodedBytes = 4 << 10

	// MaxApprovalPayloadBytes bounds the signed JSON payload.
	MaxApprovalPayloadBytes = 2900

	// MaxApprovalIDBytes bounds an approval ID (the authority's, such as
	// "ap_" and 26 base32 characters).
	MaxApprovalIDBytes = 64

	// MaxApprovalReasonBytes bounds the free-text reason, shown to people.
	MaxApprovalReasonBytes = 1024

	// MaxApprovalUses bounds max_uses: an approval is for one call, or a
	// few retries of it, never a standing grant.
	MaxApprovalUses = 100

	// MaxApprovalTTL bounds an approval's lifetime: no longer than a token
	// lives (MaxTTL).
	MaxApprovalTTL = MaxTTL

	// MaxApprovalClockSkew is how far in the future an approval's
	// issued_at may be, for clocks that disagree a little.
	MaxApprovalClockSkew = time.Minute

	// MaxApproversPerCaveat bounds the approvers one approval caveat names
	// (it is a set literal, under MaxSetSize).
	MaxApproversPerCaveat = 16

	// MaxApprovalRequirements bounds the tools a mint request can say
	// always need approval (each is a check of the authority block).
	MaxApprovalRequirements = 16
)

// decodeLimits is the structural limit set handed to the decoder.
var decodeLimits = datalog.Limits{
	MaxSymbols:        MaxSymbols,
	MaxStringBytes:    MaxStringBytes,
	MaxFacts:          MaxFactsPerBlock,
	MaxRules:          MaxRulesPerBlock,
	MaxChecks:         MaxChecksPerBlock,
	MaxQueries:        MaxQueriesPerCheck,
	MaxBodyPredicates: MaxBodyPredicates,
	MaxExpressions:    MaxExpressionsPerRule,
	MaxOps:            MaxOpsPerExpression,
	MaxTerms:          MaxTermsPerPredicate,
	MaxSetSize:        MaxSetSize,
	MaxVariables:      MaxVariablesPerRule,
	MaxContextBytes:   MaxContextBytes,
}

// EvalLimits is the run-time budget of one decision.
var EvalLimits = datalog.RunLimits{
	Steps:      EvalSteps,
	Facts:      EvalMaxFacts,
	Iterations: EvalMaxIterations,
}

// Limits of usage limits (limit.go).
const (
	// MaxLimitsPerToken bounds the usage limits all blocks of a token
	// declare together. Each one costs the verifier a ledger lookup per
	// call and the authority a ledger; real delegation chains declare one
	// or two per hop.
	MaxLimitsPerToken = 8

	// MaxLimitAmount bounds a limit's maximum (calls or the sum of an
	// argument), so that no sum of amounts under it overflows an int64.
	MaxLimitAmount = 1 << 50

	// MinLimitWindow and MaxLimitWindow bound a limit's window. Below a
	// minute a limit is a rate limiter's job (and every window would cost
	// each verifier a lease round trip); a window as long as a token can
	// live (MaxTTL) is the life of the block, so say that instead.
	MinLimitWindow = time.Minute
	MaxLimitWindow = MaxTTL
)
