package mcpmw

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mandate-dev/mandate/verifier"
)

// DenialMetaKey is the _meta key under which every denied tool call's
// result carries its [Denial], whatever the tool's output schema.
const DenialMetaKey = "dev.mandate/denial"

// Denial is the machine-readable part of a denied tool call's result: the
// structured content of the isError result (and its _meta under
// [DenialMetaKey]). Error is the [verifier.Kind]; FailedCheck names the
// block and the check of the caller's own token that denied the call, and
// nothing of the other blocks.
type Denial struct {
	verifier.DenialBody
	Tool string `json:"tool"`
}

// toolError reports whether a denial of a tool call is answered with a tool
// result (isError, HTTP 200) rather than on the HTTP response: everything a
// new token or a broader grant cannot fix, so that no MCP client starts an
// authorization flow for it (the SDK clients hand every 401 and 403 to
// their OAuth handler) and the model can correct its call.
func toolError(k verifier.Kind) bool {
	return !k.TokenProblem() && !k.GrantCanFix()
}

// denialResult is the isError tool result of a denied call: one sentence
// the model can act on as text, and the [Denial] as structured content and
// in _meta. A tool with an output schema gets it in _meta only: clients
// validate structured content against the output schema even in error
// results (the TypeScript SDK does), and a denial does not fit it.
func (g *Guard) denialResult(tool string, d *verifier.Decision) *mcp.CallToolResult {
	den := Denial{DenialBody: d.Body(), Tool: tool}
	if den.Error == "" {
		den.Error = string(verifier.KindDenied)
	}
	res := &mcp.CallToolResult{
		IsError: true,
		Content: []mcp.Content{&mcp.TextContent{Text: Sentence(tool, d)}},
		Meta:    mcp.Meta{DenialMetaKey: den},
	}
	if !g.hasOutputSchema(tool) {
		res.StructuredContent = den
	}
	return res
}

// Sentence is the text of a denied call's tool result: what was refused,
// why, and what the model can do about it, in one sentence, with the
// decision ID for the people reading logs.
func Sentence(tool string, d *verifier.Decision) string {
	var why, next string
	reason := strings.TrimSuffix(d.Reason, ".")
	switch k := d.Kind(); k {
	case verifier.KindCaveat:
		if fc := d.FailedCheck; fc != nil {
			why = fmt.Sprintf("a caveat of your token (block %d, check %d: %s) forbids this call", fc.Block, fc.Check, fc.Text)
		} else {
			why = "a caveat of your token forbids this call"
		}
		next = "change the call so that it satisfies the caveat, or ask the agent that delegated your token for one that allows it; a new authorization will not lift it"
	case verifier.KindBadRequest:
		why, next = reason, "fix the arguments and call the tool again"
	case verifier.KindUnavailable:
		why, next = reason, "try again in a few seconds"
	case verifier.KindInsufficientScope:
		why, next = "your token grants no right that covers this call", fmt.Sprintf("ask for access to %s", d.Scope())
	case verifier.KindNoToken, verifier.KindInvalidToken:
		why, next = reason, "get a new token"
	case verifier.KindApprovalRequired:
		why = "a person must approve this very call first (call digest " + d.CallDigest + ")"
		next = "ask the authority for approval of this call (POST /v1/approvals with your token and the call), wait for the decision, and call again with the approval in params._meta[\"" + verifier.ApprovalMetaKey + "\"]"
	case verifier.KindApprovalInvalid:
		why, next = reason, "ask for a new approval of this very call"
	default:
		why = reason
	}
	s := fmt.Sprintf("Tool %q was not run: %s", tool, why)
	if next != "" {
		s += "; " + next
	}
	if d.DecisionID != "" {
		s += " (decision " + d.DecisionID + ")"
	}
	return s + "."
}

// writeToolDenial answers a POST whose tool call is denied for a reason no
// grant can fix: HTTP 200 with JSON-RPC responses, the denied call's being
// its isError tool result. In a batch the other requests are refused with
// a JSON-RPC error (nothing of a batch with a denied call runs).
func (g *Guard) writeToolDenial(w http.ResponseWriter, denied *call, d *verifier.Decision, msgs []message, batch bool) {
	type rpcResult struct {
		JSONRPC string              `json:"jsonrpc"`
		ID      json.RawMessage     `json:"id"`
		Result  *mcp.CallToolResult `json:"result"`
	}
	res := g.denialResult(denied.name, d)
	writeCallAnswer(w, denied, d, msgs, batch, fmt.Sprintf("batch refused: tool %q denied: %s", denied.name, d.Reason),
		func(id json.RawMessage) any { return rpcResult{JSONRPC: "2.0", ID: id, Result: res} })
}

// writeCallAnswer answers a POST with HTTP 200: the denied call with
// answer(its id), every other request of the batch refused with a JSON-RPC
// error saying refusal, nothing of it run.
func writeCallAnswer(w http.ResponseWriter, denied *call, d *verifier.Decision, msgs []message, batch bool, refusal string, answer func(id json.RawMessage) any) {
	var out []any
	for _, m := range msgs {
		if len(m.id) == 0 {
			continue
		}
		if m.call == denied {
			out = append(out, answer(m.id))
			continue
		}
		out = append(out, rpcError{JSONRPC: "2.0", ID: m.id, Error: rpcErrorBody{Code: CodeForbidden, Message: refusal,
			Data: rpcErrorData{Error: string(d.Kind()), Description: d.Reason, Tool: denied.name, DecisionID: d.DecisionID, FailedCheck: d.FailedCheck}}})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if len(out) == 0 {
		// A tools/call notification has no response: refuse it like
		// any message the server does not answer.
		w.WriteHeader(http.StatusAccepted)
		return
	}
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	if batch {
		_ = enc.Encode(out)
		return
	}
	_ = enc.Encode(out[0])
}
