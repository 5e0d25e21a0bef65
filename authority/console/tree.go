package console

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/token"
)

// Decision is what the console shows of one decision a verifier reported
// (the decision log's record, without what the pages do not use).
type Decision struct {
	ID        string
	Time      time.Time
	Allowed   bool
	Kind      string
	Reason    string
	CheckText string
	Service   string
	Tool      string
	Operation string
	Resource  string
	Session   string
	Agent     string
	Org       string
	Verifier  string
	// DelegatedTo are the names the token's attenuation blocks state;
	// RevocationIDs every block's revocation ID, hex, in block order.
	DelegatedTo   []string
	RevocationIDs []string
}

// Node is one block of a session's delegation tree: an authority block
// the authority minted (a root), or an attenuation hop below it that a
// verifier reported in a decision.
type Node struct {
	// ID is the block's revocation ID, hex.
	ID    string
	Block int // 0 for an authority block
	// Holder is the delegated_to name the hop's block states: a claim of
	// whoever attenuated, shown as such ("" when the chain does not say).
	Holder string
	// Token is the mint record of an authority block the authority
	// minted (nil for hops, and for a root known only from decisions).
	Token *authority.TokenView
	// Caveats says in plain words what the block allows or narrows, when
	// the authority knows it (the rights it minted).
	Caveats []string
	// Revoked: this block's ID is in the revocation log (at RevokedAt).
	// CutOff: a block above it is revoked, so this one is dead too.
	Revoked   bool
	RevokedAt time.Time
	CutOff    bool
	// Decisions are the recent decisions of tokens that end with this
	// block, newest first; Allowed and Denied count them.
	Decisions       []Decision
	Allowed, Denied int
	LastSeen        time.Time
	Children        []*Node
}

// Dead reports whether the block no longer authorizes anything.
func (n *Node) Dead() bool { return n.Revoked || n.CutOff }

// Tree is a session's delegation tree.
type Tree struct {
	Roots []*Node
	// Loose are revocations of the session that match no block of the
	// tree (a hop revoked by possession that no decision has shown yet).
	Loose []authority.LogEntry
	// Hops counts the attenuation blocks in the tree.
	Hops int
}

// maxNodeDecisions bounds the decisions kept per node.
const maxNodeDecisions = 5

// buildTree puts the session's minted tokens and the chains its decisions
// show into one tree. revoked tells whether a revocation ID (raw) is in
// the log, and when.
func buildTree(v *authority.SessionView, ds []Decision, revoked func(id []byte) (time.Time, bool)) *Tree {
	t := &Tree{}
	byID := map[string]*Node{}
	for i := range v.Tokens {
		tv := &v.Tokens[i]
		n := &Node{ID: hex.EncodeToString(tv.RevocationID), Token: tv, Caveats: rightsInWords(tv.Rights)}
		n.Caveats = append(n.Caveats, "expires "+tv.ExpiresAt.UTC().Format("2006-01-02 15:04:05 UTC"))
		byID[n.ID] = n
		t.Roots = append(t.Roots, n)
	}
	// Decisions come newest first: the first seen of a node is its
	// latest.
	for _, d := range ds {
		var parent *Node
		aligned := len(d.DelegatedTo) == len(d.RevocationIDs)-1
		for i, id := range d.RevocationIDs {
			n := byID[id]
			if n == nil {
				n = &Node{ID: id, Block: i}
				byID[id] = n
				if parent == nil {
					n.Caveats = []string{"an authority block this authority has no mint record of (minted elsewhere, or its record expired)"}
					t.Roots = append(t.Roots, n)
				} else {
					parent.Children = append(parent.Children, n)
					t.Hops++
				}
			}
			// A denial of an invalid token (revoked, expired) carries no
			// delegated_to chain: the holder comes from any decision
			// that does.
			if n.Holder == "" && i > 0 && aligned {
				n.Holder = d.DelegatedTo[i-1]
			}
			if i == len(d.RevocationIDs)-1 {
				if n.LastSeen.IsZero() || d.Time.After(n.LastSeen) {
					n.LastSeen = d.Time
				}
				if d.Allowed {
					n.Allowed++
				} else {
					n.Denied++
				}
				if len(n.Decisions) < maxNodeDecisions {
					n.Decisions = append(n.Decisions, d)
				}
			}
			parent = n
		}
	}
	inTree := map[string]bool{}
	var mark func(n *Node, cut bool)
	mark = func(n *Node, cut bool) {
		inTree[n.ID] = true
		if raw, err := hex.DecodeString(n.ID); err == nil {
			n.RevokedAt, n.Revoked = revoked(raw)
		}
		n.CutOff = cut && !n.Revoked
		slices.SortFunc(n.Children, func(a, b *Node) int { return strings.Compare(a.Holder+a.ID, b.Holder+b.ID) })
		for _, c := range n.Children {
			mark(c, cut || n.Revoked)
		}
	}
	for _, r := range t.Roots {
		mark(r, false)
	}
	for _, e := range v.Revocations {
		if !inTree[hex.EncodeToString(e.ID)] {
			t.Loose = append(t.Loose, e)
		}
	}
	return t
}

// rightsInWords says what each right grants.
func rightsInWords(rs []token.Right) []string {
	var out []string
	for _, r := range rs {
		tool := "tool " + r.Tool
		if r.Tool == "*" {
			tool = "any tool"
		}
		op := "operation " + r.Operation
		if r.Operation == "*" {
			op = "any operation"
		}
		res := fmt.Sprintf("on resources starting with %q", r.Resource)
		if r.Resource == "" {
			res = "on any resource"
		}
		out = append(out, fmt.Sprintf("may call %s of service %s, %s, %s", tool, r.Service, op, res))
	}
	return out
}
