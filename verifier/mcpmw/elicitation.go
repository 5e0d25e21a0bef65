package mcpmw

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mandate-dev/mandate/verifier"
)

// CodeURLElicitationRequired is the JSON-RPC error code of MCP's
// URLElicitationRequiredError (specification 2025-11-25): the server needs
// the person to visit a URL before the request can succeed. The Guard
// answers a call that needs a person's approval with it.
const CodeURLElicitationRequired = mcp.CodeURLElicitationRequired

// elicitation is the error data of a URL elicitation error: MCP's
// elicitations (URL mode), and mandate's denial for agents that act on it
// themselves (ask at approval_url for call_digest, wait, retry with the
// approval in params._meta["dev.mandate/approval"]).
type elicitation struct {
	Elicitations []*mcp.ElicitParams `json:"elicitations"`
	Denial       Denial              `json:"dev.mandate/denial"`
}

func (g *Guard) elicitationData(tool string, d *verifier.Decision) elicitation {
	opts := g.httpOptions()
	den := Denial{DenialBody: d.BodyFor(opts), Tool: tool}
	page := den.ApprovalPage
	msg := fmt.Sprintf("A person must approve this call of %q before it runs (call digest %s).", tool, d.CallDigest)
	if den.ApprovalURL != "" {
		msg += fmt.Sprintf(" The agent asks with POST %s; once approved, it retries with the approval in params._meta[%q].", den.ApprovalURL, verifier.ApprovalMetaKey)
	}
	id := d.DecisionID
	if id == "" {
		id = d.CallDigest
	}
	return elicitation{
		Elicitations: []*mcp.ElicitParams{{Mode: "url", Message: msg, URL: page, ElicitationID: id}},
		Denial:       den,
	}
}

// elicitationError is the URL elicitation error of a call that needs
// approval, as a tool handler returns it (the SDK sends it as is).
func (g *Guard) elicitationError(tool string, d *verifier.Decision) error {
	data, err := json.Marshal(g.elicitationData(tool, d))
	if err != nil {
		return err
	}
	return &jsonrpc.Error{Code: CodeURLElicitationRequired, Message: "URL elicitation required: " + Sentence(tool, d), Data: data}
}

// writeElicitation answers a POST whose call needs approval: HTTP 200 (no
// authorization flow can help) with the URL elicitation error for the
// call, and the batch's other requests refused.
func (g *Guard) writeElicitation(w http.ResponseWriter, denied *call, d *verifier.Decision, msgs []message, batch bool) {
	type errBody struct {
		Code    int64       `json:"code"`
		Message string      `json:"message"`
		Data    elicitation `json:"data"`
	}
	type rpcErr struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   errBody         `json:"error"`
	}
	e := errBody{Code: CodeURLElicitationRequired, Message: "URL elicitation required: " + Sentence(denied.name, d), Data: g.elicitationData(denied.name, d)}
	writeCallAnswer(w, denied, d, msgs, batch, fmt.Sprintf("batch refused: tool %q needs a person's approval", denied.name),
		func(id json.RawMessage) any { return rpcErr{JSONRPC: "2.0", ID: id, Error: e} })
}
