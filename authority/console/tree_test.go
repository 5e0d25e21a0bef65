package console

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/authority"
)

// buildTree puts hops under the minted authority block, names each hop
// from any decision that carries the delegated_to chain (a revoked
// token's denial carries none), marks revoked blocks and cuts off what is
// below them, and keeps revocations it cannot place.
func TestBuildTree(t *testing.T) {
	root, hopA, hopB, deep, loose := []byte{1}, "aa", "bb", "cc", []byte{9}
	v := &authority.SessionView{
		Tokens:      []authority.TokenView{{TokenRecord: authority.TokenRecord{RevocationID: root}}},
		Revocations: []authority.LogEntry{{ID: []byte{0xaa}}, {ID: loose}},
	}
	r := hex.EncodeToString(root)
	now := time.Now()
	ds := []Decision{ // newest first
		{Time: now, RevocationIDs: []string{r, hopA}}, // revoked: no chain
		{Time: now.Add(-time.Second), Allowed: true, RevocationIDs: []string{r, hopA, deep}, DelegatedTo: []string{"a", "a2"}},
		{Time: now.Add(-2 * time.Second), Allowed: true, RevocationIDs: []string{r, hopB}, DelegatedTo: []string{"b"}},
		{Time: now.Add(-3 * time.Second), Allowed: true, RevocationIDs: []string{r, hopA}, DelegatedTo: []string{"a"}},
	}
	tr := buildTree(v, ds, func(id []byte) (time.Time, bool) { return now, hex.EncodeToString(id) == hopA || id[0] == 9 })
	if len(tr.Roots) != 1 || tr.Hops != 3 {
		t.Fatalf("%d roots, %d hops; want 1 root and 3 hops", len(tr.Roots), tr.Hops)
	}
	kids := tr.Roots[0].Children
	if len(kids) != 2 || kids[0].Holder != "a" || kids[1].Holder != "b" {
		t.Fatalf("children %+v: want hops held by a and b", kids)
	}
	a := kids[0]
	if !a.Revoked || a.Allowed != 1 || a.Denied != 1 || len(a.Children) != 1 {
		t.Fatalf("hop a = %+v: want revoked, 1 allowed and 1 denied, one hop below", a)
	}
	if c := a.Children[0]; c.Holder != "a2" || !c.CutOff || c.Revoked || !c.Dead() {
		t.Fatalf("the hop below a revoked hop = %+v: want cut off", c)
	}
	if kids[1].Dead() {
		t.Fatal("the sibling of a revoked hop is dead")
	}
	if len(tr.Loose) != 1 || tr.Loose[0].ID[0] != 9 {
		t.Fatalf("loose revocations %+v: want the one no block matches", tr.Loose)
	}
}
