package token_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/mandate-dev/mandate/token"
)

func TestEncodeDecode(t *testing.T) {
	// 0xfb 0xff produce '-' and '_' in URL-safe base64 ('+' and '/' in
	// standard base64), and two bytes need one padding character.
	raw := []byte{0xfb, 0xff, 0xfe, 0x00, 0x01}
	enc := token.Encode(raw)
	if enc != "-__-AAE=" {
		t.Fatalf("Encode = %q, want padded URL-safe base64 %q", enc, "-__-AAE=")
	}
	unpadded := strings.TrimRight(enc, "=")
	std := base64.StdEncoding.EncodeToString(raw)
	tests := []struct {
		name    string
		in      string
		want    []byte
		wantErr error
	}{
		{"padded", enc, raw, nil},
		{"unpadded", unpadded, raw, nil},
		{"surrounding white space", " \t" + enc + "\r\n", raw, nil},
		{"unpadded with newline", unpadded + "\n", raw, nil},
		{"standard base64 characters", std, nil, token.ErrMalformed},
		{"inner white space", enc[:3] + " " + enc[3:], nil, token.ErrMalformed},
		{"bad length", enc[:5], nil, token.ErrMalformed},
		{"too much padding", enc + "==", raw, nil},
		{"empty", "", nil, token.ErrMalformed},
		{"only padding", "====", nil, token.ErrMalformed},
		{"oversize", strings.Repeat("A", token.MaxEncodedBytes+1), nil, token.ErrTooLarge},
		{"oversize garbage is not decoded first", strings.Repeat("!", token.MaxEncodedBytes+1), nil, token.ErrTooLarge},
		{"at the limit", strings.Repeat("A", token.MaxEncodedBytes), make([]byte, token.MaxEncodedBytes*3/4), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := token.Decode(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Decode = %v, want %v", err, tt.wantErr)
			}
			if err == nil && !bytes.Equal(got, tt.want) {
				t.Fatalf("Decode = %x, want %x", got, tt.want)
			}
		})
	}
}

func TestParseStringAcceptsBothPaddings(t *testing.T) {
	m := mint(t, testKey(1))
	for _, s := range []string{m.Token, strings.TrimRight(m.Token, "="), "\n" + m.Token + "\n"} {
		u, err := token.ParseString(s)
		if err != nil {
			t.Fatalf("ParseString: %v", err)
		}
		if !bytes.Equal(u.Bytes(), m.Raw) {
			t.Fatal("ParseString decoded different bytes")
		}
	}
}
