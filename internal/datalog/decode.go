package datalog

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/biscuit-auth/biscuit-go/v2/pb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Limits bound what Decode accepts. Zero means "no limit" for none of them:
// every field must be set (token/limits.go holds mandate's values).
type Limits struct {
	MaxSymbols        int // symbols added by all blocks together
	MaxStringBytes    int // length of one symbol, string or bytes value
	MaxFacts          int // facts in one block
	MaxRules          int // rules in one block
	MaxChecks         int // checks in one block
	MaxQueries        int // queries in one check
	MaxBodyPredicates int // predicates in one rule body (bounds join width)
	MaxExpressions    int // expressions in one rule
	MaxOps            int // operations in one expression
	MaxTerms          int // terms in one predicate
	MaxSetSize        int // elements in one set
	MaxVariables      int // distinct variables in one rule
	MaxContextBytes   int // length of a block's context string
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
	return fmt.Sprintf("uses %s, newer than Biscuit v3 (block version 3, Datalog 3.0, Ed25519), the only format mandate evaluates", e.Feature)
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

// ErrSymbolOverlap matches every *SymbolOverlapError.
var ErrSymbolOverlap = errors.New("symbol table overlap")

// SymbolOverlapError reports a block whose symbol table repeats a default
// symbol, a symbol of an earlier block, or one of its own. The Biscuit
// specification forbids it (Rust refuses the first two with
// Format(SymbolTableOverlap); biscuit-wasm 0.6.0 accepts the third, which
// misleads interning readers just the same): readers that
// intern strings (biscuit-go, which drops the repeat) and readers that
// index positionally (the specification, mandate) would then resolve the
// same index to different strings, so one signed block would mean two
// things.
type SymbolOverlapError struct {
	Symbol string
	Where  string // "the default symbols", "an earlier block's symbols" or "this block's symbols"
}

func (e *SymbolOverlapError) Error() string {
	return fmt.Sprintf("block symbol %q repeats one of %s: Biscuit forbids overlapping symbol tables, since readers would resolve the block's strings differently; the token was not written by a conforming Biscuit library", e.Symbol, e.Where)
}

// Is makes errors.Is(err, ErrSymbolOverlap) hold.
func (e *SymbolOverlapError) Is(target error) bool { return target == ErrSymbolOverlap }

// SymbolTable resolves symbol indexes. Blocks of a v3 token share one table
// that each block extends in order; no string appears twice in it, nor is
// any a default symbol (see Extend).
type SymbolTable struct {
	added []string
	// slots is an open-addressing index of added[:indexed] (symSlot),
	// built by the first Extend and kept up to date by add.
	slots   []symSlot
	indexed int
}

// symSlot refers to added[ref-1] (ref 0 is an empty slot) and keeps the
// low bits of its hash, so that a probe rarely compares strings.
type symSlot struct {
	hash uint32
	ref  int32
}

// symSeed seeds symbol hashes per process: a token cannot be built to make
// its symbols collide (collisions would only cost time anyway).
var symSeed = maphash.MakeSeed()

func symHash(s string) uint32 { return uint32(maphash.String(symSeed, s)) }

// defaultSlots indexes DefaultSymbols the same way.
var defaultSlots = func() []symSlot {
	slots := make([]symSlot, 64)
	for i, s := range DefaultSymbols {
		placeSymbol(slots, symSlot{hash: symHash(s), ref: int32(i + 1)})
	}
	return slots
}()

func placeSymbol(slots []symSlot, s symSlot) {
	mask := uint32(len(slots) - 1)
	i := s.hash & mask
	for slots[i].ref != 0 {
		i = (i + 1) & mask
	}
	slots[i] = s
}

// findSymbol reports whether s (of hash h) is in the table slots index
// over strs.
func findSymbol(slots []symSlot, strs []string, s string, h uint32) bool {
	if len(slots) == 0 {
		return false
	}
	mask := uint32(len(slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		sl := slots[i]
		if sl.ref == 0 {
			return false
		}
		if sl.hash == h && strs[sl.ref-1] == s {
			return true
		}
	}
}

// NewSymbolTable returns an empty table with room for n added symbols.
func NewSymbolTable(n int) SymbolTable { return SymbolTable{added: make([]string, 0, n)} }

// Extend appends a block's symbols, refusing with a *SymbolOverlapError any
// that repeats a default symbol, a symbol already in the table, or another
// of syms. On error the table is unchanged.
func (t *SymbolTable) Extend(syms []string) error {
	n := len(t.added)
	for _, s := range syms {
		h := symHash(s)
		if findSymbol(defaultSlots, DefaultSymbols[:], s, h) {
			t.truncate(n)
			return &SymbolOverlapError{Symbol: s, Where: "the default symbols"}
		}
		if t.has(s, h) {
			where := "this block's symbols"
			if slices.Contains(t.added[:n], s) {
				where = "an earlier block's symbols"
			}
			t.truncate(n)
			return &SymbolOverlapError{Symbol: s, Where: where}
		}
		t.add(s, h)
	}
	return nil
}

// ExtendAccepted appends symbols that Extend already accepted, in the same
// order, after the same earlier ones (the blocks of a token parsed before):
// the table ends as Extend would leave it, without checking again.
func (t *SymbolTable) ExtendAccepted(syms []string) {
	for _, s := range syms {
		t.add(s, symHash(s))
	}
}

func (t *SymbolTable) has(s string, h uint32) bool {
	t.reindex(len(t.added))
	return findSymbol(t.slots, t.added, s, h)
}

func (t *SymbolTable) add(s string, h uint32) {
	t.reindex(len(t.added) + 1)
	t.added = append(t.added, s)
	placeSymbol(t.slots, symSlot{hash: h, ref: int32(len(t.added))})
	t.indexed = len(t.added)
}

// reindex makes slots index every added symbol, with room for n symbols
// at a load of at most one half.
func (t *SymbolTable) reindex(n int) {
	if t.indexed == len(t.added) && 2*n <= len(t.slots) {
		return
	}
	size := max(64, len(t.slots))
	for size < 2*n {
		size *= 2
	}
	if size == len(t.slots) {
		clear(t.slots)
	} else {
		t.slots = make([]symSlot, size)
	}
	for i, a := range t.added {
		placeSymbol(t.slots, symSlot{hash: symHash(a), ref: int32(i + 1)})
	}
	t.indexed = len(t.added)
}

// truncate drops the symbols added after the first n.
func (t *SymbolTable) truncate(n int) {
	if n < len(t.added) {
		t.added = t.added[:n]
		t.indexed = -1 // reindex on next use
	}
}

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

// CheckContainer reports unknown fields in a token container: the Biscuit
// message, its signed blocks, their keys and the proof. Block contents are
// checked by DecodeBytes. It visits the few container messages directly,
// without reflection.
func CheckContainer(c *pb.Biscuit) error {
	if raw := c.ProtoReflect().GetUnknown(); len(raw) > 0 {
		return &UnsupportedError{Feature: describeUnknown("Biscuit", raw)}
	}
	if p := c.GetProof(); p != nil && len(p.ProtoReflect().GetUnknown()) > 0 {
		return &UnsupportedError{Feature: describeUnknown("Proof", p.ProtoReflect().GetUnknown())}
	}
	// A key algorithm first: it is the reason a token of newer libraries
	// cannot be verified at all, whatever else its blocks use.
	for i := -1; i < len(c.GetBlocks()); i++ {
		sb := c.GetAuthority()
		if i >= 0 {
			sb = c.Blocks[i]
		}
		k := sb.GetNextKey()
		if k == nil {
			continue
		}
		switch alg := k.GetAlgorithm(); {
		case alg == 1:
			return &UnsupportedError{Feature: FeatureP256}
		case alg != pb.PublicKey_Ed25519:
			return &UnsupportedError{Feature: fmt.Sprintf("key algorithm %d, unknown to Biscuit v3; mandate verifies Ed25519 only", alg)}
		case len(k.ProtoReflect().GetUnknown()) > 0:
			return &UnsupportedError{Feature: describeUnknown("PublicKey", k.ProtoReflect().GetUnknown())}
		}
	}
	for i := -1; i < len(c.GetBlocks()); i++ {
		sb := c.GetAuthority()
		if i >= 0 {
			sb = c.Blocks[i]
		}
		if sb == nil {
			continue
		}
		if raw := sb.ProtoReflect().GetUnknown(); len(raw) > 0 {
			return &UnsupportedError{Feature: describeUnknown("SignedBlock", raw)}
		}
		if k := sb.GetNextKey(); k != nil && len(k.ProtoReflect().GetUnknown()) > 0 {
			return &UnsupportedError{Feature: describeUnknown("PublicKey", k.ProtoReflect().GetUnknown())}
		}
	}
	return nil
}

func describeUnknown(msg protoreflect.Name, raw protoreflect.RawFields) string {
	return describeField(msg, fieldNumber(raw))
}

// describeField names the newer feature an unknown field most likely
// encodes.
func describeField(msg protoreflect.Name, num uint64) string {
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
	case "OpUnary", "OpBinary":
		if num == 2 {
			return featureFFI
		}
		if msg == "OpUnary" {
			return "a unary operator newer than Datalog 3.0"
		}
		return "an operator newer than Datalog 3.0 (such as != or !==, == read as heterogeneous equality by Rust >= 6, bitwise, any/all)"
	case "SignedBlock":
		switch num {
		case 4:
			return "a third-party block signature"
		case 5:
			return "block signature version 1 (Biscuit 3.3)"
		}
	case "PublicKey":
		return FeatureP256
	case "Biscuit", "Proof":
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

// Decode converts a protobuf block; see DecodeBytes.
func Decode(b *pb.Block, syms *SymbolTable, lim *Limits) (*Block, error) {
	raw, err := proto.Marshal(b)
	if err != nil {
		return nil, err
	}
	return DecodeBytes(raw, syms, lim)
}

// DecodeBytes decodes a serialized Biscuit v3 block straight from the wire
// format into mandate's representation, extending syms with the block's
// symbols and enforcing lim. It is strict where protobuf is lenient: an
// unknown field is an *UnsupportedError naming the newer feature it encodes
// (Go's protobuf runtime would keep it silently, so a "check all" would read
// as "check if"), and a repeated singular field is an error (protobuf would
// let the last one win, and two implementations could read one signed block
// differently). It never panics on any input.
func DecodeBytes(raw []byte, syms *SymbolTable, lim *Limits) (*Block, error) {
	return decodeBytes(raw, syms, lim, nil)
}

// Arena lets the blocks of one token share their storage (alloc.go): each
// block starts where the previous one left off in the same backing arrays,
// instead of starting arrays of its own. Every slice it hands out is
// capacity-limited, so no block can write into another. The zero Arena is
// ready to use; it is not safe for concurrent use.
type Arena struct{ s slabs }

// DecodeBytesIn is DecodeBytes taking the block's storage from a.
func DecodeBytesIn(raw []byte, syms *SymbolTable, lim *Limits, a *Arena) (*Block, error) {
	return decodeBytes(raw, syms, lim, a)
}

func decodeBytes(raw []byte, syms *SymbolTable, lim *Limits, a *Arena) (*Block, error) {
	return decodeBlock(raw, syms, lim, a, false)
}

// decodeBlock is decodeBytes; general switches the fast paths off (for the
// tests that hold them to the general decoder).
func decodeBlock(raw []byte, syms *SymbolTable, lim *Limits, a *Arena, general bool) (*Block, error) {
	out := new(Block)
	var symBuf [64][]byte
	symBytes := symBuf[:0] // the symbols, made strings in one allocation below
	// Room for the most parts mandate's limits allow, without allocating.
	var factBuf, checkBuf [64][]byte
	var ruleBuf [16][]byte
	facts, rules, checks := factBuf[:0], ruleBuf[:0], checkBuf[:0]
	var seen uint8
	err := walk(raw, "Block", func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch num {
		case 1:
			if typ != protowire.BytesType {
				return errWireType
			}
			if len(v) > lim.MaxStringBytes {
				return &LimitError{What: "symbol length", Limit: lim.MaxStringBytes}
			}
			if !utf8.Valid(v) {
				return errors.New("a symbol is not UTF-8")
			}
			symBytes = append(symBytes, v)
			if syms.Len()+len(symBytes) > lim.MaxSymbols {
				return &LimitError{What: "symbols in a token", Limit: lim.MaxSymbols}
			}
		case 2:
			if err := once(&seen, 1, typ, protowire.BytesType); err != nil {
				return err
			}
			if len(v) > lim.MaxContextBytes {
				return &LimitError{What: "block context length", Limit: lim.MaxContextBytes}
			}
			out.Context = string(v)
		case 3:
			if err := once(&seen, 2, typ, protowire.VarintType); err != nil {
				return err
			}
			if x > math.MaxUint32 {
				return errors.New("version out of range")
			}
			out.Version = uint32(x)
		case 4, 5, 6:
			if typ != protowire.BytesType {
				return errWireType
			}
			switch num {
			case 4:
				if len(facts) == lim.MaxFacts {
					return &LimitError{What: "facts in a block", Limit: lim.MaxFacts}
				}
				facts = append(facts, v)
			case 5:
				if len(rules) == lim.MaxRules {
					return &LimitError{What: "rules in a block", Limit: lim.MaxRules}
				}
				rules = append(rules, v)
			default:
				if len(checks) == lim.MaxChecks {
					return &LimitError{What: "checks in a block", Limit: lim.MaxChecks}
				}
				checks = append(checks, v)
			}
		default:
			return unsupported("Block", num)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out.Symbols = joinedStrings(symBytes)
	if out.Version > MaxVersion {
		return nil, &UnsupportedError{Version: out.Version, Feature: newerFeature(syms, out.Symbols, lim, facts, rules, checks)}
	}
	if out.Version < MinVersion {
		return nil, fmt.Errorf("block version %d predates Biscuit v3 and is not accepted", out.Version)
	}
	if err := syms.Extend(out.Symbols); err != nil {
		return nil, err
	}
	d := decoder{syms: syms, lim: lim, general: general}
	if a != nil {
		d.slabs = a.s
		defer func() { a.s = d.slabs }()
	}
	d.sizeFor(facts, rules, checks)
	// Each part is decoded by its fast path (fastdecode.go) when it is in
	// the common form, else by the general decoder, which accepts it or
	// says why not.
	if len(facts) > 0 {
		out.Facts = make([]Predicate, len(facts))
	}
	for i, f := range facts {
		if d.general || !d.fastFact(f, &out.Facts[i]) {
			p, err := d.fact(f)
			if err != nil {
				return nil, fmt.Errorf("fact: %w", err)
			}
			out.Facts[i] = p
		}
	}
	if len(rules) > 0 {
		out.Rules = make([]Rule, len(rules))
	}
	for i, r := range rules {
		if d.general || !d.fastRule(r, true, &out.Rules[i]) {
			rule, err := d.rule(r, true)
			if err != nil {
				return nil, fmt.Errorf("rule: %w", err)
			}
			out.Rules[i] = rule
		}
	}
	if len(checks) > 0 {
		out.Checks = make([]Check, len(checks))
	}
	for i, c := range checks {
		if d.general || !d.fastCheck(c, &out.Checks[i]) {
			check, err := d.check(c)
			if err != nil {
				return nil, fmt.Errorf("check: %w", err)
			}
			out.Checks[i] = check
		}
	}
	return out, nil
}

// joinedStrings returns bs as strings that share one allocation (they live
// as long as the block that holds them).
func joinedStrings(bs [][]byte) []string {
	n := 0
	for _, b := range bs {
		n += len(b)
	}
	var all strings.Builder
	all.Grow(n)
	for _, b := range bs {
		all.Write(b)
	}
	s := all.String()
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i], s = s[:len(b)], s[len(b):]
	}
	return out
}

var errWireType = errors.New("malformed: unexpected wire type")

// once records a singular field and checks its wire type.
func once(seen *uint8, bit uint8, typ, want protowire.Type) error {
	if typ != want {
		return errWireType
	}
	if *seen&bit != 0 {
		return errors.New("malformed: a singular field appears twice")
	}
	*seen |= bit
	return nil
}

func unsupported(msg protoreflect.Name, num protowire.Number) error {
	return &UnsupportedError{Feature: describeField(msg, uint64(num))}
}

// walk calls fn for every field of a message: v for length-delimited
// fields, x for varints. Any other wire type on a known field is malformed;
// on an unknown field it is reported by fn through its field number.
func walk(b []byte, msg protoreflect.Name, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return fmt.Errorf("malformed %s: %w", msg, protowire.ParseError(n))
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.VarintType:
			x, n = consumeVarint(b)
		case protowire.BytesType:
			v, n = consumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n >= 0 {
				b = b[n:]
				if err := fn(num, typ, nil, 0); err != nil {
					return err
				}
				continue
			}
		}
		if n < 0 {
			return fmt.Errorf("malformed %s: %w", msg, protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

type decoder struct {
	syms  *SymbolTable
	lim   *Limits
	slabs // the block's storage (alloc.go)
	// per rule: the symbol index of each variable, by dense slot
	varSyms  []uint32
	varNames []string
	inRule   bool
	general  bool // no fast paths (fastdecode.go)
}

func (d *decoder) symbol(i uint64) (string, error) {
	s, ok := d.syms.Lookup(i)
	if !ok {
		return "", fmt.Errorf("unknown symbol index %d", i)
	}
	return s, nil
}

// fact decodes a FactV2 { required PredicateV2 predicate = 1; }.
func (d *decoder) fact(b []byte) (Predicate, error) {
	var pred []byte
	var seen uint8
	err := walk(b, "FactV2", func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num != 1 {
			return unsupported("FactV2", num)
		}
		if err := once(&seen, 1, typ, protowire.BytesType); err != nil {
			return err
		}
		pred = v
		return nil
	})
	if err != nil {
		return Predicate{}, err
	}
	if seen == 0 {
		return Predicate{}, errors.New("fact without predicate")
	}
	d.inRule = false
	return d.predicate(pred)
}

// check decodes a CheckV2 { repeated RuleV2 queries = 1; } (a kind field
// other than 0, "check if", is newer than v3).
func (d *decoder) check(b []byte) (Check, error) {
	var qbuf [4][]byte
	queries := qbuf[:0]
	err := walk(b, "CheckV2", func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			if len(queries) == d.lim.MaxQueries {
				return &LimitError{What: "queries in a check", Limit: d.lim.MaxQueries}
			}
			queries = append(queries, v)
		case num == 2 && typ == protowire.VarintType && x == 0:
			// kind = CheckIf, written explicitly by some encoders
		case num == 2 && typ == protowire.VarintType && x == 1:
			return &UnsupportedError{Feature: `"check all"`}
		case num == 2 && typ == protowire.VarintType && x == 2:
			return &UnsupportedError{Feature: `"reject if"`}
		case num == 1:
			return errWireType
		default:
			return unsupported("CheckV2", num)
		}
		return nil
	})
	if err != nil {
		return Check{}, err
	}
	if len(queries) == 0 {
		return Check{}, errors.New("a check needs at least one query")
	}
	c := Check{Queries: d.rules.take(len(queries))}
	for i, q := range queries {
		r, err := d.rule(q, false)
		if err != nil {
			return Check{}, err
		}
		c.Queries[i] = r
	}
	return c, nil
}

// rule decodes a RuleV2 { head = 1; repeated body = 2; repeated
// expressions = 3; }.
func (d *decoder) rule(b []byte, isRule bool) (Rule, error) {
	var head []byte
	var bodyBuf, exprBuf [4][]byte
	body, exprs := bodyBuf[:0], exprBuf[:0]
	var seen uint8
	err := walk(b, "RuleV2", func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		switch num {
		case 1:
			if err := once(&seen, 1, typ, protowire.BytesType); err != nil {
				return err
			}
			head = v
		case 2:
			if typ != protowire.BytesType {
				return errWireType
			}
			if len(body) == d.lim.MaxBodyPredicates {
				return &LimitError{What: "predicates in a rule body", Limit: d.lim.MaxBodyPredicates}
			}
			body = append(body, v)
		case 3:
			if typ != protowire.BytesType {
				return errWireType
			}
			if len(exprs) == d.lim.MaxExpressions {
				return &LimitError{What: "expressions in a rule", Limit: d.lim.MaxExpressions}
			}
			exprs = append(exprs, v)
		default:
			return unsupported("RuleV2", num)
		}
		return nil
	})
	if err != nil {
		return Rule{}, err
	}
	if seen == 0 {
		return Rule{}, errors.New("missing head")
	}
	// A rule's body may be expressions only (`p(1) <- true`, valid Biscuit:
	// the head holds when they do), but not empty.
	if isRule && len(body) == 0 && len(exprs) == 0 {
		return Rule{}, errors.New("a rule needs a body: at least one predicate or expression")
	}
	d.varSyms = d.varSyms[:0]
	d.varNames = d.varNames[:0]
	d.inRule = true
	out := Rule{Body: d.preds.take(len(body))[:0], Expressions: d.exprs.take(len(exprs))[:0]}
	var bodyVars uint64 // bit per slot; MaxVariables <= 64
	for _, p := range body {
		pred, err := d.predicate(p)
		if err != nil {
			return Rule{}, err
		}
		for _, t := range pred.Terms {
			if t.Kind == KindVariable {
				bodyVars |= 1 << uint(t.Int)
			}
		}
		out.Body = append(out.Body, pred)
	}
	for _, e := range exprs {
		expr, err := d.expression(e)
		if err != nil {
			return Rule{}, err
		}
		out.Expressions = append(out.Expressions, expr)
	}
	// Every variable must be bound by the body: an expression or head
	// variable that no predicate binds can never be evaluated.
	for slot := range d.varNames {
		if bodyVars&(1<<uint(slot)) == 0 {
			return Rule{}, fmt.Errorf("variable $%s is not bound by any predicate of the rule body", d.varNames[slot])
		}
	}
	h, err := d.predicate(head)
	if err != nil {
		return Rule{}, err
	}
	for _, t := range h.Terms {
		if t.Kind == KindVariable && bodyVars&(1<<uint(t.Int)) == 0 {
			return Rule{}, fmt.Errorf("head variable $%s is not bound by the rule body", d.varNames[t.Int])
		}
	}
	out.Head = h
	out.Vars = len(d.varNames)
	out.VarNames = d.names.copyOf(d.varNames)
	d.inRule = false
	return out, nil
}

// predicate decodes a PredicateV2 { required uint64 name = 1; repeated
// TermV2 terms = 2; }.
func (d *decoder) predicate(b []byte) (Predicate, error) {
	var name uint64
	var seen uint8
	var termBuf [8][]byte
	terms := termBuf[:0]
	err := walk(b, "PredicateV2", func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch num {
		case 1:
			if err := once(&seen, 1, typ, protowire.VarintType); err != nil {
				return err
			}
			name = x
		case 2:
			if typ != protowire.BytesType {
				return errWireType
			}
			if len(terms) == d.lim.MaxTerms {
				return &LimitError{What: "terms in a predicate", Limit: d.lim.MaxTerms}
			}
			terms = append(terms, v)
		default:
			return unsupported("PredicateV2", num)
		}
		return nil
	})
	if err != nil {
		return Predicate{}, err
	}
	if seen == 0 {
		return Predicate{}, errors.New("predicate without name")
	}
	n, err := d.symbol(name)
	if err != nil {
		return Predicate{}, err
	}
	out := Predicate{Name: n, Terms: d.terms.take(len(terms))}
	for i, t := range terms {
		term, err := d.term(t, true)
		if err != nil {
			return Predicate{}, fmt.Errorf("%s: %w", n, err)
		}
		out.Terms[i] = term
	}
	return out, nil
}

func (d *decoder) variable(v uint64) (Term, error) {
	if !d.inRule {
		return Term{}, errors.New("variables are not allowed in facts")
	}
	if v > math.MaxUint32 {
		return Term{}, errors.New("variable out of range")
	}
	slot := slices.Index(d.varSyms, uint32(v))
	if slot < 0 {
		if len(d.varNames) >= d.lim.MaxVariables {
			return Term{}, &LimitError{What: "variables in a rule", Limit: d.lim.MaxVariables}
		}
		name, err := d.symbol(v)
		if err != nil {
			return Term{}, err
		}
		slot = len(d.varNames)
		d.varSyms = append(d.varSyms, uint32(v))
		d.varNames = append(d.varNames, name)
	}
	return Term{Kind: KindVariable, Int: int64(slot)}, nil
}

// term decodes a TermV2, a oneof of variable (1), integer (2), string (3),
// date (4), bytes (5), bool (6) and set (7).
func (d *decoder) term(b []byte, allowSet bool) (Term, error) {
	if num, x, ok := singleVarint(b); ok && fastPaths && !d.general && varintTermField(num) {
		return d.varintTerm(num, x) // the common case, without walk
	}
	var out Term
	fields := 0
	var setBytes []byte
	isSet := false
	err := walk(b, "TermV2", func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		fields++
		if fields > 1 {
			return errors.New("malformed: a term holds more than one value")
		}
		want := protowire.VarintType
		if num == 5 || num == 7 {
			want = protowire.BytesType
		}
		if num >= 1 && num <= 7 && typ != want {
			return errWireType
		}
		switch num {
		case 1, 2, 3, 4, 6:
			t, err := d.varintTerm(num, x)
			out = t
			return err
		case 5:
			if len(v) > d.lim.MaxStringBytes {
				return &LimitError{What: "bytes length", Limit: d.lim.MaxStringBytes}
			}
			out = Bytes(v)
		case 7:
			if !allowSet {
				return errors.New("sets cannot contain sets")
			}
			isSet, setBytes = true, v
		default:
			return unsupported("TermV2", num)
		}
		return nil
	})
	if err != nil {
		return Term{}, err
	}
	if fields == 0 {
		return Term{}, errors.New("empty term")
	}
	if isSet {
		return d.set(setBytes)
	}
	return out, nil
}

// set decodes a TermSet { repeated TermV2 set = 1; }.
func (d *decoder) set(b []byte) (Term, error) {
	out := Term{Kind: KindSet, Set: d.terms.take(min(countFields(b, 1), d.lim.MaxSetSize))[:0]}
	n := 0
	err := walk(b, "TermSet", func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num != 1 {
			return unsupported("TermSet", num)
		}
		if typ != protowire.BytesType {
			return errWireType
		}
		if n++; n > d.lim.MaxSetSize {
			return &LimitError{What: "elements in a set", Limit: d.lim.MaxSetSize}
		}
		// Variables in sets are not allowed by the Biscuit spec.
		inRule := d.inRule
		d.inRule = false
		et, err := d.term(v, false)
		d.inRule = inRule
		if err != nil {
			return fmt.Errorf("set: %w", err)
		}
		if len(out.Set) > 0 && out.Set[0].Kind != et.Kind {
			return errors.New("set elements must all have the same type")
		}
		out.Set = append(out.Set, et)
		return nil
	})
	if err != nil {
		return Term{}, err
	}
	return canonicalSet(out.Set), nil
}

// expression decodes an ExpressionV2 { repeated Op ops = 1; } and checks
// that it is a well-formed postfix program leaving one value.
func (d *decoder) expression(b []byte) (Expression, error) {
	// Decoded in place: the slab slice has room for every operation, so
	// append never moves it (a malformed count only costs a copy).
	out := d.ops.take(min(countFields(b, 1), d.lim.MaxOps))[:0]
	depth := 0
	err := walk(b, "ExpressionV2", func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num != 1 {
			return unsupported("ExpressionV2", num)
		}
		if typ != protowire.BytesType {
			return errWireType
		}
		if len(out) == d.lim.MaxOps {
			return &LimitError{What: "operations in an expression", Limit: d.lim.MaxOps}
		}
		op, err := d.op(v)
		if err != nil {
			return err
		}
		switch op.Kind {
		case OpValue:
			depth++
		case OpUnary:
			if depth < 1 {
				return errors.New("malformed expression: unary operator without operand")
			}
		case OpBinary:
			if depth < 2 {
				return errors.New("malformed expression: binary operator without two operands")
			}
			depth--
			// A literal pattern is checked here, so that a construct
			// Go and Rust read differently refuses the token at once
			// (a pattern bound at run time is checked when evaluated).
			if last := out[len(out)-1]; op.Code == BinaryRegex && last.Kind == OpValue && last.Term.Kind == KindString {
				if _, _, err := TranslateRegex(last.Term.Str); err != nil {
					return err
				}
			}
		}
		out = append(out, op)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if depth != 1 {
		return nil, errors.New("malformed expression: it must leave exactly one value")
	}
	return out, nil
}

// op decodes an Op, a oneof of value (1), unary (2) and binary (3).
func (d *decoder) op(b []byte) (Op, error) {
	if op, ok, err := d.commonOp(b); ok && fastPaths && !d.general {
		return op, err // the common cases, without walk
	}
	var out Op
	fields := 0
	err := walk(b, "Op", func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if fields++; fields > 1 {
			return errors.New("malformed: an operation holds more than one content")
		}
		if num >= 1 && num <= 3 && typ != protowire.BytesType {
			return errWireType
		}
		switch num {
		case 1:
			t, err := d.term(v, true)
			out = Op{Kind: OpValue, Term: t}
			return err
		case 2, 3:
			msg := protoreflect.Name("OpUnary")
			if num == 3 {
				msg = "OpBinary"
			}
			var kind uint64
			var seen uint8
			err := walk(v, msg, func(n protowire.Number, t protowire.Type, _ []byte, x uint64) error {
				if n != 1 {
					return unsupported(msg, n)
				}
				if err := once(&seen, 1, t, protowire.VarintType); err != nil {
					return err
				}
				kind = x
				return nil
			})
			if err != nil {
				return err
			}
			if seen == 0 {
				return errors.New("operator without kind")
			}
			out, err = operator(num, kind)
			return err
		default:
			return unsupported("Op", num)
		}
	})
	if err != nil {
		return Op{}, err
	}
	if fields == 0 {
		return Op{}, errors.New("empty operation")
	}
	return out, nil
}

// newerFeature names the first feature newer than Datalog 3.0 that a block
// of a newer version uses, decoding it with a scratch symbol table; "" when
// none is found (the version alone is then the reason). It is only called
// on a block that is refused anyway, and is bounded by the same limits.
func newerFeature(syms *SymbolTable, blockSyms []string, lim *Limits, facts, rules, checks [][]byte) string {
	scratch := SymbolTable{added: append(append([]string(nil), syms.added...), blockSyms...)}
	d := decoder{syms: &scratch, lim: lim}
	var uns *UnsupportedError
	for _, c := range checks {
		if _, err := d.check(c); errors.As(err, &uns) {
			return uns.Feature
		}
	}
	for _, r := range rules {
		if _, err := d.rule(r, true); errors.As(err, &uns) {
			return uns.Feature
		}
	}
	for _, f := range facts {
		if _, err := d.fact(f); errors.As(err, &uns) {
			return uns.Feature
		}
	}
	return ""
}

// FeatureP256 names the key algorithm of newer Biscuit libraries: the
// protobuf PublicKey of Biscuit v3 knows only Ed25519 (algorithm 0), so
// algorithm 1, SECP256R1, is an unknown field to it.
const FeatureP256 = "P-256 (secp256r1) keys and signatures (Biscuit 3.3)"

const featureFFI = "extern:: foreign functions (Datalog 3.3)"

// describeUnary names a unary operator newer than Datalog 3.0 by its
// protobuf kind (schema.proto of Biscuit 3.3).
func describeUnary(kind uint64) string {
	switch kind {
	case 3:
		return "a unary operator newer than Datalog 3.0 (.type(), Datalog 3.3)"
	case 4:
		return featureFFI
	}
	return fmt.Sprintf("a unary operator newer than Datalog 3.0 (unary operator %d)", kind)
}

// describeBinary names a binary operator newer than Datalog 3.0 by its
// protobuf kind (schema.proto of Biscuit 3.3).
func describeBinary(kind uint64) string {
	const newer = "an operator newer than Datalog 3.0 "
	switch kind {
	case 17, 18, 19:
		return newer + "(bitwise &, |, ^)"
	case 20:
		return newer + `(strict inequality: "!==" in Biscuit's Rust, JS and Python libraries >= 6, "!=" before; write !($a === $b) for a v3 verifier)`
	case 21:
		return newer + `(== as heterogeneous equality, Datalog 3.3: Biscuit's Rust, JS and Python libraries >= 6 write == this way; write === for a v3 verifier)`
	case 22:
		return newer + `(!= as heterogeneous inequality, Datalog 3.3; write !($a === $b) for a v3 verifier)`
	case 23, 24:
		return newer + `(lazy && or ||, closures; write "or" between queries for a v3 verifier)`
	case 25, 26:
		return newer + "(.all() or .any())"
	case 27:
		return newer + "(.get())"
	case 28:
		return featureFFI
	case 29:
		return newer + "(.try_or())"
	}
	return fmt.Sprintf("%s(binary operator %d)", newer, kind)
}
