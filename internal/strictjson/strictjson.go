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
	"io"
	"unicode"
	"unicode/utf8"
)

// ErrAmbiguous is the root of Check's errors: the document cannot be read
// the same way by every reader.
var ErrAmbiguous = errors.New("ambiguous JSON")

// Check refuses a document that is not UTF-8, is nested deeper than
// maxDepth, or has an object with two keys that are equal under Unicode
// simple case folding (as strings.EqualFold and encoding/json compare
// them), exact duplicates included, at any level. It does not otherwise
// validate the document beyond what a tokenizer needs.
func Check(doc []byte, maxDepth int) error {
	if !utf8.Valid(doc) {
		return fmt.Errorf("%w: not UTF-8", ErrAmbiguous)
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	type frame struct {
		object bool
		keys   map[string]string // folded key → key as sent
		key    bool              // the next string token is a key
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrAmbiguous, err)
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
					return fmt.Errorf("%w: nested deeper than %d levels", ErrAmbiguous, maxDepth)
				}
				stack = append(stack, frame{object: t == '{', key: t == '{'})
			case '}', ']':
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].key = true
				}
			}
		case string:
			if top != nil && top.object && top.key {
				if top.keys == nil {
					top.keys = make(map[string]string)
				}
				f := Fold(t)
				if prev, dup := top.keys[f]; dup {
					if prev == t {
						return fmt.Errorf("%w: key %q appears twice in one object", ErrAmbiguous, t)
					}
					return fmt.Errorf("%w: keys %q and %q differ only in case, and decoders disagree on which one a field gets; send one", ErrAmbiguous, prev, t)
				}
				top.keys[f] = t
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
