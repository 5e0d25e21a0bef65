package verifier

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestCredentialNotEchoed: a token sent without "Bearer " sits where the
// scheme should be; the denial must not repeat it, in the challenge or in
// the body.
func TestCredentialNotEchoed(t *testing.T) {
	a := newTestAuthority(t)
	srv := toolServer(t, newVerifier(t, a), HTTPOptions{})
	tok := a.mint(t, time.Hour)
	for _, auth := range []string{tok, tok + " trailing", "Token" + tok, "Bearer" + tok, "x-" + tok + " " + tok} {
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/account?account=42", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", auth)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status %d, want 400", resp.StatusCode)
		}
		all := resp.Header.Get("WWW-Authenticate") + string(body)
		if strings.Contains(all, tok[:16]) {
			t.Errorf("the response repeats the credential: %s", all)
		}
		if !strings.Contains(string(body), "Authorization: Bearer") {
			t.Errorf("body %s does not say what to send", body)
		}
	}
}
