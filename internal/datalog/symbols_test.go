package datalog

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestSymbolTableRefusesOverlap(t *testing.T) {
	many := make([]string, 300) // past the first index size: the index grows
	for i := range many {
		many[i] = fmt.Sprintf("s%d", i)
	}
	tests := []struct {
		name      string
		earlier   [][]string
		block     []string
		wantWhere string // "" for no error
	}{
		{"fresh symbols", [][]string{{"a"}}, []string{"b", "c"}, ""},
		{"a default symbol", nil, []string{"x", "read"}, "the default symbols"},
		{"the last default symbol", nil, []string{"query"}, "the default symbols"},
		{"an earlier block's symbol", [][]string{{"a", "b"}}, []string{"c", "b"}, "an earlier block's symbols"},
		{"its own symbol twice", [][]string{{"a"}}, []string{"c", "c"}, "this block's symbols"},
		{"an earlier symbol in a large table", [][]string{many}, []string{"z", "s39"}, "an earlier block's symbols"},
		{"an earlier symbol after a growing block", [][]string{many[:20]}, append(slices.Clone(many[20:]), "s3"), "an earlier block's symbols"},
		{"its own symbol after a growing block", [][]string{many[:20]}, append(slices.Clone(many[20:]), "s30"), "this block's symbols"},
		{"a default symbol after a growing block", [][]string{many[:20]}, append(slices.Clone(many[20:]), "nonce"), "the default symbols"},
		{"its own symbol twice in a large table", [][]string{many}, []string{"z", "z"}, "this block's symbols"},
		{"fresh symbols in a large table", [][]string{many[:20], many[20:]}, []string{"z"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var st SymbolTable
			for _, e := range tt.earlier {
				if err := st.Extend(e); err != nil {
					t.Fatal(err)
				}
			}
			before := st.Len()
			err := st.Extend(tt.block)
			if tt.wantWhere == "" {
				if err != nil {
					t.Fatal(err)
				}
				for i, s := range tt.block {
					if got, _ := st.Lookup(uint64(SymbolOffset + before + i)); got != s {
						t.Errorf("symbol %d = %q, want %q", i, got, s)
					}
				}
				return
			}
			var oe *SymbolOverlapError
			if !errors.Is(err, ErrSymbolOverlap) || !errors.As(err, &oe) || oe.Where != tt.wantWhere {
				t.Fatalf("Extend: %v; want a SymbolOverlapError in %s", err, tt.wantWhere)
			}
			if st.Len() != before {
				t.Errorf("a refused block left %d symbols in the table", st.Len()-before)
			}
			// The table still works after a refusal.
			if err := st.Extend([]string{"after"}); err != nil {
				t.Errorf("Extend after a refusal: %v", err)
			}
		})
	}
}

// TestExtendAccepted: a table rebuilt with ExtendAccepted from blocks that
// Extend accepted is the table Extend built, small or indexed, and refuses
// and accepts the next blocks exactly as it does.
func TestExtendAccepted(t *testing.T) {
	for _, sizes := range [][]int{{3}, {5, 4, 2}, {20, 10, 5}, {40}, {30, 2, 1, 9}, {31, 1, 1}, {100, 200}} {
		var blocks [][]string
		k := 0
		for _, n := range sizes {
			var b []string
			for range n {
				b = append(b, fmt.Sprintf("sym%d", k))
				k++
			}
			blocks = append(blocks, b)
		}
		var want, got SymbolTable
		for _, b := range blocks {
			if err := want.Extend(b); err != nil {
				t.Fatal(err)
			}
			got.ExtendAccepted(b)
		}
		if !slices.Equal(got.added, want.added) || !slices.Equal(got.slots, want.slots) || got.indexed != want.indexed {
			t.Fatalf("%v: ExtendAccepted built %v (index of %d), Extend %v (index of %d)", sizes, got.added, len(got.slots), want.added, len(want.slots))
		}
		for _, next := range [][]string{{"fresh"}, {"sym0"}, {fmt.Sprintf("sym%d", k-1)}, {"read"}, {"x", "x"}} {
			w, g := want, got
			w.added, g.added = slices.Clone(want.added), slices.Clone(got.added)
			w.slots, g.slots = slices.Clone(want.slots), slices.Clone(got.slots)
			if we, ge := w.Extend(next), g.Extend(next); fmt.Sprint(we) != fmt.Sprint(ge) {
				t.Fatalf("%v then %v: Extend after ExtendAccepted says %v, after Extend %v", sizes, next, ge, we)
			}
		}
	}
}

// TestEveryDefaultSymbolRefused: the hashed index of the default symbols
// finds each of them, and nothing else.
func TestEveryDefaultSymbolRefused(t *testing.T) {
	for _, s := range DefaultSymbols {
		var st SymbolTable
		if err := st.Extend([]string{"fresh", s}); !errors.Is(err, ErrSymbolOverlap) {
			t.Errorf("Extend(%q) = %v, want a symbol overlap", s, err)
		}
		var ok SymbolTable
		if err := ok.Extend([]string{s + "x", "x" + s, s[:len(s)-1]}); err != nil {
			t.Errorf("Extend(near %q) = %v", s, err)
		}
	}
}
