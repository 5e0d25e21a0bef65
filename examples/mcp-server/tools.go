package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/mcpmw"
)

// The tools. Each one is registered with its mandate policy right next to
// it: what the call means to the verifier is part of the tool's
// declaration, not guessed from its name.

type readFileIn struct {
	Repo string `json:"repo" jsonschema:"owner/name, e.g. acme/api"`
	Path string `json:"path" jsonschema:"file path in the repository"`
}

type searchIn struct {
	Repo  string `json:"repo" jsonschema:"owner/name"`
	Query string `json:"query" jsonschema:"text to find"`
}

type createIssueIn struct {
	Repo   string   `json:"repo" jsonschema:"owner/name"`
	Title  string   `json:"title" jsonschema:"issue title"`
	Labels []string `json:"labels,omitempty" jsonschema:"labels to set"`
}

// repoResource maps {"repo": "acme/api"} to "repo:acme/api". Repository
// names are the resource as the tool uses them; a real server would
// canonicalize (case, redirects) here exactly as the tool does.
var repoResource = mcpmw.ArgResource("repo:", "repo")

func addTools(g *mcpmw.Guard, s *mcp.Server) error {
	if err := mcpmw.AddTool(g, s,
		&mcp.Tool{Name: "read_file", Description: "Read a file of a repository."},
		mcpmw.ToolPolicy{Service: "github", Operation: "read", Resource: repoResource},
		readFile); err != nil {
		return err
	}
	if err := mcpmw.AddTool(g, s,
		&mcp.Tool{Name: "search_code", Description: "Search the code of a repository."},
		mcpmw.ToolPolicy{Service: "github", Operation: "read", Resource: repoResource},
		searchCode); err != nil {
		return err
	}
	return mcpmw.AddTool(g, s,
		&mcp.Tool{Name: "create_issue", Description: "Open an issue in a repository."},
		mcpmw.ToolPolicy{Service: "github", Operation: "write", Resource: repoResource},
		createIssue)
}

func readFile(ctx context.Context, _ *mcp.CallToolRequest, in readFileIn) (*mcp.CallToolResult, any, error) {
	return textResult(ctx, "contents of %s/%s", in.Repo, in.Path), nil, nil
}

func searchCode(ctx context.Context, _ *mcp.CallToolRequest, in searchIn) (*mcp.CallToolResult, any, error) {
	return textResult(ctx, "3 matches for %q in %s", in.Query, in.Repo), nil, nil
}

func createIssue(ctx context.Context, _ *mcp.CallToolRequest, in createIssueIn) (*mcp.CallToolResult, any, error) {
	return textResult(ctx, "opened %q in %s with labels [%s]", in.Title, in.Repo, strings.Join(in.Labels, ", ")), nil, nil
}

// textResult answers with a line that names the agent the verifier saw.
func textResult(ctx context.Context, format string, args ...any) *mcp.CallToolResult {
	msg := fmt.Sprintf(format, args...)
	if d, ok := verifier.DecisionFrom(ctx); ok {
		msg += fmt.Sprintf(" (for %s, decision %s)", d.Agent, d.DecisionID)
	}
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: msg}}}
}
