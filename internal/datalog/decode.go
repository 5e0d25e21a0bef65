package datalog

import (
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/biscuit-auth/biscuit-go/v2/pb"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Limits bound what Decode accepts. Zero means "no limit" for none of them:
// every field must be set (token/limits.go holds mandate's values).
type Limits struct {
	MaxSymbols         int // symbols added by all blocks together
	MaxStringBytes     int // length of one symbol, string or bytes value
	MaxFacts           int // facts in one block
	MaxRules           int // rules in one block
	MaxChecks          int // checks in one block
	MaxQueries         int // queries in one check
	MaxBodyPredicates  int // predicates in one rule body (bounds join width)
	MaxExpressions     int // expressions in one rule
	MaxOps             int // operations in one expression
	MaxTerms           int // terms in one predicate
	MaxSetSize         int // elements in one set
	MaxVariables       int // distinct variables in one rule
	MaxContextBytes    int // length of a block's context string
	MaxCheckTextLength int // unused by Decode; kept with the others for callers
}

// LimitError says which structural limit a block exceeds.
type LimitError struct {
	What  string
	Limit int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s exceeds the limit of %d", e.What, e.Limit)
}

// UnsupportedError says that a block uses a feature newer than Biscuit v3
// (Datalog 3.0), which this verifier does not evaluate.
type UnsupportedError struct {
	Version uint32 // the block's declared version, when that is the reason
	Feature string
}

func (e *UnsupportedError) Error() string {
	if e.Feature == "" {
		return fmt.Sprintf("block version %d (%s) is newer than Biscuit v3 block version 3 (Datalog 3.0), the only one mandate evaluates", e.Version, versionName(e.Version))
	}
	if e.Version > 3 {
		return fmt.Sprintf("block version %d (%s) uses %s, newer than Biscuit v3 block version 3 (Datalog 3.0), the only one mandate evaluates", e.Version, versionName(e.Version), e.Feature)
	}
	return fmt.Sprintf("uses %s, newer than Biscuit v3 block version 3 (Datalog 3.0), the only one mandate evaluates", e.Feature)
}

func versionName(v uint32) string {
	switch v {
	case 4:
		return "Datalog 3.1"
	case 5:
		return "Datalog 3.2"
	case 6:
		return "Datalog 3.3"
	}
	return "an unknown Datalog version"
}

// MinVersion and MaxVersion are the block versions this package decodes.
const (
	MinVersion = 3
	MaxVersion = 3
)

// DefaultSymbols is the Biscuit v3 default symbol table; block symbols start
// at index SymbolOffset.
var DefaultSymbols = [...]string{
	"read", "write", "resource", "operation", "right", "time", "role", "owner",
	"tenant", "namespace", "user", "team", "service", "admin", "email", "group",
	"member", "ip_address", "client", "client_ip", "domain", "path", "version",
	"cluster", "node", "hostname", "nonce", "query",
}

// SymbolOffset is the index of the first symbol a block adds.
const SymbolOffset = 1024

// SymbolTable resolves symbol indexes. Blocks of a v3 token share one table
// that each block extends in order.
type SymbolTable struct {
	added []string
}

// Extend appends a block's symbols.
func (t *SymbolTable) Extend(syms []string) { t.added = append(t.added, syms...) }

// Len is the number of symbols blocks have added.
func (t *SymbolTable) Len() int { return len(t.added) }

// Lookup returns the string for a symbol index.
func (t *SymbolTable) Lookup(i uint64) (string, bool) {
	if i < uint64(len(DefaultSymbols)) {
		return DefaultSymbols[i], true
	}
	if i >= SymbolOffset && i-SymbolOffset < uint64(len(t.added)) {
		return t.added[i-SymbolOffset], true
	}
	return "", false
}

// CheckUnknown reports the first protobuf field m carries that the Biscuit v3
// schema does not know, as an *UnsupportedError naming the feature it most
// likely encodes. Go's protobuf runtime keeps unknown fields silently, so
// without this a newer "check all" would decode as a plain "check if".
func CheckUnknown(m protoreflect.Message) error {
	if raw := m.GetUnknown(); len(raw) > 0 {
		return &UnsupportedError{Feature: describeUnknown(m.Descriptor().Name(), raw)}
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil {
			return true
		}
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len() && err == nil; i++ {
				err = CheckUnknown(l.Get(i).Message())
			}
		} else if !fd.IsMap() {
			err = CheckUnknown(v.Message())
		}
		return err == nil
	})
	return err
}

func describeUnknown(msg protoreflect.Name, raw protoreflect.RawFields) string {
	num := fieldNumber(raw)
	switch msg {
	case "Block":
		switch num {
		case 7:
			return "scope annotations (trusting ...)"
		case 8:
			return "third-party public keys"
		}
	case "RuleV2":
		if num == 4 {
			return "scope annotations (trusting ...)"
		}
	case "CheckV2":
		if num == 2 {
			return "\"check all\" or \"reject if\""
		}
	case "TermV2":
		switch num {
		case 8:
			return "null values"
		case 9:
			return `arrays: in Biscuit's Rust, JS and Python libraries [..] is an array (Datalog 3.3); write sets as {"a", "b"} for a v3 verifier`
		case 10:
			return "maps"
		}
	case "Op":
		if num == 4 {
			return "closures (lazy && and ||)"
		}
	case "OpUnary":
		return "a unary operator newer than Datalog 3.0 (such as type_of)"
	case "OpBinary":
		return "an operator newer than Datalog 3.0 (such as !=, ===, bitwise or any/all)"
	case "SignedBlock":
		switch num {
		case 4:
			return "a third-party block signature"
		case 5:
			return "block signature version 1 (Biscuit 3.3)"
		}
	case "Biscuit", "Proof", "PublicKey":
		return fmt.Sprintf("an unknown field %d in the token container", num)
	}
	return fmt.Sprintf("field %d of %s, unknown to Biscuit v3", num, msg)
}

// fieldNumber decodes the field number of the first unknown field.
func fieldNumber(raw protoreflect.RawFields) uint64 {
	var tag uint64
	for i, b := range raw {
		if i == 10 {
			return 0
		}
		tag |= uint64(b&0x7f) << (7 * uint(i))
		if b < 0x80 {
			return tag >> 3
		}
	}
	return 0
}

// Decode converts a protobuf block into mandate's representation, resolving
// symbols through syms (which the caller has already extended with the
// block's own symbols) and enforcing lim. It never panics on any input.
func Decode(b *pb.Block, syms *SymbolTable, lim *Limits) (*Block, error) {
	v := b.GetVersion()
	if v > MaxVersion {
		return nil, &UnsupportedError{Version: v}
	}
	if v < MinVersion {
		return nil, fmt.Errorf("block version %d predates Biscuit v3 and is not accepted", v)
	}
	if err := CheckUnknown(b.ProtoReflect()); err != nil {
		return nil, err
	}
	if len(b.GetContext()) > lim.MaxContextBytes {
		return nil, &LimitError{What: "block context length", Limit: lim.MaxContextBytes}
	}
	if len(b.FactsV2) > lim.MaxFacts {
		return nil, &LimitError{What: "facts in a block", Limit: lim.MaxFacts}
	}
	if len(b.RulesV2) > lim.MaxRules {
		return nil, &LimitError{What: "rules in a block", Limit: lim.MaxRules}
	}
	if len(b.ChecksV2) > lim.MaxChecks {
		return nil, &LimitError{What: "checks in a block", Limit: lim.MaxChecks}
	}
	d := decoder{syms: syms, lim: lim}
	out := &Block{Symbols: b.Symbols, Context: b.GetContext(), Version: v}
	for _, f := range b.FactsV2 {
		p, err := d.predicate(f.Predicate, nil)
		if err != nil {
			return nil, fmt.Errorf("fact: %w", err)
		}
		out.Facts = append(out.Facts, p)
	}
	for _, r := range b.RulesV2 {
		rule, err := d.rule(r, true)
		if err != nil {
			return nil, fmt.Errorf("rule: %w", err)
		}
		out.Rules = append(out.Rules, rule)
	}
	for _, c := range b.ChecksV2 {
		if len(c.Queries) == 0 {
			return nil, errors.New("check: a check needs at least one query")
		}
		if len(c.Queries) > lim.MaxQueries {
			return nil, &LimitError{What: "queries in a check", Limit: lim.MaxQueries}
		}
		var check Check
		for _, q := range c.Queries {
			rule, err := d.rule(q, false)
			if err != nil {
				return nil, fmt.Errorf("check: %w", err)
			}
			check.Queries = append(check.Queries, rule)
		}
		out.Checks = append(out.Checks, check)
	}
	return out, nil
}

type decoder struct {
	syms *SymbolTable
	lim  *Limits
	// per rule: symbol index of each variable -> dense slot
	vars     map[uint32]int
	varNames []string
}

func (d *decoder) symbol(i uint64) (string, error) {
	s, ok := d.syms.Lookup(i)
	if !ok {
		return "", fmt.Errorf("unknown symbol index %d", i)
	}
	return s, nil
}

func (d *decoder) rule(r *pb.RuleV2, isRule bool) (Rule, error) {
	if r == nil || r.Head == nil {
		return Rule{}, errors.New("missing head")
	}
	if len(r.Body) > d.lim.MaxBodyPredicates {
		return Rule{}, &LimitError{What: "predicates in a rule body", Limit: d.lim.MaxBodyPredicates}
	}
	if len(r.Expressions) > d.lim.MaxExpressions {
		return Rule{}, &LimitError{What: "expressions in a rule", Limit: d.lim.MaxExpressions}
	}
	d.vars = map[uint32]int{}
	d.varNames = nil
	var out Rule
	bodyVars := map[int]bool{}
	for _, p := range r.Body {
		pred, err := d.predicate(p, d.vars)
		if err != nil {
			return Rule{}, err
		}
		for _, t := range pred.Terms {
			if t.Kind == KindVariable {
				bodyVars[int(t.Int)] = true
			}
		}
		out.Body = append(out.Body, pred)
	}
	for _, e := range r.Expressions {
		expr, err := d.expression(e)
		if err != nil {
			return Rule{}, err
		}
		out.Expressions = append(out.Expressions, expr)
	}
	// Every variable must be bound by the body: an expression or head
	// variable that no predicate binds can never be evaluated.
	for slot := range d.varNames {
		if !bodyVars[slot] {
			return Rule{}, fmt.Errorf("variable $%s is not bound by any predicate of the rule body", d.varNames[slot])
		}
	}
	head, err := d.predicate(r.Head, d.vars)
	if err != nil {
		return Rule{}, err
	}
	for _, t := range head.Terms {
		if t.Kind == KindVariable && !bodyVars[int(t.Int)] {
			return Rule{}, fmt.Errorf("head variable $%s is not bound by the rule body", d.varNames[t.Int])
		}
	}
	if isRule && len(out.Body) == 0 {
		return Rule{}, errors.New("a rule needs at least one body predicate")
	}
	out.Head = head
	out.Vars = len(d.varNames)
	out.VarNames = d.varNames
	return out, nil
}

func (d *decoder) predicate(p *pb.PredicateV2, vars map[uint32]int) (Predicate, error) {
	if p == nil {
		return Predicate{}, errors.New("missing predicate")
	}
	name, err := d.symbol(p.GetName())
	if err != nil {
		return Predicate{}, err
	}
	if len(p.Terms) > d.lim.MaxTerms {
		return Predicate{}, &LimitError{What: "terms in a predicate", Limit: d.lim.MaxTerms}
	}
	out := Predicate{Name: name, Terms: make([]Term, len(p.Terms))}
	for i, t := range p.Terms {
		term, err := d.term(t, vars, true)
		if err != nil {
			return Predicate{}, fmt.Errorf("%s: %w", name, err)
		}
		out.Terms[i] = term
	}
	return out, nil
}

func (d *decoder) variable(v uint32) (Term, error) {
	if d.vars == nil {
		return Term{}, errors.New("variables are not allowed in facts")
	}
	slot, ok := d.vars[v]
	if !ok {
		if len(d.varNames) >= d.lim.MaxVariables {
			return Term{}, &LimitError{What: "variables in a rule", Limit: d.lim.MaxVariables}
		}
		name, err := d.symbol(uint64(v))
		if err != nil {
			return Term{}, err
		}
		slot = len(d.varNames)
		d.vars[v] = slot
		d.varNames = append(d.varNames, name)
	}
	return Term{Kind: KindVariable, Int: int64(slot)}, nil
}

func (d *decoder) term(t *pb.TermV2, vars map[uint32]int, allowSet bool) (Term, error) {
	switch c := t.GetContent().(type) {
	case *pb.TermV2_Variable:
		return d.variable(c.Variable)
	case *pb.TermV2_Integer:
		return Int(c.Integer), nil
	case *pb.TermV2_String_:
		s, err := d.symbol(c.String_)
		if err != nil {
			return Term{}, err
		}
		if len(s) > d.lim.MaxStringBytes {
			return Term{}, &LimitError{What: "string length", Limit: d.lim.MaxStringBytes}
		}
		return String(s), nil
	case *pb.TermV2_Date:
		if c.Date > math.MaxInt64 {
			return Term{}, fmt.Errorf("date %d is out of range", c.Date)
		}
		return Term{Kind: KindDate, Int: int64(c.Date)}, nil
	case *pb.TermV2_Bytes:
		if len(c.Bytes) > d.lim.MaxStringBytes {
			return Term{}, &LimitError{What: "bytes length", Limit: d.lim.MaxStringBytes}
		}
		return Bytes(c.Bytes), nil
	case *pb.TermV2_Bool:
		return Bool(c.Bool), nil
	case *pb.TermV2_Set:
		if !allowSet {
			return Term{}, errors.New("sets cannot contain sets")
		}
		elems := c.Set.GetSet()
		if len(elems) > d.lim.MaxSetSize {
			return Term{}, &LimitError{What: "elements in a set", Limit: d.lim.MaxSetSize}
		}
		out := Term{Kind: KindSet, Set: make([]Term, 0, len(elems))}
		for _, e := range elems {
			et, err := d.term(e, nil, false)
			if err != nil {
				return Term{}, fmt.Errorf("set: %w", err)
			}
			if len(out.Set) > 0 && out.Set[0].Kind != et.Kind {
				return Term{}, errors.New("set elements must all have the same type")
			}
			if !setHas(out.Set, et) {
				out.Set = append(out.Set, et)
			}
		}
		return out, nil
	case nil:
		return Term{}, &UnsupportedError{Feature: "a term type unknown to Biscuit v3"}
	}
	return Term{}, errors.New("unknown term")
}

func (d *decoder) expression(e *pb.ExpressionV2) (Expression, error) {
	ops := e.GetOps()
	if len(ops) == 0 {
		return nil, errors.New("empty expression")
	}
	if len(ops) > d.lim.MaxOps {
		return nil, &LimitError{What: "operations in an expression", Limit: d.lim.MaxOps}
	}
	out := make(Expression, 0, len(ops))
	depth := 0
	for _, op := range ops {
		switch c := op.GetContent().(type) {
		case *pb.Op_Value:
			t, err := d.term(c.Value, d.vars, true)
			if err != nil {
				return nil, err
			}
			out = append(out, Op{Kind: OpValue, Term: t})
			depth++
		case *pb.Op_Unary:
			k := c.Unary.GetKind()
			if k < 0 || int(k) > int(UnaryLength) {
				return nil, &UnsupportedError{Feature: "a unary operator newer than Datalog 3.0"}
			}
			if depth < 1 {
				return nil, errors.New("malformed expression: unary operator without operand")
			}
			out = append(out, Op{Kind: OpUnary, Code: uint8(k)})
		case *pb.Op_Binary:
			k := c.Binary.GetKind()
			if k < 0 || int(k) >= int(binaryCount) {
				return nil, &UnsupportedError{Feature: "an operator newer than Datalog 3.0"}
			}
			if depth < 2 {
				return nil, errors.New("malformed expression: binary operator without two operands")
			}
			depth--
			out = append(out, Op{Kind: OpBinary, Code: uint8(k)})
		default:
			return nil, &UnsupportedError{Feature: "an expression operation unknown to Biscuit v3"}
		}
	}
	if depth != 1 {
		return nil, errors.New("malformed expression: it must leave exactly one value")
	}
	return out, nil
}

// ValidString reports whether s is valid UTF-8; symbols must be.
func ValidString(s string) bool { return utf8.ValidString(s) }
