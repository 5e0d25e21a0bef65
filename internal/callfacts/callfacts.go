// Package callfacts turns a tool call into the request facts of the
// public vocabulary, and holds mandate's fixed policy: the one reading of a
// call that the verifier decides with and the authority's approvals room
// checks requests with.
package callfacts

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"time"

	"github.com/mandate-dev/mandate/internal/datalog"
	"github.com/mandate-dev/mandate/token"
)

// ArgTerm converts one argument of a call to its Datalog term: integers
// (any Go integer type, json.Number, or an integral float64), strings,
// booleans, dates, bytes, and a list of scalars of one kind as one set
// (so that a check must hold for the whole list). ok is false for a value
// left out because it is over the token limits (a missing fact can only
// make checks fail).
func ArgTerm(v any) (t datalog.Term, ok bool, err error) { return argTerm(v, true) }

func argTerm(v any, allowList bool) (t datalog.Term, ok bool, err error) {
	switch x := v.(type) {
	case string:
		return datalog.String(x), len(x) <= token.MaxStringBytes, nil
	case bool:
		return datalog.Bool(x), true, nil
	case int:
		return datalog.Int(int64(x)), true, nil
	case int64:
		return datalog.Int(x), true, nil
	case int32:
		return datalog.Int(int64(x)), true, nil
	case int16:
		return datalog.Int(int64(x)), true, nil
	case int8:
		return datalog.Int(int64(x)), true, nil
	case uint8:
		return datalog.Int(int64(x)), true, nil
	case uint16:
		return datalog.Int(int64(x)), true, nil
	case uint32:
		return datalog.Int(int64(x)), true, nil
	case uint:
		if uint64(x) > math.MaxInt64 {
			return t, false, fmt.Errorf("integer %d is out of range", x)
		}
		return datalog.Int(int64(x)), true, nil
	case uint64:
		if x > math.MaxInt64 {
			return t, false, fmt.Errorf("integer %d is out of range", x)
		}
		return datalog.Int(int64(x)), true, nil
	case float64:
		if x != math.Trunc(x) || x < math.MinInt64 || x >= math.MaxInt64 {
			return t, false, fmt.Errorf("number %v is not an integer (pass amounts in minor units)", x)
		}
		return datalog.Int(int64(x)), true, nil
	case json.Number:
		i, err := x.Int64()
		if err != nil {
			return t, false, fmt.Errorf("number %s is not an integer (pass amounts in minor units)", x)
		}
		return datalog.Int(i), true, nil
	case time.Time:
		return datalog.Date(x), true, nil
	case []byte:
		return datalog.Bytes(x), len(x) <= token.MaxStringBytes, nil
	case nil:
		return t, false, fmt.Errorf("null is not supported")
	}
	rv := reflect.ValueOf(v)
	if !allowList || (rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array) {
		return t, false, fmt.Errorf("unsupported type %T", v)
	}
	set := datalog.Term{Kind: datalog.KindSet}
	keep := rv.Len() <= token.MaxSetSize
	for i := 0; i < rv.Len(); i++ {
		e, eok, err := argTerm(rv.Index(i).Interface(), false)
		if err != nil {
			return t, false, fmt.Errorf("element %d: %v", i, err)
		}
		if len(set.Set) > 0 && set.Set[0].Kind != e.Kind {
			return t, false, fmt.Errorf("list mixes %s and %s", set.Set[0].Kind, e.Kind)
		}
		keep = keep && eok
		if keep {
			set.Set = append(set.Set, e)
		}
	}
	return datalog.NewSet(set.Set), keep, nil
}

// Covered is mandate's fixed policy (token.Policy), evaluated natively on
// the trusted world: some right of the authority block (its facts, its
// rules' derivations) covers the call's service, tool, operation and
// resource.
func Covered(w *datalog.World, service, tool, operation, resource string) bool {
	ok := false
	w.Relation(token.FactRight, func(f datalog.Predicate) bool {
		if len(f.Terms) != 4 {
			return true
		}
		for _, t := range f.Terms {
			if t.Kind != datalog.KindString {
				return true
			}
		}
		r := token.Right{Service: f.Terms[0].Str, Tool: f.Terms[1].Str, Operation: f.Terms[2].Str, Resource: f.Terms[3].Str}
		ok = r.Covers(service, tool, operation, resource)
		return !ok
	})
	return ok
}
