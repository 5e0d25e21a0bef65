package mcpmw

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// methodCallTool is the JSON-RPC method of an MCP tool call.
const methodCallTool = "tools/call"

// call is one tools/call request found in a body.
type call struct {
	id   json.RawMessage // the JSON-RPC id as sent, or nil
	name string
	args map[string]any
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
// body must be UTF-8, objects must not repeat a key, and nesting is bounded.
func parseBody(body []byte) (msgs []message, batch bool, err error) {
	if !utf8.Valid(body) {
		return nil, false, fmt.Errorf("%w: the body is not UTF-8", errBody)
	}
	if err := checkKeys(body); err != nil {
		return nil, false, err
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
	m := message{id: obj["id"]}
	rawMethod, ok := obj["method"]
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
	if err := json.Unmarshal(obj["params"], &params); err != nil || params == nil {
		return m, fmt.Errorf("%w: tools/call params must be an object", errBody)
	}
	c := &call{id: m.id}
	if err := json.Unmarshal(params["name"], &c.name); err != nil || c.name == "" {
		return m, fmt.Errorf("%w: tools/call params.name must be a non-empty string", errBody)
	}
	args, err := decodeArgs(params["arguments"])
	if err != nil {
		return m, err
	}
	c.args = args
	m.call = c
	return m, nil
}

// decodeArgs decodes tool arguments: absent or null is no argument, an
// object is decoded with numbers as json.Number (integers stay exact).
func decodeArgs(raw json.RawMessage) (map[string]any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, fmt.Errorf("%w: tools/call arguments must be an object", errBody)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var args map[string]any
	if err := dec.Decode(&args); err != nil {
		return nil, fmt.Errorf("%w: tools/call arguments: %v", errBody, err)
	}
	return args, nil
}

// checkKeys refuses a document with a repeated object key or nested deeper
// than MaxJSONDepth. JSON parsers disagree on repeated keys (first or last
// wins), and an authorization layer must never read a different call than
// the handler that runs it.
func checkKeys(doc []byte) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	type frame struct {
		object bool
		keys   map[string]struct{}
		key    bool // the next string token is a key
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %v", errBody, err)
		}
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				if top != nil && top.object {
					top.key = true
				}
				if len(stack) >= MaxJSONDepth {
					return fmt.Errorf("%w: nested deeper than %d levels", errBody, MaxJSONDepth)
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
					top.keys = make(map[string]struct{})
				}
				if _, dup := top.keys[t]; dup {
					return fmt.Errorf("%w: key %q appears twice in one object", errBody, t)
				}
				top.keys[t] = struct{}{}
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
