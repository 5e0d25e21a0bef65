package usage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mandate-dev/mandate/token"
)

// The authority's lease endpoints (package authority documents them).
const (
	LeasePath  = "/v1/leases"
	ReturnPath = "/v1/leases/return"
)

// LeaseJSONIn is the body of POST /v1/leases. The token is the credential:
// the authority verifies it, refuses it if any of its blocks is revoked,
// and reads the limit from the block that LimitID names.
type LeaseJSONIn struct {
	Token       string `json:"token"`
	LimitID     string `json:"limit_id"`
	Need        int64  `json:"need"`
	Want        int64  `json:"want"`
	Renew       string `json:"renew,omitempty"`
	RenewUnused int64  `json:"renew_unused,omitempty"`
}

// LeaseJSONOut is its answer (200). LeaseID is empty and Amount 0 when
// less than Need remains.
type LeaseJSONOut struct {
	LeaseID    string `json:"lease_id,omitempty"`
	Amount     int64  `json:"amount"`
	Window     int64  `json:"window"`
	ResetsInMS int64  `json:"resets_in_ms,omitempty"`
	ResetsAt   string `json:"resets_at,omitempty"`
	Used       int64  `json:"used"`
	Held       int64  `json:"held"`
}

// ReturnJSONIn is the body of POST /v1/leases/return (204): the lease ID is
// the credential.
type ReturnJSONIn struct {
	LeaseID string `json:"lease_id"`
	Unused  int64  `json:"unused"`
}

// Remote is the authority's ledger over HTTP.
type Remote struct {
	base   string
	client *http.Client
}

var _ Leaser = (*Remote)(nil)

// NewRemote returns a Leaser for the authority at base (such as
// "https://auth.example.com"). A nil client is http.DefaultClient.
func NewRemote(base string, client *http.Client) (*Remote, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("usage: authority URL %q: want http(s)://HOST[:PORT]", base)
	}
	if client == nil {
		client = http.DefaultClient
	}
	return &Remote{base: strings.TrimRight(base, "/"), client: client}, nil
}

// Lease implements Leaser.
func (r *Remote) Lease(ctx context.Context, q LeaseRequest) (Lease, error) {
	in := LeaseJSONIn{Token: token.Encode(q.Token.Bytes()), LimitID: q.Limit.ID, Need: q.Need, Want: q.Want, Renew: q.Renew, RenewUnused: q.RenewUnused}
	var out LeaseJSONOut
	if err := r.post(ctx, LeasePath, in, &out); err != nil {
		return Lease{}, err
	}
	l := Lease{ID: out.LeaseID, Amount: out.Amount, ResetsIn: time.Duration(out.ResetsInMS) * time.Millisecond, Used: out.Used, Held: out.Held}
	if out.ResetsAt != "" {
		l.ResetsAt, _ = time.Parse(time.RFC3339, out.ResetsAt)
	}
	if l.Amount < 0 || (l.Amount > 0 && l.ID == "") {
		return Lease{}, errors.New("usage: the authority answered a malformed lease")
	}
	return l, nil
}

// Return implements Leaser.
func (r *Remote) Return(ctx context.Context, id string, unused int64) error {
	return r.post(ctx, ReturnPath, ReturnJSONIn{LeaseID: id, Unused: unused}, nil)
}

func (r *Remote) post(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("usage: the authority's ledger is unreachable: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("usage: reading the authority's answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(data, &e)
		return fmt.Errorf("usage: the authority refused %s (%d %s): %s", path, resp.StatusCode, e.Error, e.Description)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("usage: the authority's answer is not JSON: %w", err)
	}
	return nil
}
