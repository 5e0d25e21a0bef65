package token_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/token"
)

// digestVector is one entry of testdata/call-digest-vectors.json, which
// interop/calldigest.mjs reads too. Values are typed: {"string": s},
// {"integer": "decimal"}, {"bool": b}, {"date": RFC 3339}, {"bytes": hex},
// {"list": [...]} and, for long strings, {"repeat": s, "times": n}.
type digestVector struct {
	Name      string                     `json:"name"`
	Service   string                     `json:"service"`
	Tool      string                     `json:"tool"`
	Operation string                     `json:"operation"`
	Resource  string                     `json:"resource"`
	Args      map[string]json.RawMessage `json:"args"`
}

type typedValue struct {
	String  *string            `json:"string"`
	Integer *string            `json:"integer"`
	Bool    *bool              `json:"bool"`
	Date    *string            `json:"date"`
	Bytes   *string            `json:"bytes"`
	List    *[]json.RawMessage `json:"list"`
	Repeat  *string            `json:"repeat"`
	Times   int                `json:"times"`
}

func typed(t *testing.T, raw json.RawMessage) any {
	t.Helper()
	var v typedValue
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	switch {
	case v.String != nil:
		return *v.String
	case v.Integer != nil:
		i, err := strconv.ParseInt(*v.Integer, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return i
	case v.Bool != nil:
		return *v.Bool
	case v.Date != nil:
		d, err := time.Parse(time.RFC3339Nano, *v.Date)
		if err != nil {
			t.Fatal(err)
		}
		return d
	case v.Bytes != nil:
		b, err := hex.DecodeString(*v.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return b
	case v.List != nil:
		out := make([]any, len(*v.List))
		for i, e := range *v.List {
			out[i] = typed(t, e)
		}
		return out
	case v.Repeat != nil:
		return strings.Repeat(*v.Repeat, v.Times)
	}
	t.Fatalf("untyped value %s", raw)
	return nil
}

func loadDigestVectors(t *testing.T) []digestVector {
	t.Helper()
	b, err := os.ReadFile("testdata/call-digest-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []digestVector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	return vs
}

// wantDigests pins the digests of testdata/call-digest-vectors.json. They
// never change: the encoding is public vocabulary (interop/calldigest.mjs
// computes the same ones).
var wantDigests = map[string]string{
	"no arguments, empty resource":     "5dba33bdb0480466cf7f5477090bf3416e4db5359ff2a955595841971efc541c",
	"refund of 100 on order 7":         "4e5bfa007aa07f8dcffa8185795748c14279dc5d980dca0baebe41584637c495",
	"refund of 900 on order 7":         "549bb53a3e68a4a9e0b71d78309dfe79d59664ae91c9bbbd633bd48494a8ddad",
	"refund of 100 on order 8":         "b9fb8eb166cfdaa5a5ad5db97250f72329c63a1a0a0163276da20d64f15f1a1d",
	"every type":                       "2a95d796a866bccff1ab2c89a67f7babf2d2fdd40809a10e12bb4f781f323a0e",
	"list order counts":                "fb45f531fc5dd53521d44336d75375b46e8a5a3a94281514bf7a8978c6529d02",
	"names sorted bytewise":            "6837021874b827d12b3b4261afb488e9eb6d890ec239416a3987b8602b6f31b8",
	"string and integer differ":        "17ad6d2e77eb8c01f5106e989217044f3dfba0dbaf88483767567c4a8c82fb62",
	"an argument over the fact limits": "34351abe59c6100f53aec17fbb8cbb8dd7c5865abc8d483a451425937fd1262c",
}

func TestCallDigestVectors(t *testing.T) {
	seen := map[string]string{}
	for _, v := range loadDigestVectors(t) {
		args := map[string]any{}
		for k, raw := range v.Args {
			args[k] = typed(t, raw)
		}
		got, err := token.CallDigestHex(token.Call{Service: v.Service, Tool: v.Tool, Operation: v.Operation, Resource: v.Resource, Args: args})
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		if want, ok := wantDigests[v.Name]; !ok || got != want {
			t.Errorf("%q: digest %s, want %s", v.Name, got, want)
		}
		if other, dup := seen[got]; dup {
			t.Errorf("%q and %q have the same digest", v.Name, other)
		}
		seen[got] = v.Name
	}
	if len(seen) != len(wantDigests) {
		t.Errorf("%d vectors, %d pinned digests", len(seen), len(wantDigests))
	}
}

// TestCallEncodingBytes spells out the encoding of one small call byte by
// byte, as the documentation describes it.
func TestCallEncodingBytes(t *testing.T) {
	got, err := token.AppendCallEncoding(nil, token.Call{Service: "s", Tool: "t", Operation: "o", Resource: "",
		Args: map[string]any{"n": 1, "b": true, "l": []string{"x"}}})
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	want = append(want, "mandate/call-digest/v1\x00"...)
	want = append(want, 0, 0, 0, 1, 's', 0, 0, 0, 1, 't', 0, 0, 0, 1, 'o', 0, 0, 0, 0)
	want = append(want, 0, 0, 0, 3)                                               // three arguments
	want = append(want, 0, 0, 0, 1, 'b', 0x03, 1)                                 // b: bool true
	want = append(want, 0, 0, 0, 1, 'l', 0x06, 0, 0, 0, 1, 0x01, 0, 0, 0, 1, 'x') // l: list of one string
	want = append(want, 0, 0, 0, 1, 'n', 0x02, 0, 0, 0, 0, 0, 0, 0, 1)            // n: integer 1
	if !bytes.Equal(got, want) {
		t.Fatalf("encoding\n got %x\nwant %x", got, want)
	}
}

// TestCallDigestTypes: Go types that the verifier reads as the same fact
// digest alike; different types never do.
func TestCallDigestTypes(t *testing.T) {
	d := func(v any) string {
		t.Helper()
		h, err := token.CallDigestHex(token.Call{Service: "s", Tool: "t", Operation: "o", Args: map[string]any{"x": v}})
		if err != nil {
			t.Fatalf("%T %v: %v", v, v, err)
		}
		return h
	}
	same := [][]any{
		{100, int64(100), int32(100), uint8(100), uint64(100), 100.0, json.Number("100")},
		{[]string{"a", "b"}, []any{"a", "b"}, [2]string{"a", "b"}},
		{time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), time.Date(2026, 11, 22, 11, 0, 0, 0, time.FixedZone("CET", 3600))},
	}
	for _, group := range same {
		for _, v := range group[1:] {
			if d(v) != d(group[0]) {
				t.Errorf("%T %v and %T %v digest differently", v, v, group[0], group[0])
			}
		}
	}
	distinct := []any{"100", 100, true, "true", []byte("100"), []string{"100"}, []int{100}, time.Unix(100, 0), []any{}, "", []byte{}, false, 0}
	seen := map[string]any{}
	for _, v := range distinct {
		if prev, dup := seen[d(v)]; dup {
			t.Errorf("%T %v and %T %v digest alike", v, v, prev, prev)
		}
		seen[d(v)] = v
	}
}

func TestCallDigestRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    any
	}{
		{"null", nil},
		{"object", map[string]any{"a": 1}},
		{"fraction", 1.5},
		{"NaN", math.NaN()},
		{"uint64 over int64", uint64(math.MaxUint64)},
		{"json fraction", json.Number("1.5")},
		{"list in a list", []any{[]any{1}}},
		{"struct", struct{}{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := token.CallDigest(token.Call{Service: "s", Tool: "t", Operation: "o", Args: map[string]any{"x": tc.v}})
			if !errors.Is(err, token.ErrCallDigest) {
				t.Fatalf("got %v, want ErrCallDigest", err)
			}
		})
	}
}
