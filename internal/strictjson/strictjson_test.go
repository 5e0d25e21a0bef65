package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestFoldMatchesEqualFold(t *testing.T) {
	words := []string{"amount", "Amount", "AMOUNT", "k", "K", "\u212a", "s", "S", "\u017f", "straße", "STRASSE", "ǅ", "ǆ", "Ǆ", "µ", "Μ", "μ", "a\u0300", "", "x-y_z"}
	for _, a := range words {
		for _, b := range words {
			if got, want := Fold(a) == Fold(b), strings.EqualFold(a, b); got != want {
				t.Errorf("Fold(%q)==Fold(%q) is %v, strings.EqualFold says %v", a, b, got, want)
			}
		}
	}
}

func TestCheck(t *testing.T) {
	for _, tt := range []struct {
		name, doc string
		wantErr   bool
	}{
		{"flat", `{"a":1,"b":2}`, false},
		{"siblings", `{"a":{"k":1},"b":{"k":2}}`, false},
		{"value equal to key", `{"a":"a","b":"A"}`, false},
		{"exact duplicate", `{"a":1,"a":2}`, true},
		{"case variant", `{"a":1,"A":2}`, true},
		{"deep case variant", `[[{"x":[{"ab":1,"aB":2}]}]]`, true},
		{"too deep", strings.Repeat("[", 11) + strings.Repeat("]", 11), true},
	} {
		err := Check([]byte(tt.doc), 10)
		if (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, ErrAmbiguous)) {
			t.Errorf("%s: Check = %v, want error %v", tt.name, err, tt.wantErr)
		}
	}
}

// BenchmarkCheck scans a 3 MB document of small objects: the work an MCP
// body costs the middleware (now only after the token is verified).
func BenchmarkCheck(b *testing.B) {
	doc := []byte(`{"args":[` + strings.TrimSuffix(strings.Repeat(`{"a":1},`, 400_000), ",") + `]}`)
	b.SetBytes(int64(len(doc)))
	for range b.N {
		if err := Check(doc, 64); err != nil {
			b.Fatal(err)
		}
	}
}

// oracle is the straightforward reading of Check with encoding/json's
// tokenizer (slow, but obviously right): the fuzz test holds the fast scan
// to it.
func oracle(doc []byte, maxDepth int) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	// Numbers as written: Check reads keys, not values, so a number too
	// large for a float64 is as valid to it as to the JSON grammar.
	dec.UseNumber()
	type frame struct {
		object, key bool
		keys        []string
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				if len(stack) >= maxDepth {
					return errors.New("deep")
				}
				stack = append(stack, frame{object: t == '{', key: t == '{'})
			default:
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].key = true
				}
			}
		case string:
			if top != nil && top.object && top.key {
				for _, k := range top.keys {
					if strings.EqualFold(k, t) {
						return errors.New("dup")
					}
				}
				top.keys = append(top.keys, t)
				top.key = false
				continue
			}
			if top != nil && top.object {
				top.key = true
			}
		default:
			if top != nil && top.object {
				top.key = true
			}
		}
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{"a":1,"A":2}`, `{"a":{"b":1},"c":[{"b":2,"B":3}]}`, `{"a\u0041":1,"aa":2}`, `["a","a"]`, `{"k":1,"\u212a":2}`, `{"a":"b:","b":1}`, `{"x":"\"","y":{"\\":1,"\\":2}}`, `{}`, `[]`, `1`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		err := Check(doc, 8)
		if !utf8.Valid(doc) || !json.Valid(doc) {
			if err == nil {
				t.Fatalf("Check accepted invalid JSON %q", doc)
			}
			return
		}
		if want := oracle(doc, 8); (err == nil) != (want == nil) {
			t.Fatalf("Check(%q) = %v, the tokenizer's reading says %v", doc, err, want)
		}
	})
}
