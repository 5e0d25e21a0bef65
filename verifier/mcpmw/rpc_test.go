package mcpmw

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseBody(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantErr   bool
		wantBatch bool
		wantCalls []string // name of each tools/call
	}{
		{name: "initialize", body: `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`},
		{name: "one call", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"n":1}}}`, wantCalls: []string{"a"}},
		{name: "call without arguments", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}}`, wantCalls: []string{"a"}},
		{name: "call with null arguments", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":null}}`, wantCalls: []string{"a"}},
		{name: "batch", body: `[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}},{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"b"}}]`, wantBatch: true, wantCalls: []string{"a", "b"}},
		{name: "response from client", body: `{"jsonrpc":"2.0","id":1,"result":{}}`},
		{name: "same key in sibling objects", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"x":{"k":1},"y":{"k":2},"z":[{"k":1},{"k":2}]}}}`, wantCalls: []string{"a"}},
		{name: "key equal to a value", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"name","arguments":{"name":"name"}}}`, wantCalls: []string{"name"}},
		{name: "duplicate top-level key", body: `{"jsonrpc":"2.0","id":1,"method":"initialize","method":"tools/call","params":{"name":"a"}}`, wantErr: true},
		{name: "duplicate nested key", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"x":[{"k":1,"k":2}]}}}`, wantErr: true},
		{name: "duplicate key after a nested object", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"o":{},"o":1}}}`, wantErr: true},
		{name: "escaped duplicate key", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","n\u0061me":"b"}}`, wantErr: true},
		{name: "case-variant argument keys", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"amount":300,"Amount":900}}}`, wantErr: true},
		{name: "case-variant nested keys", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"x":[{"k":1,"K":2}]}}}`, wantErr: true},
		{name: "case-variant escaped keys", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"amount":1,"\u0041mount":2}}}`, wantErr: true},
		{name: "Kelvin sign folds to k", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"k":1,"\u212a":2}}}`, wantErr: true},
		{name: "case-variant envelope keys", body: `{"jsonrpc":"2.0","id":1,"method":"initialize","METHOD":"tools/call","params":{"name":"a"}}`, wantErr: true},
		{name: "method in another case", body: `{"jsonrpc":"2.0","id":1,"Method":"tools/call","Params":{"Name":"a","Arguments":{"n":1}}}`, wantCalls: []string{"a"}},
		{name: "not UTF-8", body: "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\xff\"}}", wantErr: true},
		{name: "two values", body: `{"jsonrpc":"2.0","id":1,"method":"initialize"} {}`, wantErr: true},
		{name: "name not a string", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":1}}`, wantErr: true},
		{name: "empty name", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":""}}`, wantErr: true},
		{name: "no params", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call"}`, wantErr: true},
		{name: "arguments a string", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":"x"}}`, wantErr: true},
		{name: "method not a string", body: `{"jsonrpc":"2.0","id":1,"method":["tools/call"]}`, wantErr: true},
		{name: "scalar", body: `1`, wantErr: true},
		{name: "empty", body: ``, wantErr: true},
		{name: "too deep", body: strings.Repeat("[", MaxJSONDepth+1) + strings.Repeat("]", MaxJSONDepth+1), wantErr: true},
		{name: "too many calls", body: "[" + strings.TrimSuffix(strings.Repeat(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}},`, MaxBatchCalls+1), ",") + "]", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs, batch, err := parseBody([]byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseBody: %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, errBody) {
					t.Errorf("error %v does not wrap errBody", err)
				}
				return
			}
			if batch != tt.wantBatch {
				t.Errorf("batch = %v, want %v", batch, tt.wantBatch)
			}
			var names []string
			for _, m := range msgs {
				if m.call != nil {
					names = append(names, m.call.name)
				}
			}
			if strings.Join(names, ",") != strings.Join(tt.wantCalls, ",") {
				t.Errorf("calls %v, want %v", names, tt.wantCalls)
			}
		})
	}
}

func TestDecodeArgsKeepsIntegers(t *testing.T) {
	args, err := decodeArgs(json.RawMessage(`{"amount": 9007199254740993, "ok": true}`))
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := args["amount"].(json.Number); !ok || n.String() != "9007199254740993" {
		t.Errorf("amount = %#v, want json.Number 9007199254740993 (no float rounding)", args["amount"])
	}
}

// FuzzParseBody: no input panics, and a body that parses never holds a
// repeated key in its tools/call params.
func FuzzParseBody(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"n":1}}}`))
	f.Add([]byte(`[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}}]`))
	f.Add([]byte(`{"method":"tools/call","params":{"name":"a","name":"b"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		msgs, _, err := parseBody(body)
		if err != nil {
			return
		}
		for _, m := range msgs {
			if m.call != nil && m.call.name == "" {
				t.Fatal("a call without a name was accepted")
			}
		}
	})
}
