package token

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// Encode returns the URL-safe, padded base64 form of a token, as the Biscuit
// libraries print it.
func Encode(raw []byte) string { return base64.URLEncoding.EncodeToString(raw) }

// Decode reverses Encode. It accepts URL-safe base64 with or without padding
// and surrounding white space, and refuses input over MaxEncodedBytes before
// decoding it.
func Decode(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) > MaxEncodedBytes {
		return nil, fmt.Errorf("%w: %d bytes of base64 is over the %d-byte token limit", ErrTooLarge, len(s), MaxEncodedBytes)
	}
	s = strings.TrimRight(s, "=")
	if s == "" {
		return nil, fmt.Errorf("%w: empty token", ErrMalformed)
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: not URL-safe base64 (%v)", ErrMalformed, err)
	}
	return raw, nil
}
