package mcpmw

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mandate-dev/mandate/internal/strictjson"
	"github.com/mandate-dev/mandate/verifier"
)

// methodCallTool is the JSON-RPC method of an MCP tool call.
const methodCallTool = "tools/call"

// call is one tools/call request found in a body.
type call struct {
	id       json.RawMessage // the JSON-RPC id as sent, or nil
	name     string
	args     map[string]any
	approval string // params._meta["dev.mandate/approval"]
}

// message is what the middleware needs of one JSON-RPC message.
type message struct {
	id   json.RawMessage
	call *call // nil unless the message is a tools/call request
}

// errBody is the root of the errors of parseBody: the body cannot be read
// unambiguously, so no call in it can be authorized.
var errBody = errors.New("malformed JSON-RPC body")

// parseBody reads a JSON-RPC message or batch. It is strict where the SDK
// is lenient, so that what it authorizes is what the SDK dispatches: the
// body must be UTF-8, no object may hold two keys that are equal or differ
// only in case (the SDK decodes with encoding/json, which matches field
// names case-insensitively), and nesting is bounded. Envelope fields are
// looked up case-insensitively, so that a variant spelling ("Method",
// "Arguments") is authorized rather than skipped, whatever a decoder
// downstream makes of it.
func parseBody(body []byte) (msgs []message, batch bool, err error) {
	if err := strictjson.Check(body, MaxJSONDepth); err != nil {
		return nil, false, fmt.Errorf("%w: %w", errBody, err)
	}
	body = bytes.TrimSpace(body)
	var raws []json.RawMessage
	if len(body) > 0 && body[0] == '[' {
		batch = true
		if err := json.Unmarshal(body, &raws); err != nil {
			return nil, true, fmt.Errorf("%w: %v", errBody, err)
		}
	} else {
		raws = []json.RawMessage{body}
	}
	calls := 0
	for i, raw := range raws {
		m, err := parseMessage(raw)
		if err != nil {
			if batch {
				return nil, true, fmt.Errorf("batch element %d: %w", i, err)
			}
			return nil, false, err
		}
		if m.call != nil {
			calls++
			if calls > MaxBatchCalls {
				return nil, batch, fmt.Errorf("%w: more than %d tool calls in one batch; send them separately", errBody, MaxBatchCalls)
			}
		}
		msgs = append(msgs, m)
	}
	return msgs, batch, nil
}

func parseMessage(raw json.RawMessage) (message, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return message{}, fmt.Errorf("%w: a message is not a JSON object: %v", errBody, err)
	}
	id, _ := strictjson.Lookup(obj, "id")
	m := message{id: id}
	rawMethod, ok := strictjson.Lookup(obj, "method")
	if !ok {
		return m, nil // a response from the client
	}
	var method string
	if err := json.Unmarshal(rawMethod, &method); err != nil {
		return m, fmt.Errorf("%w: method is not a string", errBody)
	}
	if method != methodCallTool {
		return m, nil
	}
	var params map[string]json.RawMessage
	rawParams, _ := strictjson.Lookup(obj, "params")
	if err := json.Unmarshal(rawParams, &params); err != nil || params == nil {
		return m, fmt.Errorf("%w: tools/call params must be an object", errBody)
	}
	c := &call{id: m.id}
	rawName, _ := strictjson.Lookup(params, "name")
	if err := json.Unmarshal(rawName, &c.name); err != nil || c.name == "" {
		return m, fmt.Errorf("%w: tools/call params.name must be a non-empty string", errBody)
	}
	rawArgs, _ := strictjson.Lookup(params, "arguments")
	args, err := decodeArgs(rawArgs)
	if err != nil {
		return m, err
	}
	c.args = args
	// The SDK decodes _meta into a map with exact keys: read it the same
	// way (strictjson.Check refused keys that differ only in case).
	if rawMeta, ok := params["_meta"]; ok && !bytes.Equal(bytes.TrimSpace(rawMeta), []byte("null")) {
		var meta map[string]json.RawMessage
		if err := json.Unmarshal(rawMeta, &meta); err != nil {
			return m, fmt.Errorf("%w: tools/call params._meta must be an object", errBody)
		}
		if raw, ok := meta[verifier.ApprovalMetaKey]; ok {
			if err := json.Unmarshal(raw, &c.approval); err != nil {
				return m, fmt.Errorf("%w: tools/call params._meta[%q] must be a string (the encoded approval)", errBody, verifier.ApprovalMetaKey)
			}
		}
	}
	m.call = c
	return m, nil
}

// decodeArgs decodes tool arguments: absent or null is no argument, an
// object is decoded with numbers as json.Number (integers stay exact). It
// refuses arguments that strictjson.Check refuses, so that the SDK path
// (which sees only the arguments) is as strict as the HTTP one.
func decodeArgs(raw json.RawMessage) (map[string]any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, fmt.Errorf("%w: tools/call arguments must be an object", errBody)
	}
	if err := strictjson.Check(raw, MaxJSONDepth); err != nil {
		return nil, fmt.Errorf("%w: tools/call arguments: %w", errBody, err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var args map[string]any
	if err := dec.Decode(&args); err != nil {
		return nil, fmt.Errorf("%w: tools/call arguments: %v", errBody, err)
	}
	return args, nil
}
