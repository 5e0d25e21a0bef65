// Package ginmw plugs the mandate verifier into a gin router.
//
// It lives outside package verifier so that tool servers that do not use gin
// never import it. The adapter is thin: every decision is made by
// [verifier.Verifier.AuthorizeHTTP] and every denial is written by
// [verifier.WriteChallenge], so a gin tool server answers exactly like a
// net/http one.
//
// Using it takes three steps:
//
//  1. Build a [verifier.Verifier] for the authority's public keys and a
//     revocation store.
//  2. Write a [verifier.RequestFunc] that says which tool call a request
//     performs: service, tool, operation, resource and arguments. gin's path
//     parameters are copied into the request before it runs, so it reads
//     them with r.PathValue("name"), as it would behind a net/http ServeMux.
//  3. Install [Middleware] on the routes it covers, and read the decision
//     in handlers with [Decision] (or [verifier.DecisionFrom] on the
//     request context).
//
// For example:
//
//	r := gin.New()
//	repos := r.Group("/repos/:owner/:repo")
//	repos.Use(ginmw.Middleware(v, func(r *http.Request) (verifier.Request, error) {
//		return verifier.Request{
//			Service:   "github",
//			Tool:      "get_file",
//			Operation: "read",
//			Resource:  "repo:" + r.PathValue("owner") + "/" + r.PathValue("repo"),
//		}, nil
//	}, verifier.HTTPOptions{}))
//	repos.GET("/file", func(c *gin.Context) {
//		d, _ := ginmw.Decision(c)
//		c.JSON(http.StatusOK, gin.H{"agent": d.Agent})
//	})
//
// A denied request is aborted: handlers after the middleware do not run, and
// the client gets what [verifier.WriteChallenge] writes for the denial's
// [verifier.Kind]: 401 (no token: a bare Bearer challenge; an invalid,
// expired or revoked token: error="invalid_token"), 403
// error="insufficient_scope" with the scope that would cover the call when
// a broader grant could allow it, 403 "caveat_denied" without a challenge
// when an attenuation caveat denies it (no grant can), 400 when the request
// cannot be mapped, 503 when the verifier's revocation state is stale. The
// JSON body carries the code, the reason and the decision ID, never the
// token. The README's table lists every code.
package ginmw
