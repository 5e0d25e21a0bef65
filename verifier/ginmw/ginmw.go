package ginmw

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/mandate-dev/mandate/verifier"
)

// decisionKey is the gin context key of the decision.
const decisionKey = "github.com/mandate-dev/mandate/verifier/ginmw.decision"

// Middleware returns gin middleware that authorizes every request with v
// before the next handlers run. fn maps the request to the tool call it
// performs; gin path parameters are available to it through
// r.PathValue. A denied request is answered with [verifier.WriteChallenge]
// and aborted. An allowed request carries its decision in the gin context
// ([Decision]) and in the request context ([verifier.DecisionFrom]).
func Middleware(v *verifier.Verifier, fn verifier.RequestFunc, opts verifier.HTTPOptions) gin.HandlerFunc {
	return func(c *gin.Context) {
		for _, p := range c.Params {
			c.Request.SetPathValue(p.Key, p.Value)
		}
		d, status := v.AuthorizeHTTP(c.Request, fn)
		if status != http.StatusOK {
			verifier.WriteChallenge(c.Writer, status, d, opts)
			c.Abort()
			return
		}
		c.Set(decisionKey, d)
		c.Request = c.Request.WithContext(verifier.WithDecision(c.Request.Context(), d))
		c.Next()
	}
}

// Decision returns the decision [Middleware] stored in c. ok is false when
// the middleware did not run for this request.
func Decision(c *gin.Context) (d *verifier.Decision, ok bool) {
	x, ok := c.Get(decisionKey)
	if !ok {
		return nil, false
	}
	d, ok = x.(*verifier.Decision)
	return d, ok && d != nil
}
