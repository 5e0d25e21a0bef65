package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/mandate-dev/mandate/verifier"
)

// toolServer is a plain net/http tool server. Each route says which tool
// call it performs; verifier.Middleware decides before the handler runs
// and answers 401/403 with RFC 6750 challenges (a call that needs a
// person's approval: 403 approval_required, naming where to ask at
// authorityURL). The approval of a retried call comes in the
// Mandate-Approval header.
func toolServer(v *verifier.Verifier, authorityURL string) http.Handler {
	mux := http.NewServeMux()
	opts := verifier.HTTPOptions{Realm: "tools", ApprovalURL: authorityURL, ApprovalPageURL: authorityURL + "/console/approvals"}
	route := func(pattern string, fn verifier.RequestFunc, h http.HandlerFunc) {
		mux.Handle(pattern, verifier.Middleware(v, fn, opts)(h))
	}

	route("GET /github/repos/{owner}/{repo}/contents/{path...}",
		func(r *http.Request) (verifier.Request, error) {
			return verifier.Request{Service: "github", Tool: "read_file", Operation: "read",
				Resource: repo(r)}, nil
		},
		func(w http.ResponseWriter, r *http.Request) {
			answer(w, r, "contents of %s/%s/%s", r.PathValue("owner"), r.PathValue("repo"), r.PathValue("path"))
		})

	route("POST /github/repos/{owner}/{repo}/issues",
		func(r *http.Request) (verifier.Request, error) {
			var in struct {
				Title string `json:"title"`
			}
			if err := readJSON(r, &in); err != nil {
				return verifier.Request{}, err
			}
			return verifier.Request{Service: "github", Tool: "create_issue", Operation: "write",
				Resource: repo(r), Args: map[string]any{"title": in.Title}}, nil
		},
		func(w http.ResponseWriter, r *http.Request) {
			answer(w, r, "issue opened in %s/%s", r.PathValue("owner"), r.PathValue("repo"))
		})

	route("POST /payments/orders/{order}/refunds",
		func(r *http.Request) (verifier.Request, error) {
			var in struct {
				Amount json.Number `json:"amount"`
			}
			if err := readJSON(r, &in); err != nil {
				return verifier.Request{}, err
			}
			return verifier.Request{Service: "payments", Tool: "create_refund", Operation: "write",
				Resource: "order:acme/" + r.PathValue("order"), Args: map[string]any{"amount": in.Amount}}, nil
		},
		func(w http.ResponseWriter, r *http.Request) {
			var in struct {
				Amount json.Number `json:"amount"`
			}
			_ = readJSON(r, &in)
			answer(w, r, "refunded %s on order %s", in.Amount, r.PathValue("order"))
		})
	return mux
}

func repo(r *http.Request) string {
	return "repo:" + r.PathValue("owner") + "/" + r.PathValue("repo")
}

// readJSON decodes a bounded JSON body and puts it back for the handler.
func readJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return errors.New("send a JSON body")
	}
	return nil
}

// answer writes the tool's result, naming the agent the verifier saw.
func answer(w http.ResponseWriter, r *http.Request, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if d, ok := verifier.DecisionFrom(r.Context()); ok {
		msg += fmt.Sprintf(" (session of %s, token of %d block(s), decision %s)", d.Agent, d.Blocks, d.DecisionID)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"result": msg})
}
