package main

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

	"github.com/spf13/cobra"
)

// envToken is the environment variable that holds the bearer credential for
// the authority when --auth-token is not given.
const envToken = "MANDATE_TOKEN"

// maxResponseBytes bounds what the CLI reads from the authority.
const maxResponseBytes = 1 << 20

// authClient calls the authority's JSON API.
type authClient struct {
	base   string // without trailing slash
	bearer string // may be empty
	http   *http.Client
}

// authorityURL checks an --authority value and returns it without a
// trailing slash.
func authorityURL(cmd *cobra.Command, raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", usagef(cmd, "--authority: %q is not an http(s) URL; use e.g. --authority http://127.0.0.1:8421", clip(raw))
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", usagef(cmd, "--authority: give the base URL without a query or fragment, e.g. http://127.0.0.1:8421")
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// newAuthClient builds a client for --authority, with the bearer from
// --auth-token or $MANDATE_TOKEN.
func (a *app) newAuthClient(cmd *cobra.Command, rawURL, authToken string) (*authClient, error) {
	base, err := authorityURL(cmd, rawURL)
	if err != nil {
		return nil, err
	}
	if authToken == "" {
		authToken = a.getenv(envToken)
	}
	// A pasted "Bearer <credential>" is understood, as for tokens.
	return &authClient{base: base, bearer: cleanToken(authToken), http: a.client}, nil
}

// apiError is an error answer of the authority.
type apiError struct {
	Method, Path string
	Status       int
	Code         string `json:"error"`
	Description  string `json:"error_description"`
}

func (e *apiError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "authority answered %d", e.Status)
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	fmt.Fprintf(&b, " to %s %s", e.Method, e.Path)
	if e.Description != "" {
		fmt.Fprintf(&b, ": %s", e.Description)
	}
	if h := e.hint(); h != "" {
		b.WriteString("; " + h)
	}
	return b.String()
}

func (e *apiError) hint() string {
	switch {
	case e.Status == http.StatusUnauthorized:
		return "pass a valid --auth-token or set " + envToken + " (a client secret or the admin token)"
	case e.Status == http.StatusForbidden && strings.HasPrefix(e.Path, "/v1/approvals"):
		return "deciding needs a person's credential (mp_…) of an admin, or of an approver of the request's org whom the token's caveat accepts"
	case e.Status == http.StatusForbidden:
		return "these credentials may not do this; ask the authority's admin (mint ceilings are set per client)"
	case e.Status == http.StatusNotFound && e.Code == "":
		return "is --authority the authority's base URL (e.g. http://127.0.0.1:8421)?"
	case e.Status >= 500:
		return "the authority failed; check its logs and retry"
	}
	return ""
}

// do sends a JSON request and decodes a JSON answer into out when the status
// is 2xx. Any other status becomes an *apiError.
func (c *authClient) do(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s %s: %w", method, path, ctx.Err())
		}
		return fmt.Errorf("cannot reach the authority at %s (%v); is it running? start one with \"mandate authority serve\"", c.base, rootCause(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &apiError{Method: method, Path: path, Status: resp.StatusCode}
		_ = json.Unmarshal(data, e)
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: the authority's answer is not the expected JSON (%v); is --authority a mandate authority?", method, path, err)
	}
	return nil
}

// rootCause strips the *url.Error wrapper, which repeats the method and URL.
func rootCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
