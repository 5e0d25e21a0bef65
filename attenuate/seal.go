package attenuate

import (
	"bytes"
	"crypto/rand"
	"fmt"

	"github.com/mandate-dev/mandate/token"
)

// Seal seals tok (URL-safe base64, padded or not): it replaces the token's
// proof key with a signature, so that nobody, including the holder, can
// append a block. A sealed token still verifies and authorizes as before;
// give one to a sub-agent that must not delegate further. Sealing needs no
// key. A token that is already sealed is refused with token.ErrSealed. The
// root key ID hint is kept.
func Seal(tok string) (string, error) {
	raw, err := token.Decode(tok)
	if err != nil {
		return "", fmt.Errorf("attenuate: %w", err)
	}
	out, err := seal(raw)
	if err != nil {
		return "", err
	}
	return token.Encode(out), nil
}

// SealBytes is Seal for a raw token. raw is not modified.
func SealBytes(raw []byte) ([]byte, error) {
	return seal(bytes.Clone(raw))
}

func seal(raw []byte) (out []byte, err error) {
	u, bt, err := open(raw)
	if err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("attenuate: Seal: %w: biscuit-go failed to seal the token", token.ErrMalformed)
		}
	}()
	st, err := bt.Seal(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("attenuate: Seal: %w", err)
	}
	out, err = st.Serialize()
	if err != nil {
		return nil, fmt.Errorf("attenuate: Seal: %w", err)
	}
	if id, ok := u.RootKeyIDHint(); ok {
		out = token.WithRootKeyID(out, id)
	}
	out, su, err := reparse(out)
	if err != nil {
		return nil, fmt.Errorf("attenuate: Seal: %w", err)
	}
	if !su.Sealed() || su.BlockCount() != u.BlockCount() {
		return nil, fmt.Errorf("attenuate: Seal: the sealed token does not read back as sealed")
	}
	return out, nil
}
