package datalog

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"strings"
)

// ErrBudget is returned when evaluation would take more steps than allowed.
var ErrBudget = errors.New("evaluation budget exhausted")

// RunLimits bound one evaluation. Every field must be positive.
type RunLimits struct {
	Steps      int // total work units (fact candidates tried, operations run)
	Facts      int // facts in the world, including derived ones
	Iterations int // fixpoint rounds per block
}

// World is a set of facts indexed by name. A block's world is a layer on top
// of the trusted world, so blocks never see each other's facts.
type World struct {
	parent *World
	// rels maps a relation name to its facts in lists; names stay
	// mapped across resets (up to a bound) so that a reset writes no map.
	rels  map[string]int32
	lists [][]Predicate
	count int
	// index finds a fact in this layer by hash, so that inserting n facts
	// costs O(n) rather than O(n²) duplicate comparisons.
	index factIndex
}

// NewWorld returns an empty world.
func NewWorld() *World { return &World{rels: make(map[string]int32, 16)} }

// reset empties w for reuse, keeping its allocations — unless tokens have
// accumulated many relation names in it, which must not grow without bound.
func (w *World) reset(parent *World) {
	if len(w.rels) > 64 {
		w.rels, w.lists = make(map[string]int32, 16), nil
	}
	for i, l := range w.lists {
		clear(l) // drop references to the last token's terms
		w.lists[i] = l[:0]
	}
	w.index.reset()
	w.parent, w.count = parent, 0
}

func (w *World) total() int {
	if w.parent != nil {
		return w.count + w.parent.count
	}
	return w.count
}

// Relation calls fn for every fact named name, in the trusted layer first.
func (w *World) Relation(name string, fn func(Predicate) bool) {
	if w.parent != nil {
		for _, f := range w.parent.relation(name) {
			if !fn(f) {
				return
			}
		}
	}
	for _, f := range w.relation(name) {
		if !fn(f) {
			return
		}
	}
}

func (w *World) relation(name string) []Predicate {
	if i, ok := w.rels[name]; ok {
		return w.lists[i]
	}
	return nil
}

// has reports whether p is in w or its parent. Each layer costs one step
// plus the weight of p's terms, whatever the hash table does, so that step
// counts stay the same from run to run and process to process.
func (w *World) has(p Predicate, h uint64, cost int, e *Evaluator) (bool, error) {
	for l := w; l != nil; l = l.parent {
		if err := e.spend(cost); err != nil {
			return false, err
		}
		if l.index.has(p, h) {
			return true, nil
		}
	}
	return false, nil
}

// add inserts p unless present; it reports whether p was new.
func (w *World) add(p Predicate, e *Evaluator) (bool, error) {
	return w.addHashed(p, hashPredicate(p), lookupCost(p), e)
}

// lookupCost is the steps charged per layer for looking p up.
func lookupCost(p Predicate) int {
	cost := 1
	for _, t := range p.Terms {
		cost += t.weight()
	}
	return cost
}

// addHashed is add with p's hash (hashPredicate) and lookupCost known.
func (w *World) addHashed(p Predicate, h uint64, cost int, e *Evaluator) (bool, error) {
	dup, err := w.has(p, h, cost, e)
	if err != nil || dup {
		return false, err
	}
	if w.total() >= e.lim.Facts {
		return false, fmt.Errorf("%w: more than %d facts", ErrBudget, e.lim.Facts)
	}
	i, ok := w.rels[p.Name]
	if !ok {
		i = int32(len(w.lists))
		w.rels[p.Name] = i
		w.lists = append(w.lists, nil)
	}
	w.lists[i] = append(w.lists[i], p)
	w.index.insert(p, h)
	w.count++
	return true, nil
}

// Outcome is the result of evaluating a token against a request.
type Outcome struct {
	Allowed bool
	// PolicyFailed is set when every check passed but the policy did not
	// allow the request.
	PolicyFailed bool
	// Block and Check locate the first failed check (Block 0 is the
	// authority block); both are -1 when no check failed.
	Block, Check int
	// CheckText is the Datalog source of the failed check.
	CheckText string
}

// Evaluator runs blocks against request facts. It is not safe for concurrent
// use; keep one per goroutine (a sync.Pool works well).
type Evaluator struct {
	lim RunLimits
	// trusted and block are reused from one Run to the next.
	trusted, block *World
	steps          int
	stack          []Term
	arena          []Term // set results of the expression being evaluated
	binds          []Term
	bound          []bool
}

// NewEvaluator returns an evaluator with the given limits.
func NewEvaluator(lim RunLimits) *Evaluator {
	return &Evaluator{lim: lim, stack: make([]Term, 0, 16), binds: make([]Term, 0, 16), bound: make([]bool, 0, 16)}
}

func (e *Evaluator) spend(n int) error {
	e.steps -= n
	if e.steps < 0 {
		return ErrBudget
	}
	return nil
}

// Steps returns the steps used by the last Run.
func (e *Evaluator) Steps() int { return e.lim.Steps - e.steps }

// Program is a token's blocks prepared for evaluation: the hashes of their
// facts are computed once, so that a program kept with a cached token costs
// no hashing on later decisions. It is immutable and safe for concurrent
// use by several evaluators.
type Program struct {
	blocks []*Block
	facts  [][]preparedFact // facts[i][j] is blocks[i].Facts[j]'s
}

type preparedFact struct {
	hash uint64 // hashPredicate
	cost int    // lookupCost
}

// NewProgram prepares blocks (the authority block first) for Run. The
// blocks must not be modified afterwards.
func NewProgram(blocks []*Block) *Program {
	p := &Program{blocks: blocks, facts: make([][]preparedFact, len(blocks))}
	n := 0
	for _, b := range blocks {
		n += len(b.Facts)
	}
	all := make([]preparedFact, 0, n)
	for i, b := range blocks {
		start := len(all)
		for _, f := range b.Facts {
			all = append(all, preparedFact{hashPredicate(f), lookupCost(f)})
		}
		p.facts[i] = all[start:len(all):len(all)]
	}
	return p
}

// Blocks returns the program's blocks.
func (p *Program) Blocks() []*Block { return p.blocks }

// Run evaluates Biscuit v3 semantics: the authority block's facts and rules
// and the ambient (request) facts form the trusted world; the authority
// block's checks and then policy run on it; then each attenuation block is
// evaluated on a layer of its own over the trusted world, so that its facts
// and rules can only ever satisfy its own checks. The first failed check
// ends evaluation. Work is counted in steps, on the caller's goroutine: no
// wall clock, no goroutines, the same answer under any load.
func (e *Evaluator) Run(blocks []*Block, ambient []Predicate, policy func(*World) bool) (Outcome, error) {
	return e.RunProgram(NewProgram(blocks), ambient, policy)
}

// RunProgram is Run on a prepared program.
func (e *Evaluator) RunProgram(prog *Program, ambient []Predicate, policy func(*World) bool) (Outcome, error) {
	blocks := prog.blocks
	e.steps = e.lim.Steps
	out := Outcome{Block: -1, Check: -1}
	if len(blocks) == 0 {
		return out, errors.New("no authority block")
	}
	if e.trusted == nil {
		e.trusted, e.block = NewWorld(), NewWorld()
	}
	trusted := e.trusted
	trusted.reset(nil)
	for _, f := range ambient {
		if _, err := trusted.add(f, e); err != nil {
			return out, err
		}
	}
	for i, f := range blocks[0].Facts {
		pf := prog.facts[0][i]
		if _, err := trusted.addHashed(f, pf.hash, pf.cost, e); err != nil {
			return out, err
		}
	}
	if err := e.fixpoint(trusted, blocks[0].Rules); err != nil {
		return out, err
	}
	if i, err := e.checks(trusted, blocks[0].Checks); err != nil || i >= 0 {
		if i >= 0 {
			out.Block, out.Check, out.CheckText = 0, i, blocks[0].Checks[i].String()
		}
		return out, err
	}
	if !policy(trusted) {
		out.PolicyFailed = true
		return out, nil
	}
	for bi, b := range blocks[1:] {
		w := e.block
		w.reset(trusted)
		for i, f := range b.Facts {
			pf := prog.facts[bi+1][i]
			if _, err := w.addHashed(f, pf.hash, pf.cost, e); err != nil {
				return out, err
			}
		}
		if err := e.fixpoint(w, b.Rules); err != nil {
			return out, err
		}
		if i, err := e.checks(w, b.Checks); err != nil || i >= 0 {
			if i >= 0 {
				out.Block, out.Check, out.CheckText = bi+1, i, b.Checks[i].String()
			}
			return out, err
		}
	}
	out.Allowed = true
	return out, nil
}

func (e *Evaluator) fixpoint(w *World, rules []Rule) error {
	if len(rules) == 0 {
		return nil
	}
	var fresh []Predicate
	for iter := 0; ; iter++ {
		if iter >= e.lim.Iterations {
			return fmt.Errorf("%w: rules did not settle within %d rounds", ErrBudget, e.lim.Iterations)
		}
		fresh = fresh[:0]
		for ri := range rules {
			r := &rules[ri]
			err := e.match(r, w, func() error {
				head := Predicate{Name: r.Head.Name, Terms: make([]Term, len(r.Head.Terms))}
				for i, t := range r.Head.Terms {
					if t.Kind == KindVariable {
						t = e.binds[t.Int]
					}
					head.Terms[i] = t
				}
				fresh = append(fresh, head)
				if len(fresh) > e.lim.Facts {
					return fmt.Errorf("%w: more than %d facts", ErrBudget, e.lim.Facts)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		added := false
		for _, f := range fresh {
			ok, err := w.add(f, e)
			if err != nil {
				return err
			}
			added = added || ok
		}
		if !added {
			return nil
		}
	}
}

var errFound = errors.New("found")

// checks returns the index of the first failed check, or -1.
func (e *Evaluator) checks(w *World, checks []Check) (int, error) {
	for ci := range checks {
		ok := false
		for qi := range checks[ci].Queries {
			err := e.match(&checks[ci].Queries[qi], w, func() error { return errFound })
			if err == errFound {
				ok = true
				break
			}
			if err != nil {
				return ci, err // Outcome.Block and Outcome.Check locate it
			}
		}
		if !ok {
			return ci, nil
		}
	}
	return -1, nil
}

// Query reports whether some binding of r's body in w satisfies every
// expression of r, spending from the budget of the current Run. A policy
// function passed to Run may call it, for example to evaluate an
// authorizer's own checks and policies on the trusted world.
func (e *Evaluator) Query(w *World, r *Rule) (bool, error) {
	err := e.match(r, w, func() error { return errFound })
	if err == errFound {
		return true, nil
	}
	return false, err
}

// match calls yield for each binding of r's body in w that satisfies every
// expression, with the binding in e.binds. yield's error stops the search.
func (e *Evaluator) match(r *Rule, w *World, yield func() error) error {
	e.binds = e.binds[:0]
	e.bound = e.bound[:0]
	for i := 0; i < r.Vars; i++ {
		e.binds = append(e.binds, Term{})
		e.bound = append(e.bound, false)
	}
	return e.join(r, w, 0, yield)
}

func (e *Evaluator) join(r *Rule, w *World, i int, yield func() error) error {
	if i == len(r.Body) {
		for _, x := range r.Expressions {
			v, err := e.eval(x)
			if err != nil {
				return err
			}
			if v.Kind != KindBool {
				return fmt.Errorf("expression evaluated to %s, not bool", v.Kind)
			}
			if v.Int == 0 {
				return nil
			}
		}
		return yield()
	}
	p := &r.Body[i]
	if len(p.Terms) > maxJoinTerms {
		return errors.New("predicate has too many terms")
	}
	// The trusted layer first, as World.Relation visits them.
	if w.parent != nil {
		if err := e.joinFacts(r, w, i, w.parent.relation(p.Name), yield); err != nil {
			return err
		}
	}
	return e.joinFacts(r, w, i, w.relation(p.Name), yield)
}

// maxJoinTerms bounds the terms of a body predicate that join binds.
const maxJoinTerms = 16

// joinFacts is join over one layer's facts named as r.Body[i]: each fact
// that matches the predicate under the current bindings extends them, and
// join goes on with the next predicate.
func (e *Evaluator) joinFacts(r *Rule, w *World, i int, facts []Predicate, yield func() error) error {
	p := &r.Body[i]
	var newly [maxJoinTerms]int64
	for fi := range facts {
		f := &facts[fi]
		if err := e.spend(1); err != nil {
			return err
		}
		if len(f.Terms) != len(p.Terms) {
			continue
		}
		n := 0
		ok := true
		var err error
		for ti := range p.Terms {
			t, v := &p.Terms[ti], &f.Terms[ti]
			if wt := v.weight(); wt > 0 {
				if err = e.spend(wt); err != nil {
					ok = false
					break
				}
			}
			if t.Kind != KindVariable {
				if !equalTerms(t, v) {
					ok = false
					break
				}
				continue
			}
			slot := t.Int
			if e.bound[slot] {
				if !equalTerms(&e.binds[slot], v) {
					ok = false
					break
				}
				continue
			}
			e.binds[slot], e.bound[slot] = *v, true
			newly[n] = slot
			n++
		}
		if ok {
			err = e.join(r, w, i+1, yield)
		}
		for k := 0; k < n; k++ {
			e.bound[newly[k]] = false
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// equalTerms is Term.Equal without copying the terms.
func equalTerms(a, b *Term) bool {
	if a.Kind != b.Kind {
		return false
	}
	switch a.Kind {
	case KindString, KindBytes:
		return a.Str == b.Str
	case KindSet:
		return setEqual(a.Set, b.Set)
	default:
		return a.Int == b.Int
	}
}

// eval runs a postfix expression with the current bindings.
func (e *Evaluator) eval(x Expression) (Term, error) {
	if cap(e.arena) > 4096 {
		e.arena = nil // do not keep a large arena in a pooled evaluator
	}
	e.arena = e.arena[:0]
	st := e.stack[:0]
	for i := range x {
		op := &x[i]
		if err := e.spend(1); err != nil {
			e.stack = st[:0]
			return Term{}, err
		}
		switch op.Kind {
		case OpValue:
			if op.Term.Kind == KindVariable {
				if !e.bound[op.Term.Int] {
					e.stack = st[:0]
					return Term{}, errors.New("unbound variable")
				}
				st = append(st, e.binds[op.Term.Int])
			} else {
				st = append(st, op.Term)
			}
		case OpUnary:
			v, err := e.unary(op.Code, &st[len(st)-1])
			if err != nil {
				e.stack = st[:0]
				return Term{}, err
			}
			st[len(st)-1] = v
		case OpBinary:
			v, err := e.binary(op.Code, &st[len(st)-2], &st[len(st)-1])
			if err != nil {
				e.stack = st[:0]
				return Term{}, err
			}
			st = st[:len(st)-1]
			st[len(st)-1] = v
		}
	}
	e.stack = st[:0]
	if len(st) != 1 {
		return Term{}, errors.New("malformed expression")
	}
	return st[0], nil
}

func (e *Evaluator) unary(code uint8, v *Term) (Term, error) {
	switch code {
	case UnaryNegate:
		if v.Kind != KindBool {
			return Term{}, fmt.Errorf("cannot negate a %s", v.Kind)
		}
		return Bool(v.Int == 0), nil
	case UnaryParens:
		return *v, nil
	case UnaryLength:
		switch v.Kind {
		case KindString, KindBytes:
			return Int(int64(len(v.Str))), nil
		case KindSet:
			return Int(int64(len(v.Set))), nil
		}
		return Term{}, fmt.Errorf("a %s has no length", v.Kind)
	}
	return Term{}, errors.New("unknown unary operator")
}

func typeError(code uint8, l, r *Term) error {
	return fmt.Errorf("operator %s does not apply to %s and %s", binaryNames[code], l.Kind, r.Kind)
}

func (e *Evaluator) binary(code uint8, l, r *Term) (Term, error) {
	switch code {
	case BinaryLessThan, BinaryGreaterThan, BinaryLessOrEqual, BinaryGreaterOrEqual:
		if l.Kind != r.Kind || (l.Kind != KindInteger && l.Kind != KindDate) {
			return Term{}, typeError(code, l, r)
		}
		switch code {
		case BinaryLessThan:
			return Bool(l.Int < r.Int), nil
		case BinaryGreaterThan:
			return Bool(l.Int > r.Int), nil
		case BinaryLessOrEqual:
			return Bool(l.Int <= r.Int), nil
		default:
			return Bool(l.Int >= r.Int), nil
		}
	case BinaryEqual:
		if l.Kind != r.Kind {
			return Term{}, typeError(code, l, r)
		}
		if err := e.spend(l.weight() + len(l.Str)/32); err != nil {
			return Term{}, err
		}
		return Bool(equalTerms(l, r)), nil
	case BinaryContains:
		if l.Kind == KindString && r.Kind == KindString {
			if err := e.spend(len(l.Str) / 32); err != nil {
				return Term{}, err
			}
			return Bool(strings.Contains(l.Str, r.Str)), nil
		}
		if l.Kind != KindSet {
			return Term{}, typeError(code, l, r)
		}
		if r.Kind == KindSet {
			if err := e.spend(l.weight() + r.weight()); err != nil {
				return Term{}, err
			}
			return Bool(setContainsAll(l.Set, r.Set)), nil
		}
		return Bool(setHas(l.Set, *r)), nil
	case BinaryPrefix, BinarySuffix, BinaryRegex:
		if l.Kind != KindString || r.Kind != KindString {
			return Term{}, typeError(code, l, r)
		}
		switch code {
		case BinaryPrefix:
			return Bool(strings.HasPrefix(l.Str, r.Str)), nil
		case BinarySuffix:
			return Bool(strings.HasSuffix(l.Str, r.Str)), nil
		}
		// The pattern is in Biscuit's (Rust) dialect: translate it to Go's
		// (regex.go), refusing what would mean something else. Go's
		// regexp runs in linear time; compiling and matching are charged
		// by size, Unicode classes by their compile cost.
		pattern, cost, err := TranslateRegex(r.Str)
		if err != nil {
			return Term{}, err
		}
		// Parsing: by length, and the Unicode tables it builds.
		if err := e.spend(8*len(r.Str) + cost); err != nil {
			return Term{}, err
		}
		parsed, err := syntax.Parse(pattern, syntax.Perl)
		if err != nil {
			return Term{}, fmt.Errorf("invalid regular expression %q: %v", r.Str, err)
		}
		// Compiling and matching: by program size, which counted
		// repetitions multiply ((a|aa){999}x took 120 ms to match 1 KiB
		// when charged by length), times the subject's length for
		// matching (Go's matchers are linear in both).
		size := ProgramSize(parsed)
		if size > e.lim.Steps || len(l.Str) > 0 && size > e.lim.Steps*4/len(l.Str) {
			return Term{}, fmt.Errorf("%w: regular expression %q compiles to about %d instructions", ErrBudget, r.Str, size)
		}
		// regexp.Compile parses again: half the tables' cost again.
		if err := e.spend(size + len(l.Str)*size/4 + cost/2); err != nil {
			return Term{}, err
		}
		re, err := regexp.Compile(pattern)
		if err != nil {
			return Term{}, fmt.Errorf("invalid regular expression %q: %v", r.Str, err)
		}
		return Bool(re.MatchString(l.Str)), nil
	case BinaryAdd, BinarySub, BinaryMul, BinaryDiv:
		if code == BinaryAdd && l.Kind == KindString && r.Kind == KindString {
			if len(l.Str)+len(r.Str) > 1<<16 {
				return Term{}, fmt.Errorf("%w: string too long", ErrBudget)
			}
			if err := e.spend((len(l.Str) + len(r.Str)) / 32); err != nil {
				return Term{}, err
			}
			return String(l.Str + r.Str), nil
		}
		if l.Kind != KindInteger || r.Kind != KindInteger {
			return Term{}, typeError(code, l, r)
		}
		return arith(code, l.Int, r.Int)
	case BinaryAnd, BinaryOr:
		if l.Kind != KindBool || r.Kind != KindBool {
			return Term{}, typeError(code, l, r)
		}
		if code == BinaryAnd {
			return Bool(l.Int != 0 && r.Int != 0), nil
		}
		return Bool(l.Int != 0 || r.Int != 0), nil
	case BinaryIntersection, BinaryUnion:
		if l.Kind != KindSet || r.Kind != KindSet {
			return Term{}, typeError(code, l, r)
		}
		// A new set is allocated: charge per element, not per 8.
		if err := e.spend(4 + (len(l.Set)+len(r.Set))/2); err != nil {
			return Term{}, err
		}
		// Results live only while the expression runs: build them in the
		// evaluator's arena instead of allocating each one.
		start := len(e.arena)
		if code == BinaryIntersection {
			e.arena = setIntersect(e.arena, l.Set, r.Set)
		} else {
			e.arena = setUnion(e.arena, l.Set, r.Set)
		}
		return Term{Kind: KindSet, Set: e.arena[start:len(e.arena):len(e.arena)]}, nil
	}
	return Term{}, errors.New("unknown binary operator")
}

var errOverflow = errors.New("integer overflow")

func arith(code uint8, a, b int64) (Term, error) {
	switch code {
	case BinaryAdd:
		s := a + b
		if (s > a) != (b > 0) {
			return Term{}, errOverflow
		}
		return Int(s), nil
	case BinarySub:
		s := a - b
		if (s < a) != (b > 0) {
			return Term{}, errOverflow
		}
		return Int(s), nil
	case BinaryMul:
		if a == 0 || b == 0 {
			return Int(0), nil
		}
		p := a * b
		if p/b != a || (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64) {
			return Term{}, errOverflow
		}
		return Int(p), nil
	default:
		if b == 0 {
			return Term{}, errors.New("division by zero")
		}
		if a == math.MinInt64 && b == -1 {
			return Term{}, errOverflow
		}
		return Int(a / b), nil
	}
}
