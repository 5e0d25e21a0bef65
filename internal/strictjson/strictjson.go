// Package strictjson reads JSON the way an authorization layer must: so that
// what it authorizes is what any handler will execute. JSON parsers disagree
// on repeated keys (first or last wins), and Go's encoding/json matches
// struct fields case-insensitively, so {"amount":300,"Amount":900} is 300 to
// a map lookup and 900 to a struct decode. Check refuses both.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// ErrAmbiguous is the root of Check's errors: the document cannot be read
// the same way by every reader.
var ErrAmbiguous = errors.New("ambiguous JSON")

// smallObject is the number of keys up to which Check compares keys pairwise
// instead of hashing their folded forms.
const smallObject = 16

// Check refuses a document that is not valid UTF-8 JSON, is nested deeper
// than maxDepth, or has an object with two keys that are equal under
// Unicode simple case folding (as strings.EqualFold and encoding/json
// compare them), exact duplicates included, at any level. It runs in time
// linear in the document (json.Valid, then one pass over the bytes).
func Check(doc []byte, maxDepth int) error {
	if !utf8.Valid(doc) {
		return fmt.Errorf("%w: not UTF-8", ErrAmbiguous)
	}
	if !json.Valid(doc) {
		// Let the decoder say what is wrong, and where.
		var v any
		err := json.Unmarshal(doc, &v)
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return fmt.Errorf("%w: %v", ErrAmbiguous, err)
	}
	var stack []frame
	for i := 0; i < len(doc); i++ {
		switch doc[i] {
		case '{', '[':
			if len(stack) >= maxDepth {
				return fmt.Errorf("%w: nested deeper than %d levels", ErrAmbiguous, maxDepth)
			}
			// Reuse the frame (and its key slice) of an earlier sibling.
			if len(stack) < cap(stack) {
				stack = stack[:len(stack)+1]
				f := &stack[len(stack)-1]
				f.object, f.keys, f.folded = doc[i] == '{', f.keys[:0], nil
			} else {
				stack = append(stack, frame{object: doc[i] == '{'})
			}
		case '}', ']':
			stack = stack[:len(stack)-1]
		case '"':
			// The document is valid JSON: the string ends at the first
			// unescaped quote, and it is a key when a ':' follows.
			start, escaped := i, false
			for i++; doc[i] != '"'; i++ {
				if doc[i] == '\\' {
					escaped = true
					i++
				}
			}
			j := i + 1
			for j < len(doc) && (doc[j] == ' ' || doc[j] == '\t' || doc[j] == '\n' || doc[j] == '\r') {
				j++
			}
			if j == len(doc) || doc[j] != ':' {
				continue
			}
			key := doc[start+1 : i]
			if escaped {
				var k string
				if err := json.Unmarshal(doc[start:i+1], &k); err != nil {
					return fmt.Errorf("%w: %v", ErrAmbiguous, err)
				}
				key = []byte(k)
			}
			top := &stack[len(stack)-1]
			if prev, dup := top.add(key); dup {
				if bytes.Equal(prev, key) {
					return fmt.Errorf("%w: key %q appears twice in one object", ErrAmbiguous, key)
				}
				return fmt.Errorf("%w: keys %q and %q differ only in case, and decoders disagree on which one a field gets; send one", ErrAmbiguous, prev, key)
			}
		}
	}
	return nil
}

// frame is an array or object being scanned.
type frame struct {
	object bool
	keys   [][]byte          // keys as sent, while the object is small
	folded map[string][]byte // folded key → key as sent, once it is not
}

// add records key, or returns the earlier key it folds to. Most objects are
// small: their keys are compared pairwise, and hashed past smallObject.
func (f *frame) add(key []byte) (prev []byte, dup bool) {
	if f.folded != nil {
		k := Fold(string(key))
		if prev, dup = f.folded[k]; !dup {
			f.folded[k] = key
		}
		return prev, dup
	}
	for _, k := range f.keys {
		if bytes.EqualFold(k, key) {
			return k, true
		}
	}
	f.keys = append(f.keys, key)
	if len(f.keys) > smallObject {
		f.folded = make(map[string][]byte, 2*len(f.keys))
		for _, k := range f.keys {
			f.folded[Fold(string(k))] = k
		}
		f.keys = nil
	}
	return nil, false
}

// Fold returns a key such that Fold(a) == Fold(b) exactly when
// strings.EqualFold(a, b): every rune is replaced by the smallest rune of
// its simple case folding orbit (as encoding/json folds field names).
func Fold(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || ('a' <= c && c <= 'z') {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	b := make([]byte, 0, len(s))
	for _, r := range s {
		b = utf8.AppendRune(b, foldRune(r))
	}
	return string(b)
}

// foldRune returns the smallest rune of r's simple case folding orbit.
func foldRune(r rune) rune {
	min := r
	for r2 := unicode.SimpleFold(r); r2 != r; r2 = unicode.SimpleFold(r2) {
		if r2 < min {
			min = r2
		}
	}
	return min
}

// Lookup returns the value of the key of obj that equals name under case
// folding. After Check, at most one key can match.
func Lookup(obj map[string]json.RawMessage, name string) (json.RawMessage, bool) {
	if v, ok := obj[name]; ok {
		return v, true
	}
	f := Fold(name)
	for k, v := range obj {
		if Fold(k) == f {
			return v, true
		}
	}
	return nil, false
}
