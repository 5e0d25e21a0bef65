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
		"list":    func(s ...string) []string { return s },
		"approvalArgs": func(v web.View, rows []approvalRow) approvalArgs {
			q := v.URL.Query()
			q.Del("decided")
			q.Del("revoked")
			back := v.URL.Path
			if len(q) > 0 {
				back += "?" + q.Encode()
			}
			return approvalArgs{Rows: rows, Prefix: v.Prefix, CSRF: v.CSRF, Back: back}
		},
		"child": func(a nodeArgs, n *Node) nodeArgs { a.N = n; return a },
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

// approvalArgs is what the "approvalTable" template draws with.
type approvalArgs struct {
	Rows               []approvalRow
	Prefix, CSRF, Back string
}

// nodeArgs is what the "node" template draws one node of the tree with.
type nodeArgs struct {
	N       *Node
	Prefix  string
	Session string
	CanAct  bool
}
