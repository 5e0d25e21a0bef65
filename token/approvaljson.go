package token

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// decodeApprovalPayload reads an approval payload: one flat JSON object
// holding exactly the keys of approvalWire, each once. It is a small strict
// reader rather than encoding/json, which costs several times more than
// the rest of checking an approval (DESIGN.md: ≤ one signature verify +
// 10 µs) and reads keys case-insensitively. It accepts a subset of JSON
// that encoding/json reads the same way (FuzzParseApproval compares them):
// keys without escapes, strings of valid UTF-8 (escapes are decoded by
// encoding/json), integers without fraction or exponent.
func decodeApprovalPayload(p []byte) (approvalWire, error) {
	var w approvalWire
	d := payloadReader{p: p, s: string(p)}
	d.space()
	if !d.eat('{') {
		return w, errors.New("not a JSON object")
	}
	var seen [len(approvalFields)]bool
	n := 0
	for first := true; ; first = false {
		d.space()
		if d.eat('}') {
			break
		}
		if !first && !d.eat(',') {
			return w, fmt.Errorf("want ',' or '}' at byte %d", d.i)
		}
		d.space()
		key, esc, err := d.str()
		if err != nil {
			return w, err
		}
		f := -1
		for i, name := range approvalFields {
			if !esc && string(key) == name {
				f = i
				break
			}
		}
		if f < 0 {
			return w, fmt.Errorf("unknown field %q", key)
		}
		if seen[f] {
			return w, fmt.Errorf("field %q repeated", key)
		}
		seen[f] = true
		n++
		d.space()
		if !d.eat(':') {
			return w, fmt.Errorf("want ':' at byte %d", d.i)
		}
		d.space()
		if err := d.field(&w, f); err != nil {
			return w, fmt.Errorf("%s: %w", approvalFields[f], err)
		}
	}
	d.space()
	if d.i != len(p) {
		return w, errors.New("data after the object")
	}
	if n != len(approvalFields) {
		for i, ok := range seen {
			if !ok {
				return w, fmt.Errorf("field %q is missing", approvalFields[i])
			}
		}
	}
	return w, nil
}

// approvalFields are the payload's keys, in the order SignApproval writes
// them.
var approvalFields = [...]string{"v", "id", "call_digest", "session", "lineage", "approver", "approver_org", "reason", "issued_at", "expires_at", "max_uses", "key_id"}

type payloadReader struct {
	p []byte
	s string // p as one string: unescaped values are substrings of it
	i int
}

func (d *payloadReader) space() {
	for d.i < len(d.p) {
		switch d.p[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *payloadReader) eat(c byte) bool {
	if d.i < len(d.p) && d.p[d.i] == c {
		d.i++
		return true
	}
	return false
}

// str reads a JSON string and returns its raw content (between the quotes)
// and whether it holds escapes.
func (d *payloadReader) str() (raw []byte, escaped bool, err error) {
	if !d.eat('"') {
		return nil, false, fmt.Errorf("want a string at byte %d", d.i)
	}
	start := d.i
	for d.i < len(d.p) {
		c := d.p[d.i]
		switch {
		case c == '"':
			raw = d.p[start:d.i]
			d.i++
			if !utf8.Valid(raw) {
				return nil, false, errors.New("a string is not UTF-8")
			}
			return raw, escaped, nil
		case c == '\\':
			escaped = true
			d.i += 2
		case c < 0x20:
			return nil, false, errors.New("a control character in a string")
		default:
			d.i++
		}
	}
	return nil, false, errors.New("unterminated string")
}

func (d *payloadReader) stringValue() (string, error) {
	start := d.i
	raw, esc, err := d.str()
	if err != nil {
		return "", err
	}
	if !esc {
		return d.s[d.i-1-len(raw) : d.i-1], nil
	}
	var s string
	if err := json.Unmarshal(d.p[start:d.i], &s); err != nil {
		return "", err
	}
	return s, nil
}

// intValue reads a JSON integer: -?(0|[1-9][0-9]*), no fraction or exponent.
func (d *payloadReader) intValue(bits int) (int64, error) {
	start := d.i
	d.eat('-')
	digits := d.i
	for d.i < len(d.p) && d.p[d.i] >= '0' && d.p[d.i] <= '9' {
		d.i++
	}
	switch {
	case d.i == digits:
		return 0, fmt.Errorf("want an integer at byte %d", start)
	case d.p[digits] == '0' && d.i-digits > 1:
		return 0, errors.New("an integer with a leading zero")
	case d.i < len(d.p) && (d.p[d.i] == '.' || d.p[d.i] == 'e' || d.p[d.i] == 'E'):
		return 0, errors.New("not an integer")
	}
	return strconv.ParseInt(d.s[start:d.i], 10, bits)
}

func (d *payloadReader) field(w *approvalWire, f int) error {
	var err error
	switch approvalFields[f] {
	case "v":
		var v int64
		v, err = d.intValue(32)
		w.V = int(v)
	case "id":
		w.ID, err = d.stringValue()
	case "call_digest":
		w.CallDigest, err = d.stringValue()
	case "session":
		w.Session, err = d.stringValue()
	case "lineage":
		w.Lineage, err = d.stringValue()
	case "approver":
		w.Approver, err = d.stringValue()
	case "approver_org":
		w.ApproverOrg, err = d.stringValue()
	case "reason":
		w.Reason, err = d.stringValue()
	case "issued_at":
		w.IssuedAt, err = d.intValue(64)
	case "expires_at":
		w.ExpiresAt, err = d.intValue(64)
	case "max_uses":
		var v int64
		v, err = d.intValue(32)
		w.MaxUses = int(v)
	case "key_id":
		var v int64
		v, err = d.intValue(33)
		if err == nil && (v < 0 || v > 1<<32-1) {
			err = errors.New("out of range")
		}
		w.KeyID = uint32(v)
	}
	return err
}
