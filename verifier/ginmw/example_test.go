package ginmw_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/ginmw"
	"github.com/mandate-dev/mandate/verifier/revocation"
)

func ExampleMiddleware() {
	key, _ := token.GenerateKey()
	v, _ := verifier.New(verifier.Config{Keys: token.NewKeySet(key.Public()), Revocations: revocation.NewMemory()})
	m, _ := token.Mint(key, token.MintRequest{
		Subject: token.Subject{Agent: "support-bot"},
		Rights:  []token.Right{{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/42/"}},
		TTL:     time.Hour,
	})

	r := gin.New()
	toCall := func(r *http.Request) (verifier.Request, error) {
		return verifier.Request{Service: "crm", Tool: "get_account", Operation: "read",
			Resource: "account:acme/" + r.PathValue("id") + "/profile"}, nil
	}
	r.GET("/accounts/:id", ginmw.Middleware(v, toCall, verifier.HTTPOptions{}), func(c *gin.Context) {
		d, _ := ginmw.Decision(c)
		c.String(http.StatusOK, "account %s for %s", c.Param("id"), d.Agent)
	})
	srv := httptest.NewServer(r)
	defer srv.Close()

	for _, id := range []string{"42", "7"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/accounts/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+m.Token)
		resp, err := srv.Client().Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Println(id, resp.StatusCode, resp.Header.Get("WWW-Authenticate") != "")
	}
	// Output:
	// 42 200 false
	// 7 403 true
}
