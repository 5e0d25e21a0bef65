package console

import (
	"embed"
	"encoding/hex"
	"html/template"
	"time"

	"github.com/mandate-dev/mandate/authority/people"
	"github.com/mandate-dev/mandate/authority/web"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// funcs are the console's template functions, beside web.Funcs.
func funcs(now func() time.Time) template.FuncMap {
	return template.FuncMap{
		"hex":     hex.EncodeToString,
		"isAdmin": func(p people.Person) bool { return p.IsAdmin() },
		"live":    func(t time.Time) bool { return now().Before(t) },
		"child":   func(a nodeArgs, n *Node) nodeArgs { a.N = n; return a },
		"nodeArgs": func(v web.View, n *Node) nodeArgs {
			sv, _ := v.Data.(sessionView)
			a := nodeArgs{N: n, Prefix: v.Prefix, CanAct: sv.CanAct}
			if sv.S != nil {
				a.Session = sv.S.ID
			}
			return a
		},
	}
}

// nodeArgs is what the "node" template draws one node of the tree with.
type nodeArgs struct {
	N       *Node
	Prefix  string
	Session string
	CanAct  bool
}
