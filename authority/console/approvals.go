package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/approvals"
	"github.com/mandate-dev/mandate/authority/people"
	"github.com/mandate-dev/mandate/authority/web"
)

// approvalPerson is the approvals room's view of a signed-in person.
func approvalPerson(p people.Person) approvals.Person {
	return approvals.Person{Name: p.Name, MayApprove: p.MayApprove, MaySee: p.MaySee}
}

func approvalViewer(p people.Person) approvals.Viewer {
	if p.IsAdmin() {
		return approvals.Viewer{Admin: true}
	}
	ap := approvalPerson(p)
	return approvals.Viewer{Person: &ap}
}

// approvalRow is one request as the queue shows it: never the signed
// approval itself.
type approvalRow struct {
	approvals.Request
	// Args are the call's arguments, rendered "name = value".
	Args []string
	// Holder is the asking hop's delegated_to name, if it states one.
	Holder string
	// MayDecide: the person may approve for the request's org.
	MayDecide bool
}

func rowOf(q approvals.Request, p people.Person) approvalRow {
	q.Approval = "" // the signed artifact is the agent's, not the page's
	row := approvalRow{Request: q, MayDecide: q.Status == approvals.StatusPending && p.MayApprove(q.Org)}
	for k, v := range q.Call.Args {
		row.Args = append(row.Args, fmt.Sprintf("%s = %v", k, v))
	}
	if n := len(q.Chain); n > 0 && len(q.Chain[n-1].DelegatedTo) > 0 {
		row.Holder = strings.Join(q.Chain[n-1].DelegatedTo, ", ")
	}
	return row
}

// pendingApprovals lists the requests a person sees, pending first.
func (c *Console) pendingApprovals(r *web.Request, session string, status approvals.Status) ([]approvalRow, error) {
	qs, err := c.a.Approvals().List(r.Context(), approvalViewer(r.Person), approvals.Filter{Status: status, Session: session})
	if err != nil {
		return nil, approvalsErr(err)
	}
	rows := make([]approvalRow, 0, len(qs))
	for _, q := range qs {
		rows = append(rows, rowOf(q, r.Person))
	}
	return rows, nil
}

type approvalsView struct {
	Requests []approvalRow
	Status   string
}

func (c *Console) approvalsPage(w http.ResponseWriter, r *web.Request) {
	status := approvals.Status(r.URL.Query().Get("status"))
	if r.URL.Query().Get("status") == "" {
		status = approvals.StatusPending
	}
	if status == "any" {
		status = ""
	}
	// ?session= narrows the queue to one session: the page an
	// approval_required denial links to (verifier.HTTPOptions.ApprovalPageURL).
	rows, err := c.pendingApprovals(r, r.URL.Query().Get("session"), status)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.pages.RenderTitle(w, r, http.StatusOK, "approvals", "Approvals", approvalsView{Requests: rows, Status: string(status)})
}

// decide approves or denies a request. The room checks that the person
// may approve for its org and is accepted by its caveats; a viewer is
// refused here first.
func (c *Console) decide(w http.ResponseWriter, r *web.Request) {
	if r.Person.Role == people.RoleViewer {
		c.fail(w, r, fmt.Errorf("%w: a viewer decides nothing (you are %s)", authority.ErrForbidden, r.Person.Role))
		return
	}
	id := r.PostFormValue("id")
	var approve bool
	switch r.PostFormValue("decision") {
	case "approve":
		approve = true
	case "deny":
	default:
		c.fail(w, r, fmt.Errorf("%w: decision is approve or deny", authority.ErrBadRequest))
		return
	}
	if _, err := c.a.Approvals().Decide(r.Context(), approvalPerson(r.Person), id, approve, strings.TrimSpace(r.PostFormValue("comment"))); err != nil {
		c.fail(w, r, approvalsErr(err))
		return
	}
	back := web.LocalPath(r.PostFormValue("back"), c.prefix+"/approvals")
	sep := "?"
	if strings.Contains(back, "?") {
		sep = "&"
	}
	http.Redirect(w, r.Request, back+sep+url.Values{"decided": {id}}.Encode(), http.StatusSeeOther)
}

// approvalsErr maps the approvals room's errors onto the authority's.
func approvalsErr(err error) error {
	switch {
	case errors.Is(err, approvals.ErrForbidden):
		return fmt.Errorf("%w: %w", authority.ErrForbidden, err)
	case errors.Is(err, approvals.ErrNotFound):
		return fmt.Errorf("%w: %w", authority.ErrNotFound, err)
	case errors.Is(err, approvals.ErrBadRequest), errors.Is(err, approvals.ErrDecided), errors.Is(err, approvals.ErrExpired), errors.Is(err, approvals.ErrRevoked):
		return fmt.Errorf("%w: %w", authority.ErrBadRequest, err)
	}
	return fmt.Errorf("%w: %w", authority.ErrUnavailable, err)
}
