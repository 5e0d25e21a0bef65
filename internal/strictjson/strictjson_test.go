package strictjson

import (
	"errors"
	"strings"
	"testing"
)

func TestFoldMatchesEqualFold(t *testing.T) {
	words := []string{"amount", "Amount", "AMOUNT", "k", "K", "\u212a", "s", "S", "\u017f", "straße", "STRASSE", "ǅ", "ǆ", "Ǆ", "µ", "Μ", "μ", "a\u0300", "", "x-y_z"}
	for _, a := range words {
		for _, b := range words {
			if got, want := Fold(a) == Fold(b), strings.EqualFold(a, b); got != want {
				t.Errorf("Fold(%q)==Fold(%q) is %v, strings.EqualFold says %v", a, b, got, want)
			}
		}
	}
}

func TestCheck(t *testing.T) {
	for _, tt := range []struct {
		name, doc string
		wantErr   bool
	}{
		{"flat", `{"a":1,"b":2}`, false},
		{"siblings", `{"a":{"k":1},"b":{"k":2}}`, false},
		{"value equal to key", `{"a":"a","b":"A"}`, false},
		{"exact duplicate", `{"a":1,"a":2}`, true},
		{"case variant", `{"a":1,"A":2}`, true},
		{"deep case variant", `[[{"x":[{"ab":1,"aB":2}]}]]`, true},
		{"too deep", strings.Repeat("[", 11) + strings.Repeat("]", 11), true},
	} {
		err := Check([]byte(tt.doc), 10)
		if (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, ErrAmbiguous)) {
			t.Errorf("%s: Check = %v, want error %v", tt.name, err, tt.wantErr)
		}
	}
}

// BenchmarkCheck scans a 3 MB document of small objects: the work an MCP
// body costs the middleware (now only after the token is verified).
func BenchmarkCheck(b *testing.B) {
	doc := []byte(`{"args":[` + strings.TrimSuffix(strings.Repeat(`{"a":1},`, 400_000), ",") + `]}`)
	b.SetBytes(int64(len(doc)))
	for range b.N {
		if err := Check(doc, 64); err != nil {
			b.Fatal(err)
		}
	}
}
