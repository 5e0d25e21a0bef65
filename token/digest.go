package token

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"time"
)

// A call digest names one tool call exactly: its service, tool, operation,
// resource and every argument. An approval ([Approval]) binds to it, so an
// approval of a refund of 100 on order 7 never authorizes a refund of 900,
// another order or another tool. Agents in other languages compute the same
// digest to ask for an approval (interop/calldigest.mjs is a JavaScript
// implementation in 60 lines), so the encoding is part of the public
// vocabulary and never changes; a new encoding gets a new domain.
//
//	digest = SHA-256("mandate/call-digest/v1\x00"
//	                 ‖ str(service) ‖ str(tool) ‖ str(operation) ‖ str(resource)
//	                 ‖ u32(number of arguments)
//	                 ‖ for each argument, names sorted bytewise: str(name) ‖ value)
//	str(s)  = u32(byte length) ‖ the UTF-8 bytes
//	value   = 0x01 ‖ str(s)                  a string
//	        | 0x02 ‖ i64                     an integer
//	        | 0x03 ‖ 0x00 or 0x01            a boolean (false, true)
//	        | 0x04 ‖ i64(Unix seconds) ‖ u32(nanoseconds)   a date
//	        | 0x05 ‖ u32(length) ‖ bytes     bytes
//	        | 0x06 ‖ u32(count) ‖ value…     a list, elements in call order
//
// All integers are big-endian; i64 is two's complement. A list holds
// scalars only (no list in a list). Every argument counts, including a
// string or list the verifier leaves out of the Datalog facts for its size.
//
// Go values map to types as the verifier maps them to facts
// ([CallDigest] documents the mapping): any Go integer type, json.Number
// and a float64 with an integral value are integers (so 100, int64(100),
// json.Number("100") and 100.0 digest alike), time.Time is a date, []byte
// bytes, any other slice or array a list. null, objects, fractions and
// integers outside int64 have no encoding: the verifier refuses them too.

// CallDigestSize is the size of a call digest.
const CallDigestSize = sha256.Size

// Call is one tool call, as the verifier sees it (verifier.Request).
type Call struct {
	Service   string
	Tool      string
	Operation string
	Resource  string
	Args      map[string]any
}

// Value type tags of the call digest encoding.
const (
	digestString byte = 1 + iota
	digestInteger
	digestBool
	digestDate
	digestBytes
	digestList
)

var callDigestDomain = []byte("mandate/call-digest/v1\x00")

// ErrCallDigest is wrapped by the error of a call that has no digest: an
// argument of a type the encoding does not define.
var ErrCallDigest = errors.New("call has no digest")

// CallDigest returns the digest of c. It fails, with an error matching
// ErrCallDigest, for an argument of an unsupported type (null, a map, a
// struct, a fraction, an integer outside int64, a list in a list) and for a
// string or list longer than 2³²-1.
func CallDigest(c Call) ([CallDigestSize]byte, error) {
	var out [CallDigestSize]byte
	b, err := AppendCallEncoding(nil, c)
	if err != nil {
		return out, err
	}
	return sha256.Sum256(b), nil
}

// CallDigestHex is CallDigest in lowercase hex, the form decisions and the
// authority's API show.
func CallDigestHex(c Call) (string, error) {
	d, err := CallDigest(c)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(d[:]), nil
}

// AppendCallEncoding appends the bytes CallDigest hashes (domain included)
// to b. It is exported for test vectors and for people checking another
// implementation byte by byte.
func AppendCallEncoding(b []byte, c Call) ([]byte, error) {
	b = append(b, callDigestDomain...)
	for _, s := range [...]string{c.Service, c.Tool, c.Operation, c.Resource} {
		var err error
		if b, err = appendDigestStr(b, s); err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(c.Args))
	for k := range c.Args {
		names = append(names, k)
	}
	slices.Sort(names) // Go compares strings bytewise
	b = binary.BigEndian.AppendUint32(b, uint32(len(names)))
	for _, name := range names {
		var err error
		if b, err = appendDigestStr(b, name); err != nil {
			return nil, err
		}
		if b, err = appendDigestValue(b, c.Args[name], true); err != nil {
			return nil, fmt.Errorf("%w: argument %q: %v", ErrCallDigest, name, err)
		}
	}
	return b, nil
}

func appendDigestStr(b []byte, s string) ([]byte, error) {
	if uint64(len(s)) > math.MaxUint32 {
		return nil, fmt.Errorf("%w: a string of %d bytes is too long", ErrCallDigest, len(s))
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...), nil
}

func appendDigestInt(b []byte, i int64) []byte {
	b = append(b, digestInteger)
	return binary.BigEndian.AppendUint64(b, uint64(i))
}

func appendDigestValue(b []byte, v any, allowList bool) ([]byte, error) {
	switch x := v.(type) {
	case string:
		b = append(b, digestString)
		return appendDigestStr(b, x)
	case bool:
		if x {
			return append(b, digestBool, 1), nil
		}
		return append(b, digestBool, 0), nil
	case int:
		return appendDigestInt(b, int64(x)), nil
	case int64:
		return appendDigestInt(b, x), nil
	case int32:
		return appendDigestInt(b, int64(x)), nil
	case int16:
		return appendDigestInt(b, int64(x)), nil
	case int8:
		return appendDigestInt(b, int64(x)), nil
	case uint8:
		return appendDigestInt(b, int64(x)), nil
	case uint16:
		return appendDigestInt(b, int64(x)), nil
	case uint32:
		return appendDigestInt(b, int64(x)), nil
	case uint:
		if uint64(x) > math.MaxInt64 {
			return nil, fmt.Errorf("integer %d is out of range", x)
		}
		return appendDigestInt(b, int64(x)), nil
	case uint64:
		if x > math.MaxInt64 {
			return nil, fmt.Errorf("integer %d is out of range", x)
		}
		return appendDigestInt(b, int64(x)), nil
	case float64:
		if x != math.Trunc(x) || x < math.MinInt64 || x >= math.MaxInt64 {
			return nil, fmt.Errorf("number %v is not an integer", x)
		}
		return appendDigestInt(b, int64(x)), nil
	case json.Number:
		i, err := x.Int64()
		if err != nil {
			return nil, fmt.Errorf("number %s is not an integer", x)
		}
		return appendDigestInt(b, i), nil
	case time.Time:
		b = append(b, digestDate)
		b = binary.BigEndian.AppendUint64(b, uint64(x.Unix()))
		return binary.BigEndian.AppendUint32(b, uint32(x.Nanosecond())), nil
	case []byte:
		if uint64(len(x)) > math.MaxUint32 {
			return nil, fmt.Errorf("%d bytes is too long", len(x))
		}
		b = append(b, digestBytes)
		b = binary.BigEndian.AppendUint32(b, uint32(len(x)))
		return append(b, x...), nil
	case nil:
		return nil, errors.New("null has no encoding")
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, fmt.Errorf("type %T has no encoding", v)
	}
	if !allowList {
		return nil, errors.New("a list in a list has no encoding")
	}
	if uint64(rv.Len()) > math.MaxUint32 {
		return nil, fmt.Errorf("a list of %d elements is too long", rv.Len())
	}
	b = append(b, digestList)
	b = binary.BigEndian.AppendUint32(b, uint32(rv.Len()))
	for i := 0; i < rv.Len(); i++ {
		var err error
		if b, err = appendDigestValue(b, rv.Index(i).Interface(), false); err != nil {
			return nil, fmt.Errorf("element %d: %v", i, err)
		}
	}
	return b, nil
}
