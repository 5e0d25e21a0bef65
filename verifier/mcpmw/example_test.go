package mcpmw_test

import (
	"fmt"

	"github.com/mandate-dev/mandate/verifier/mcpmw"
)

func ExampleMetadataURL() {
	u, _ := mcpmw.MetadataURL("https://tools.example/mcp")
	fmt.Println(u)
	// Output: https://tools.example/.well-known/oauth-protected-resource/mcp
}

func ExampleArgResource() {
	res := mcpmw.ArgResource("repo:", "repo")
	r, err := res(map[string]any{"repo": "acme/api", "path": "go.mod"})
	fmt.Println(r, err)
	_, err = res(map[string]any{"path": "go.mod"})
	fmt.Println(err)
	// Output:
	// repo:acme/api <nil>
	// argument "repo" must be a non-empty string
}
