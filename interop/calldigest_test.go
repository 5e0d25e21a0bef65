package interop

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/token"
)

// TestCallDigestJavaScript computes the call digest of every vector of
// token/testdata/call-digest-vectors.json with calldigest.mjs (plain
// JavaScript, Node's crypto only) and with token.CallDigest: another
// language computes the same digests from the documented encoding alone.
// It also checks the JavaScript API on native values for one call.
func TestCallDigestJavaScript(t *testing.T) {
	requireRust(t) // node, and the same skip rules as every interop test
	const vectors = "../token/testdata/call-digest-vectors.json"
	ctx, cancel := context.WithTimeout(context.Background(), nodeTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "node", "calldigest.mjs", vectors).Output()
	if err != nil {
		t.Fatalf("node calldigest.mjs: %v", err)
	}
	js := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, digest, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("calldigest.mjs printed %q", line)
		}
		js[name] = digest
	}

	data, err := os.ReadFile(vectors)
	if err != nil {
		t.Fatal(err)
	}
	var vs []struct {
		Name                               string
		Service, Tool, Operation, Resource string
		Args                               map[string]json.RawMessage
	}
	if err := json.Unmarshal(data, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 || len(js) != len(vs) {
		t.Fatalf("%d vectors, %d JavaScript digests", len(vs), len(js))
	}
	for _, v := range vs {
		args := map[string]any{}
		for k, raw := range v.Args {
			args[k] = goValue(t, raw)
		}
		want, err := token.CallDigestHex(token.Call{Service: v.Service, Tool: v.Tool, Operation: v.Operation, Resource: v.Resource, Args: args})
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		if js[v.Name] != want {
			t.Errorf("%q: JavaScript %s, Go %s", v.Name, js[v.Name], want)
		}
	}

	// The JavaScript API on native values: numbers, Dates, Uint8Arrays.
	script := `import { callDigest } from './calldigest.mjs';
console.log(callDigest({service: 'billing', tool: 'refund', operation: 'write', resource: 'order:acme/7',
  args: {amount: 100, currency: 'EUR', at: new Date(Date.UTC(2026, 10, 22, 10, 0, 0, 5)), memo: new Uint8Array([1, 2]), tags: ['a', 'b'], ok: true}}));`
	out, err = exec.CommandContext(ctx, "node", "--input-type=module", "-e", script).Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	want, err := token.CallDigestHex(token.Call{Service: "billing", Tool: "refund", Operation: "write", Resource: "order:acme/7",
		Args: map[string]any{"amount": 100, "currency": "EUR", "at": time.Date(2026, 11, 22, 10, 0, 0, 5e6, time.UTC),
			"memo": []byte{1, 2}, "tags": []string{"a", "b"}, "ok": true}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("native values: JavaScript %s, Go %s", got, want)
	}
}

// goValue reads a typed vector value as a Go value.
func goValue(t *testing.T, raw json.RawMessage) any {
	t.Helper()
	var v map[string]json.RawMessage
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	str := func(k string) string {
		var s string
		if err := json.Unmarshal(v[k], &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	switch {
	case v["string"] != nil:
		return str("string")
	case v["integer"] != nil:
		i, err := strconv.ParseInt(str("integer"), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return json.Number(strconv.FormatInt(i, 10)) // as a JSON body arrives
	case v["bool"] != nil:
		return string(v["bool"]) == "true"
	case v["date"] != nil:
		d, err := time.Parse(time.RFC3339Nano, str("date"))
		if err != nil {
			t.Fatal(err)
		}
		return d
	case v["bytes"] != nil:
		b, err := hex.DecodeString(str("bytes"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	case v["list"] != nil:
		var elems []json.RawMessage
		if err := json.Unmarshal(v["list"], &elems); err != nil {
			t.Fatal(err)
		}
		out := make([]any, len(elems))
		for i, e := range elems {
			out[i] = goValue(t, e)
		}
		return out
	case v["repeat"] != nil:
		n, _ := strconv.Atoi(string(v["times"]))
		return strings.Repeat(str("repeat"), n)
	}
	t.Fatalf("untyped value %s", raw)
	return nil
}
