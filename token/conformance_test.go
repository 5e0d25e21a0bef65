package token_test

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/biscuit-auth/biscuit-go/v2"
	"github.com/biscuit-auth/biscuit-go/v2/parser"

	"github.com/mandate-dev/mandate/internal/datalog"
	"github.com/mandate-dev/mandate/token"
)

// The official Biscuit samples (testdata/biscuit-samples, see its NOTICE):
// the specification's samples/current and biscuit-rust's
// biscuit-auth/samples, each with its samples.json. Every sample that fits
// Biscuit v3 (Datalog 3.0) must decide as samples.json says, through
// mandate's decoder and evaluator, and give the expected revocation IDs;
// every newer sample must be refused with a reason that names its feature.

type samplesFile struct {
	RootPublicKey string       `json:"root_public_key"`
	Testcases     []sampleCase `json:"testcases"`
}

type sampleCase struct {
	Title       string                      `json:"title"`
	Filename    string                      `json:"filename"`
	Validations map[string]sampleValidation `json:"validations"`
}

type sampleValidation struct {
	Result         json.RawMessage `json:"result"`
	AuthorizerCode string          `json:"authorizer_code"`
	RevocationIDs  []string        `json:"revocation_ids"`
}

// newerSamples are the samples that use a format newer than Biscuit v3,
// with what mandate's refusal must name.
var newerSamples = map[string]string{
	"test024_third_party.bc":           "third-party",
	"test025_check_all.bc":             `"check all"`,
	"test026_public_keys_interning.bc": "third-party",
	"test027_integer_wraparound.bc":    "!==",
	"test028_expressions_v4.bc":        "!==",
	"test029_reject_if.bc":             `"reject if"`,
	"test030_null.bc":                  "null",
	"test031_heterogeneous_equal.bc":   "heterogeneous",
	"test032_laziness_closures.bc":     "closures",
	"test033_typeof.bc":                ".type()",
	"test034_array_map.bc":             "arrays",
	"test035_ffi.bc":                   "extern:: foreign functions",
	"test036_secp256r1.bc":             "P-256 (secp256r1)",
	"test037_secp256r1_third_party.bc": "P-256 (secp256r1)",
}

// sampleOutcome is what a sample's validation expects, or what mandate
// decided.
type sampleOutcome struct {
	allowed bool
	// failed are the failed checks as "block/check", block -1 for the
	// authorizer's own checks.
	failed []string
	// kind classifies a refusal without a failed check: "token" (its
	// format or signature), "invalid rule", "execution", "policy".
	kind string
}

func (o sampleOutcome) String() string {
	if o.allowed {
		return "allowed"
	}
	if len(o.failed) > 0 {
		return "failed checks " + strings.Join(o.failed, ", ")
	}
	return "refused (" + o.kind + ")"
}

// expected reads a validation's result: {"Ok": n} or {"Err": ...}.
func expected(t *testing.T, raw json.RawMessage) sampleOutcome {
	t.Helper()
	var r struct {
		Ok  *int
		Err map[string]json.RawMessage
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("result %s: %v", raw, err)
	}
	if r.Ok != nil {
		return sampleOutcome{allowed: true}
	}
	if _, ok := r.Err["Format"]; ok {
		return sampleOutcome{kind: "token"}
	}
	if _, ok := r.Err["Execution"]; ok {
		return sampleOutcome{kind: "execution"}
	}
	var logic map[string]json.RawMessage
	if err := json.Unmarshal(r.Err["FailedLogic"], &logic); err != nil {
		t.Fatalf("result %s: %v", raw, err)
	}
	if _, ok := logic["InvalidBlockRule"]; ok {
		return sampleOutcome{kind: "invalid rule"}
	}
	var body struct {
		Checks []struct {
			Block *struct {
				BlockID int `json:"block_id"`
				CheckID int `json:"check_id"`
			}
			Authorizer *struct {
				CheckID int `json:"check_id"`
			}
		}
	}
	for _, k := range []string{"Unauthorized", "NoMatchingPolicy"} {
		if logic[k] != nil {
			if err := json.Unmarshal(logic[k], &body); err != nil {
				t.Fatalf("result %s: %v", raw, err)
			}
		}
	}
	out := sampleOutcome{kind: "policy"}
	for _, c := range body.Checks {
		switch {
		case c.Block != nil:
			out.failed = append(out.failed, fmt.Sprintf("%d/%d", c.Block.BlockID, c.Block.CheckID))
		case c.Authorizer != nil:
			out.failed = append(out.failed, fmt.Sprintf("-1/%d", c.Authorizer.CheckID))
		}
	}
	return out
}

func TestBiscuitSamples(t *testing.T) {
	// How many samples of each set are newer than Biscuit v3.
	wantNewer := map[string]int{"spec": 5, "rust": len(newerSamples)}
	for _, dir := range []string{"spec", "rust"} {
		t.Run(dir, func(t *testing.T) {
			base := filepath.Join("testdata", "biscuit-samples", dir)
			data, err := os.ReadFile(filepath.Join(base, "samples.json"))
			if err != nil {
				t.Fatal(err)
			}
			var sf samplesFile
			if err := json.Unmarshal(data, &sf); err != nil {
				t.Fatal(err)
			}
			root, err := token.ParsePublicKey(sf.RootPublicKey)
			if err != nil {
				t.Fatal(err)
			}
			keys := token.NewKeySet(token.PublicKey{ID: token.KeyID(root), Key: root})
			if len(sf.Testcases) < 28 {
				t.Fatalf("only %d samples", len(sf.Testcases))
			}
			newer := 0
			for _, tc := range sf.Testcases {
				if _, ok := newerSamples[tc.Filename]; ok {
					newer++
				}
			}
			if newer != wantNewer[dir] {
				t.Errorf("%d samples are listed as newer than Biscuit v3, want %d: is newerSamples up to date?", newer, wantNewer[dir])
			}
			for _, tc := range sf.Testcases {
				t.Run(strings.TrimSuffix(tc.Filename, ".bc"), func(t *testing.T) {
					raw, err := os.ReadFile(filepath.Join(base, tc.Filename))
					if err != nil {
						t.Fatal(err)
					}
					runSample(t, tc, raw, keys)
				})
			}
		})
	}
}

func runSample(t *testing.T, tc sampleCase, raw []byte, keys *token.KeySet) {
	u, perr := token.Parse(raw)
	if feature, newer := newerSamples[tc.Filename]; newer {
		if !errors.Is(perr, token.ErrUnsupported) {
			t.Fatalf("%s uses a format newer than Biscuit v3; Parse = %v, want token.ErrUnsupported", tc.Title, perr)
		}
		if !strings.Contains(perr.Error(), feature) {
			t.Fatalf("refusal %q does not name the feature %q", perr, feature)
		}
		return
	}
	for name, v := range tc.Validations {
		t.Run(name, func(t *testing.T) {
			want := expected(t, v.Result)
			got := decideSample(t, u, perr, v, keys)
			switch {
			case want.allowed || got.allowed:
				if want.allowed != got.allowed {
					t.Fatalf("mandate: %s; samples.json: %s", got, want)
				}
			case len(got.failed) > 0:
				// mandate stops at the first failed check; Rust lists
				// them all.
				if !slices.Contains(want.failed, got.failed[0]) {
					t.Fatalf("mandate: %s; samples.json: %s", got, want)
				}
			case got.kind != want.kind:
				t.Fatalf("mandate: %s; samples.json: %s", got, want)
			}
			if u != nil && len(v.RevocationIDs) > 0 {
				var ids []string
				for _, id := range u.RevocationIDs() {
					ids = append(ids, hex.EncodeToString(id))
				}
				if !slices.Equal(ids, v.RevocationIDs) {
					t.Errorf("revocation IDs\n got %q\nwant %q", ids, v.RevocationIDs)
				}
			}
		})
	}
}

// decideSample runs one validation through mandate: parse (already done),
// verify against the samples' root key, then evaluate with the
// authorizer's facts, rules, checks and policies from samples.json.
func decideSample(t *testing.T, u *token.Unverified, perr error, v sampleValidation, keys *token.KeySet) sampleOutcome {
	t.Helper()
	switch {
	case perr != nil && strings.Contains(perr.Error(), "not bound"):
		return sampleOutcome{kind: "invalid rule"}
	case errors.Is(perr, token.ErrMalformed):
		return sampleOutcome{kind: "token"}
	case perr != nil:
		t.Fatalf("Parse: %v", perr)
	}
	vt, err := u.Verify(keys, time.Now())
	switch {
	case errors.Is(err, token.ErrSignature) || errors.Is(err, token.ErrUnknownKey):
		return sampleOutcome{kind: "token"}
	case err != nil:
		t.Fatalf("Verify: %v", err)
	}
	az := parseAuthorizer(t, v.AuthorizerCode)
	blocks := slices.Clone(vt.Datalog())
	// The authorizer's rules, like the authority block's, derive trusted
	// facts from the authority block and the authorizer's facts (the
	// default scope of Datalog 3.0).
	authority := *blocks[0]
	authority.Rules = append(slices.Clone(authority.Rules), az.rules...)
	blocks[0] = &authority

	ev := datalog.NewEvaluator(token.EvalLimits)
	failed := ""
	var policyErr error
	out, err := ev.Run(blocks, az.facts, func(w *datalog.World) bool {
		for i := range az.checks {
			ok := false
			for qi := range az.checks[i].Queries {
				m, err := ev.Query(w, &az.checks[i].Queries[qi])
				if err != nil {
					policyErr = err
					return false
				}
				if m {
					ok = true
					break
				}
			}
			if !ok {
				failed = fmt.Sprintf("-1/%d", i)
				return false
			}
		}
		for _, p := range az.policies {
			for qi := range p.queries {
				m, err := ev.Query(w, &p.queries[qi])
				if err != nil {
					policyErr = err
					return false
				}
				if m {
					return p.allow
				}
			}
		}
		return false
	})
	switch {
	case err != nil || policyErr != nil:
		return sampleOutcome{kind: "execution"}
	case out.Allowed:
		return sampleOutcome{allowed: true}
	case out.Check >= 0:
		return sampleOutcome{failed: []string{fmt.Sprintf("%d/%d", out.Block, out.Check)}}
	case failed != "":
		return sampleOutcome{failed: []string{failed}}
	}
	return sampleOutcome{kind: "policy"}
}

type samplePolicy struct {
	allow   bool
	queries []datalog.Rule
}

type sampleAuthorizer struct {
	facts    []datalog.Predicate
	rules    []datalog.Rule
	checks   []datalog.Check
	policies []samplePolicy
}

// parseAuthorizer builds the authorizer's world from its Datalog source
// with biscuit-go's parser (building, not deciding), converted to mandate's
// types.
func parseAuthorizer(t *testing.T, code string) sampleAuthorizer {
	t.Helper()
	var az sampleAuthorizer
	if strings.TrimSpace(code) == "" {
		return az
	}
	p, err := parser.FromStringAuthorizer(code)
	if err != nil {
		t.Fatalf("biscuit-go cannot parse the authorizer %q: %v", code, err)
	}
	for _, f := range p.Block.Facts {
		x, err := datalog.FromBiscuitFact(f)
		if err != nil {
			t.Fatal(err)
		}
		az.facts = append(az.facts, x)
	}
	for _, r := range p.Block.Rules {
		x, err := datalog.FromBiscuitRule(r)
		if err != nil {
			t.Fatal(err)
		}
		az.rules = append(az.rules, x)
	}
	for _, c := range p.Block.Checks {
		x, err := datalog.FromBiscuitCheck(c)
		if err != nil {
			t.Fatal(err)
		}
		az.checks = append(az.checks, x)
	}
	for _, pol := range p.Policies {
		x, err := datalog.FromBiscuitCheck(biscuit.Check{Queries: pol.Queries})
		if err != nil {
			t.Fatal(err)
		}
		az.policies = append(az.policies, samplePolicy{allow: pol.Kind == biscuit.PolicyKindAllow, queries: x.Queries})
	}
	return az
}
