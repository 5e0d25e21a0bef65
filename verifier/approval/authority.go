package approval

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// AuthorityRedeemer redeems approvals at the mandate authority that issued
// them: POST {authority}/v1/approvals/{id}/redeem, one atomic, durable
// step there, so that every verifier of every tool server shares one count.
//
// Its credential is the call's own bearer token (Redemption.Token), not a
// secret of the tool server: the authority checks that the token verifies,
// is live and unrevoked, is of the approval's session and holds the
// approval's lineage block. Only a holder of a token that could use the
// approval can spend it, revocation reaches redemption at once (whatever
// this verifier's revocation replica says), and a tool server needs no
// credential at the authority to use approvals. The token travels only to
// the authority that minted it; use https outside a test.
type AuthorityRedeemer struct {
	endpoint string
	client   *http.Client
}

// redeemTimeout bounds one redemption when the context has no deadline.
const redeemTimeout = 10 * time.Second

// NewAuthorityRedeemer returns a Redeemer for the authority at baseURL
// (such as "https://auth.example.com"). A nil client is a client with a
// 10-second timeout.
func NewAuthorityRedeemer(baseURL string, client *http.Client) (*AuthorityRedeemer, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("approval: authority URL %q: want an http(s) base URL such as https://auth.example.com", baseURL)
	}
	if client == nil {
		client = &http.Client{Timeout: redeemTimeout}
	}
	return &AuthorityRedeemer{endpoint: strings.TrimRight(u.String(), "/") + "/v1/approvals/", client: client}, nil
}

// RedeemRequest is the body of POST /v1/approvals/{id}/redeem.
type RedeemRequest struct {
	Approval   string `json:"approval"`
	CallDigest string `json:"call_digest"`
	DecisionID string `json:"decision_id,omitempty"`
}

// RedeemResponse is its answer.
type RedeemResponse struct {
	ID       string `json:"id"`
	UsesLeft int    `json:"uses_left"`
}

// CodeUsedUp is the error code of the authority's 409 answer when every
// use of the approval was redeemed.
const CodeUsedUp = "approval_used"

// Redeem spends one use of r.Approval at the authority. It returns an error
// matching ErrUsedUp when the authority says every use is spent, and
// another error when it cannot tell or the authority refuses (the error
// carries the authority's reason).
func (a *AuthorityRedeemer) Redeem(ctx context.Context, r Redemption) error {
	if r.Approval == nil {
		return errors.New("approval: redeem: no approval")
	}
	if r.Token == "" {
		return errors.New("approval: redeem: no bearer token (the authority redeems for the holder of a token of the approval's lineage)")
	}
	if _, ok := ctx.Deadline(); !ok && a.client.Timeout == 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, redeemTimeout)
		defer cancel()
	}
	body, err := json.Marshal(RedeemRequest{Approval: r.Encoded, CallDigest: hex.EncodeToString(r.CallDigest[:]), DecisionID: r.DecisionID})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.endpoint+url.PathEscape(r.Approval.ID)+"/redeem", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("approval %s: redeem: %w", r.Approval.ID, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+r.Token)
	res, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("approval %s: redeem at the authority: %w", r.Approval.ID, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("approval %s: redeem: read the answer: %w", r.Approval.ID, err)
	}
	if res.StatusCode == http.StatusOK {
		return nil
	}
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(data, &e)
	if res.StatusCode == http.StatusConflict && e.Error == CodeUsedUp {
		return fmt.Errorf("%w: %s", ErrUsedUp, e.Description)
	}
	if e.Error == "" {
		e.Error = http.StatusText(res.StatusCode)
	}
	return fmt.Errorf("approval %s: the authority refused the redemption (%d %s): %s", r.Approval.ID, res.StatusCode, e.Error, e.Description)
}
