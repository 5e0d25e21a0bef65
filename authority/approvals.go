package authority

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/mandate-dev/mandate/authority/approvals"
	"github.com/mandate-dev/mandate/token"
)

// Approvals returns the approvals room: requests for a person's approval
// of one call, decisions, and single-use redemption (package
// authority/approvals). The HTTP API serves it under /v1/approvals.
func (a *Authority) Approvals() *approvals.Room { return a.approvals }

func (a *Authority) openApprovals() error {
	cfg := a.cfg.Approvals
	cfg.KV = a.store.Namespace("approvals")
	cfg.Keys = a.KeySet
	cfg.Revocations = a
	cfg.Sign = a.signApproval
	cfg.Audit = a.audit
	cfg.Now = a.now
	if a.replicated && cfg.PollInterval == 0 {
		cfg.PollInterval = 250 * time.Millisecond
	}
	room, err := approvals.New(cfg)
	if err != nil {
		return err
	}
	a.approvals = room
	return nil
}

// signApproval signs an approval with the active root key.
func (a *Authority) signApproval(ap token.Approval) (string, error) {
	if a.closing.Load() {
		return "", ErrClosed
	}
	return token.SignApproval(a.keys.current().active, ap)
}

// revokeApprovals revokes the pending requests and unused approvals asked
// with a token holding any of the revoked blocks, or of a revoked session.
// The revocation itself is already durable: a failure here is logged, and
// redemption refuses them anyway (the room checks the revocation log).
func (a *Authority) revokeApprovals(ctx context.Context, by, session string, revs []RevokeOp) {
	if a.approvals == nil {
		return
	}
	ids := make([][]byte, 0, len(revs))
	for _, r := range revs {
		ids = append(ids, r.ID)
	}
	var errs []error
	if len(ids) > 0 {
		if _, err := a.approvals.RevokeBlocks(ctx, ids, by); err != nil {
			errs = append(errs, err)
		}
	}
	if session != "" {
		if _, err := a.approvals.RevokeSession(ctx, session, by); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		zerolog.Ctx(ctx).Error().Err(err).Msg("revoking approval requests failed; redemption still refuses them")
	}
}

// approvalsErr maps the room's errors onto the authority's, for the
// errors the authority's writeError knows; the approval-specific ones
// keep their own codes (see handler.writeApprovalError).
func approvalsErr(err error) error {
	switch {
	case errors.Is(err, approvals.ErrBadRequest), errors.Is(err, approvals.ErrInvalidApproval):
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	case errors.Is(err, approvals.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.Is(err, approvals.ErrUnavailable):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}
