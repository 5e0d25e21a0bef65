package authority_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestCredentialNotEchoed: a credential sent without "Bearer " sits where
// the scheme should be; the 401 must not repeat it, in the challenge or in
// the body, for the admin token or a client secret.
func TestCredentialNotEchoed(t *testing.T) {
	e := newEnv(t)
	secret := e.register("platform", crmCeiling)
	for _, cred := range []string{adminToken, secret} {
		for _, auth := range []string{cred, cred + " x", "Bearer" + cred, "Token " + cred} {
			req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/v1/tokens", strings.NewReader(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", auth)
			r := e.send(req)
			r.wantError(t, http.StatusUnauthorized, "invalid_token")
			all := r.header.Get("WWW-Authenticate") + string(r.body)
			if strings.Contains(all, cred[:12]) || strings.Contains(all, cred[len(cred)-12:]) {
				t.Errorf("the response repeats the credential: %s", all)
			}
			if !strings.Contains(string(r.body), "Authorization: Bearer") {
				t.Errorf("body %s does not say what to send", r.body)
			}
		}
	}
}
