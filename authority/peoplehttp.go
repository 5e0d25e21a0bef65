package authority

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/mandate-dev/mandate/authority/people"
)

type personJSONIn struct {
	Name string   `json:"name"`
	Role string   `json:"role"`
	Orgs []string `json:"orgs"`
}

type personJSONOut struct {
	Name       string   `json:"name"`
	Role       string   `json:"role"`
	Orgs       []string `json:"orgs,omitempty"`
	CreatedAt  string   `json:"created_at"`
	Credential string   `json:"credential,omitempty"`
}

func personOut(p people.Person) personJSONOut {
	return personJSONOut{Name: p.Name, Role: string(p.Role), Orgs: p.Orgs, CreatedAt: p.CreatedAt.UTC().Format(time.RFC3339)}
}

// POST /v1/people (admin): {"name","role","orgs"} → the person and its
// credential, once.
func (h *handler) addPerson(c *gin.Context) {
	p, ok := h.principal(c, false)
	if !ok {
		return
	}
	var req personJSONIn
	if !h.decodeJSON(c, &req) {
		return
	}
	person, cred, err := h.a.AddPerson(c.Request.Context(), p, people.Person{Name: req.Name, Role: people.Role(req.Role), Orgs: req.Orgs})
	if err != nil {
		h.writeError(c, err)
		return
	}
	out := personOut(person)
	out.Credential = cred
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, out)
}

// GET /v1/people (admin).
func (h *handler) listPeople(c *gin.Context) {
	p, ok := h.principal(c, false)
	if !ok {
		return
	}
	ps, err := h.a.ListPeople(c.Request.Context(), p)
	if err != nil {
		h.writeError(c, err)
		return
	}
	out := make([]personJSONOut, len(ps))
	for i, person := range ps {
		out[i] = personOut(person)
	}
	c.JSON(http.StatusOK, gin.H{"people": out})
}

// GET /v1/people/:name (admin, or the person itself).
func (h *handler) getPerson(c *gin.Context) {
	p, ok := h.principal(c, false)
	if !ok {
		return
	}
	person, err := h.a.Person(c.Request.Context(), p, c.Param("name"))
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, personOut(person))
}

// DELETE /v1/people/:name (admin).
func (h *handler) deletePerson(c *gin.Context) {
	p, ok := h.principal(c, false)
	if !ok {
		return
	}
	if err := h.a.RemovePerson(c.Request.Context(), p, c.Param("name")); err != nil {
		h.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// POST /v1/people/:name/reset (admin) → a new credential, once.
func (h *handler) resetPerson(c *gin.Context) {
	p, ok := h.principal(c, false)
	if !ok {
		return
	}
	name := c.Param("name")
	cred, err := h.a.ResetPerson(c.Request.Context(), p, name)
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"name": name, "credential": cred})
}
