package verifier

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestCaseVariantArgs: a handler decoding JSON with encoding/json reads
// "Amount" into its field "amount", so a request whose argument names differ
// only in case is refused before any check runs, whatever its values.
func TestCaseVariantArgs(t *testing.T) {
	a := newTestAuthority(t)
	v := newVerifier(t, a)
	tok := appendBlock(t, a.mint(t, time.Hour), `check if tool($t), !($t == "refund") or arg("amount", $a), $a <= 500`)
	refund := func(args map[string]any) Request {
		return Request{Service: "crm", Tool: "refund", Operation: "write", Resource: "account:acme/42", Args: args}
	}
	tests := []struct {
		name    string
		args    map[string]any
		wantErr string // "" means allowed
	}{
		{name: "one amount", args: map[string]any{"amount": 300}},
		{name: "case variant", args: map[string]any{"amount": 300, "Amount": 900}, wantErr: `"Amount" and "amount" differ only in case`},
		{name: "upper case", args: map[string]any{"amount": 300, "AMOUNT": 900}, wantErr: "differ only in case"},
		{name: "Unicode simple folding", args: map[string]any{"amount": 300, "task": 1, "ta\u017fk": 2}, wantErr: "differ only in case"},
		{name: "Kelvin sign", args: map[string]any{"amount": 300, "kind": "a", "\u212aind": "b"}, wantErr: "differ only in case"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := v.Authorize(context.Background(), tok, refund(tt.args))
			if tt.wantErr == "" {
				if !d.Allowed {
					t.Fatalf("denied: %s", d.Reason)
				}
				return
			}
			if d.Allowed || !errors.Is(d.Err, ErrBadRequest) || !strings.Contains(d.Reason, tt.wantErr) {
				t.Errorf("allowed=%v err=%v reason %q; want a bad request containing %q", d.Allowed, d.Err, d.Reason, tt.wantErr)
			}
		})
	}
}

func TestArgsFromJSON(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{name: "object", in: `{"amount": 9007199254740993, "to": ["a", "b"]}`},
		{name: "exact duplicate", in: `{"amount":300,"amount":900}`, wantErr: "appears twice"},
		{name: "case variant", in: `{"amount":300,"Amount":900}`, wantErr: "differ only in case"},
		{name: "escaped case variant", in: `{"amount":300,"\u0041mount":900}`, wantErr: "differ only in case"},
		{name: "nested case variant", in: `{"a":{"b":[{"x":1,"X":2}]}}`, wantErr: "differ only in case"},
		{name: "same key in sibling objects", in: `{"a":{"k":1},"b":{"k":2}}`},
		{name: "not an object", in: `[1]`, wantErr: "one JSON object"},
		{name: "null", in: `null`, wantErr: "not null"},
		{name: "trailing data", in: `{} {}`, wantErr: "after top-level value"},
		{name: "not UTF-8", in: "{\"a\":\"\xff\"}", wantErr: "UTF-8"},
		{name: "too deep", in: `{"a":` + strings.Repeat("[", MaxArgsJSONDepth) + strings.Repeat("]", MaxArgsJSONDepth) + `}`, wantErr: "nested deeper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, err := ArgsFromJSON([]byte(tt.in))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if n, ok := args["amount"]; ok && n.(interface{ String() string }).String() != "9007199254740993" {
					t.Errorf("amount = %v, want the exact integer", n)
				}
				return
			}
			if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v; want ErrBadRequest containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestRequestNamesAndResources: a request whose resource has relative or
// empty segments (also percent-encoded) is refused before the prefix test
// it would pass, and names with invisible characters are refused.
func TestRequestNamesAndResources(t *testing.T) {
	a := newTestAuthority(t)
	v := newVerifier(t, a)
	tok := a.mint(t, time.Hour) // crm, any tool and operation, "account:acme/"
	base := Request{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/42"}
	tests := []struct {
		name    string
		mod     func(r *Request)
		wantErr string
	}{
		{name: "plain", mod: func(r *Request) {}},
		{name: "dot-dot", mod: func(r *Request) { r.Resource = "account:acme/../globex/1" }, wantErr: `".." segment`},
		{name: "dot", mod: func(r *Request) { r.Resource = "account:acme/./42" }, wantErr: `"." segment`},
		{name: "empty segment", mod: func(r *Request) { r.Resource = "account:acme//globex" }, wantErr: "empty segment"},
		{name: "percent-encoded dot-dot", mod: func(r *Request) { r.Resource = "account:acme/%2e%2e/globex/1" }, wantErr: "percent-decoded"},
		{name: "double-encoded dot-dot", mod: func(r *Request) { r.Resource = "account:acme/%252E%252E/globex/1" }, wantErr: "percent-decoded"},
		{name: "resource with RLO", mod: func(r *Request) { r.Resource = "account:acme/\u202e24" }, wantErr: "U+202E"},
		{name: "tool with ZWSP", mod: func(r *Request) { r.Tool = "get_account\u200b" }, wantErr: "U+200B"},
		{name: "service with BOM", mod: func(r *Request) { r.Service = "\ufeffcrm" }, wantErr: "U+FEFF"},
		{name: "operation with line separator", mod: func(r *Request) { r.Operation = "read\u2028" }, wantErr: "U+2028"},
		{name: "arg name with NBSP", mod: func(r *Request) { r.Args = map[string]any{"amount\u00a0": 1} }, wantErr: "U+00A0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := base
			tt.mod(&req)
			d := v.Authorize(context.Background(), tok, req)
			if tt.wantErr == "" {
				if !d.Allowed {
					t.Fatalf("denied: %s", d.Reason)
				}
				return
			}
			if d.Allowed || !errors.Is(d.Err, ErrBadRequest) || !strings.Contains(d.Reason, tt.wantErr) {
				t.Errorf("allowed=%v err=%v reason %q; want a bad request saying %q", d.Allowed, d.Err, d.Reason, tt.wantErr)
			}
		})
	}
}
