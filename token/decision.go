package token

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// DecisionRecord is one verifier decision as verifiers ship it to the
// authority's decision log (POST /v1/decisions, package
// verifier/decisionlog) and as the log stores and serves it. Both sides
// read and write it, so it lives here, in the vocabulary they share, with
// its limits and its validation.
//
// It never holds a token, a secret or a key: the token is described by its
// subject (session, agent, user, org), its blocks' revocation IDs and the
// delegated_to chain its attenuation blocks state. Argument values are
// present only when the tool server opted in.
type DecisionRecord struct {
	// ID is the verifier's decision ID (Decision.DecisionID).
	ID string `json:"id"`
	// Time is when the verifier decided, by its own clock.
	Time    time.Time `json:"time"`
	Allowed bool      `json:"allowed"`
	// Kind is the denial's reason code (verifier.Kind: "caveat_denied",
	// "invalid_token", ...), "" when allowed.
	Kind string `json:"kind,omitempty"`
	// Reason is the decision's sentence ("allowed", or why not).
	Reason string `json:"reason"`
	// FailedBlock and FailedCheck locate the check that denied (block 0
	// is the authority block); nil when no check did.
	FailedBlock *int   `json:"failed_block,omitempty"`
	FailedCheck *int   `json:"failed_check,omitempty"`
	CheckText   string `json:"check_text,omitempty"`
	Service     string `json:"service,omitempty"`
	Tool        string `json:"tool,omitempty"`
	Operation   string `json:"operation,omitempty"`
	Resource    string `json:"resource,omitempty"`
	// ArgNames are the call's argument names, sorted.
	ArgNames []string `json:"arg_names,omitempty"`
	// Args are the argument values, only when the tool server opted in
	// (decisionlog.Config.ArgValues): one JSON object.
	Args    json.RawMessage `json:"args,omitempty"`
	Session string          `json:"session,omitempty"`
	Agent   string          `json:"agent,omitempty"`
	User    string          `json:"user,omitempty"`
	Org     string          `json:"org,omitempty"`
	// DelegatedTo is the delegated_to chain: the names the token's
	// attenuation blocks state, in block order. They are informational
	// facts of attacker-controlled blocks: a record of what each hop
	// claims, never an identity.
	DelegatedTo []string `json:"delegated_to,omitempty"`
	// RevocationIDs are every block's revocation ID, hex, in block order.
	RevocationIDs []string `json:"revocation_ids,omitempty"`
	// DurationNS is how long the decision took, in nanoseconds.
	DurationNS int64 `json:"duration_ns"`
	// ApprovalID is the approval the call carried, once it verified;
	// CallDigest the call digest an approval caveat asked about.
	ApprovalID string `json:"approval_id,omitempty"`
	CallDigest string `json:"call_digest,omitempty"`
}

// Limits of one DecisionRecord. A verifier's shipper trims a record to fit
// (TrimDecision) before it ships it; the authority refuses a record over
// them (ValidateDecision).
const (
	// MaxDecisionID bounds the decision ID (the verifier's are ~20
	// characters).
	MaxDecisionID = 128
	// MaxDecisionText bounds Reason and CheckText: a check's text is at
	// most a few hundred bytes under the token limits; reasons add a
	// sentence.
	MaxDecisionText = 4096
	// MaxDecisionName bounds service, tool, operation, session, agent,
	// user, org, each delegated_to name and argument name.
	MaxDecisionName = 512
	// MaxDecisionResource bounds the resource.
	MaxDecisionResource = 2048
	// MaxDecisionArgs bounds the argument names (the verifier's own
	// limit, verifier.MaxArgs, is 64).
	MaxDecisionArgs = 64
	// MaxDecisionArgsJSON bounds the argument values' JSON: values are a
	// convenience for people reading the log, not a copy of the call.
	MaxDecisionArgsJSON = 8 << 10
	// MaxDecisionBlocks bounds the revocation IDs and the delegated_to
	// chain (the token limit on blocks is lower).
	MaxDecisionBlocks = 64
	// maxRevocationIDHex is a revocation ID in hex (an Ed25519 signature).
	maxRevocationIDHex = 128
)

// ErrDecisionRecord is wrapped by the errors of ValidateDecision.
var ErrDecisionRecord = errors.New("invalid decision record")

// ValidateDecision checks a record against the limits and the vocabulary:
// every text valid UTF-8 within its bound, an ID and a time, a kind only on
// a denial, revocation IDs in hex, args one JSON object. The error names
// the field.
func ValidateDecision(r *DecisionRecord) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrDecisionRecord, fmt.Sprintf(format, a...))
	}
	if r.ID == "" {
		return bad("id is required")
	}
	if r.Time.IsZero() {
		return bad("time is required")
	}
	if r.Allowed && r.Kind != "" {
		return bad("an allowed decision has no kind")
	}
	if !r.Allowed && r.Kind == "" {
		return bad("a denied decision needs its kind (reason code)")
	}
	if (r.FailedBlock == nil) != (r.FailedCheck == nil) {
		return bad("failed_block and failed_check go together")
	}
	if r.FailedBlock != nil && (*r.FailedBlock < 0 || *r.FailedBlock >= MaxDecisionBlocks || *r.FailedCheck < 0) {
		return bad("failed_block %d / failed_check %d out of range", *r.FailedBlock, *r.FailedCheck)
	}
	if r.DurationNS < 0 {
		return bad("duration_ns is negative")
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"id", r.ID, MaxDecisionID}, {"kind", r.Kind, MaxDecisionName},
		{"reason", r.Reason, MaxDecisionText}, {"check_text", r.CheckText, MaxDecisionText},
		{"service", r.Service, MaxDecisionName}, {"tool", r.Tool, MaxDecisionName},
		{"operation", r.Operation, MaxDecisionName}, {"resource", r.Resource, MaxDecisionResource},
		{"session", r.Session, MaxDecisionName}, {"agent", r.Agent, MaxDecisionName},
		{"user", r.User, MaxDecisionName}, {"org", r.Org, MaxDecisionName},
		{"approval_id", r.ApprovalID, MaxDecisionName}, {"call_digest", r.CallDigest, MaxDecisionName},
	} {
		if err := checkDecisionText(f.name, f.v, f.max); err != nil {
			return err
		}
	}
	if len(r.ArgNames) > MaxDecisionArgs {
		return bad("%d arg_names (at most %d)", len(r.ArgNames), MaxDecisionArgs)
	}
	for _, n := range r.ArgNames {
		if err := checkDecisionText("arg_names", n, MaxDecisionName); err != nil {
			return err
		}
	}
	if len(r.DelegatedTo) > MaxDecisionBlocks || len(r.RevocationIDs) > MaxDecisionBlocks {
		return bad("more than %d blocks", MaxDecisionBlocks)
	}
	for _, n := range r.DelegatedTo {
		if err := checkDecisionText("delegated_to", n, MaxDecisionName); err != nil {
			return err
		}
	}
	for _, id := range r.RevocationIDs {
		if id == "" || len(id) > maxRevocationIDHex || len(id)%2 != 0 || !isLowerHex(id) {
			return bad("revocation_ids: %.20q is not a revocation ID in lowercase hex", id)
		}
	}
	if len(r.Args) > 0 {
		if len(r.Args) > MaxDecisionArgsJSON {
			return bad("args: %d bytes of JSON (at most %d)", len(r.Args), MaxDecisionArgsJSON)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(r.Args, &m); err != nil || m == nil {
			return bad("args must be one JSON object")
		}
	}
	return nil
}

func checkDecisionText(name, v string, max int) error {
	switch {
	case len(v) > max:
		return fmt.Errorf("%w: %s is %d bytes (at most %d)", ErrDecisionRecord, name, len(v), max)
	case !utf8.ValidString(v):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrDecisionRecord, name)
	}
	return nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// TrimDecision shortens the texts of r that are over their limits (at a
// UTF-8 boundary, marked with "…"), drops argument values whose JSON is too
// large and names beyond the limits, so that a verifier never ships a
// record the authority refuses for its size.
func TrimDecision(r *DecisionRecord) {
	for _, f := range []struct {
		p   *string
		max int
	}{
		{&r.ID, MaxDecisionID}, {&r.Kind, MaxDecisionName},
		{&r.Reason, MaxDecisionText}, {&r.CheckText, MaxDecisionText},
		{&r.Service, MaxDecisionName}, {&r.Tool, MaxDecisionName},
		{&r.Operation, MaxDecisionName}, {&r.Resource, MaxDecisionResource},
		{&r.Session, MaxDecisionName}, {&r.Agent, MaxDecisionName},
		{&r.User, MaxDecisionName}, {&r.Org, MaxDecisionName},
		{&r.ApprovalID, MaxDecisionName}, {&r.CallDigest, MaxDecisionName},
	} {
		*f.p = trimText(*f.p, f.max)
	}
	if len(r.ArgNames) > MaxDecisionArgs {
		r.ArgNames = r.ArgNames[:MaxDecisionArgs]
	}
	for i := range r.ArgNames {
		r.ArgNames[i] = trimText(r.ArgNames[i], MaxDecisionName)
	}
	if len(r.DelegatedTo) > MaxDecisionBlocks {
		r.DelegatedTo = r.DelegatedTo[:MaxDecisionBlocks]
	}
	for i := range r.DelegatedTo {
		r.DelegatedTo[i] = trimText(r.DelegatedTo[i], MaxDecisionName)
	}
	if len(r.RevocationIDs) > MaxDecisionBlocks {
		r.RevocationIDs = r.RevocationIDs[:MaxDecisionBlocks]
	}
	if len(r.Args) > MaxDecisionArgsJSON {
		r.Args = nil
	}
}

func trimText(s string, max int) string {
	if len(s) <= max && utf8.ValidString(s) {
		return s
	}
	s = string([]rune(s[:min(len(s), max-len("…"))])) // replaces invalid bytes
	for len(s) > max-len("…") {
		_, n := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-n]
	}
	return s + "…"
}
