package follow

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier/revocation"
)

// The decoders below read the authority's JSON as a stream, so that a
// response with too many entries is rejected after MaxBatchEntries of them
// rather than after all of them were allocated, and the body is read
// through a cap so that an endless body stops at the limit.

// errTooLarge is returned by a capReader once its limit is passed.
var errTooLarge = errors.New("body over the size limit")

// capReader reads at most n bytes of r and then fails with errTooLarge
// (rather than io.EOF, which would let a truncated body decode).
type capReader struct {
	r io.Reader
	n int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		// Is there more? One byte tells.
		var b [1]byte
		n, err := c.r.Read(b[:])
		if n > 0 {
			return 0, errTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > c.n {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= int64(n)
	return n, err
}

// badResponse wraps err in ErrBadResponse (or ErrTooLarge) with context.
func badResponse(what string, err error) error {
	if errors.Is(err, errTooLarge) {
		return fmt.Errorf("%w: %s", ErrTooLarge, what)
	}
	return fmt.Errorf("%w: %s: %w", ErrBadResponse, what, err)
}

// object decodes one JSON object from dec, calling field for each key with
// the decoder positioned on its value; field must consume the value. A key
// seen twice is an error: a response that says two things is not trusted.
func object(dec *json.Decoder, field func(key string) error) error {
	if err := delim(dec, '{'); err != nil {
		return err
	}
	seen := make(map[string]bool, 4)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		key, ok := t.(string)
		if !ok {
			return fmt.Errorf("object key is %v", t)
		}
		if seen[key] {
			return fmt.Errorf("key %q appears twice", key)
		}
		seen[key] = true
		if err := field(key); err != nil {
			return err
		}
	}
	return delim(dec, '}')
}

// array decodes one JSON array (or null) from dec, calling elem for each
// element, at most max of them.
func array(dec *json.Decoder, what string, max int, elem func(i int) error) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if t == nil {
		return nil // null: no elements
	}
	if d, ok := t.(json.Delim); !ok || d != '[' {
		return fmt.Errorf("%s is %v, want an array", what, t)
	}
	for i := 0; dec.More(); i++ {
		if i >= max {
			return fmt.Errorf("more than %d %s in one response", max, what)
		}
		if err := elem(i); err != nil {
			return err
		}
	}
	return delim(dec, ']')
}

func delim(dec *json.Decoder, want json.Delim) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != want {
		return fmt.Errorf("found %v, want %q", t, want)
	}
	return nil
}

// skip consumes one JSON value: unknown fields are allowed, so that the
// authority can add fields without breaking followers.
func skip(dec *json.Decoder) error {
	var v json.RawMessage
	return dec.Decode(&v)
}

// end checks that nothing but white space follows the value.
func end(dec *json.Decoder) error {
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			return errors.New("data after the JSON value")
		}
		return err
	}
	return nil
}

// batch is one validated /v1/revocations response.
type batch struct {
	entries []revocation.Entry // each with its Hash
	// prevs holds, for each entry, the previous chain hash the authority
	// sent with it (nil when it sent none: the entry follows the one
	// before it).
	prevs [][]byte
	next  uint64
	chain chainHead
	// reset reports an authority whose log restarted: it answered with
	// no entries and a next below the after it was asked for.
	reset bool
}

// chainHead is the signed part of a feed answer (chain_v1).
type chainHead struct {
	HeadSeq   *uint64 `json:"head_seq"`
	HeadHash  string  `json:"head_hash"`
	KeyID     *uint32 `json:"key_id"`
	Signature string  `json:"signature"`

	headHash, sig []byte
}

func (c *chainHead) decode() error {
	var err error
	switch {
	case c.HeadSeq == nil || c.KeyID == nil:
		return errors.New("chain_v1: head_seq or key_id is missing")
	}
	if c.headHash, err = hex.DecodeString(c.HeadHash); err != nil || len(c.headHash) != token.ChainHashSize {
		return fmt.Errorf("chain_v1: head_hash is not %d bytes of hex", token.ChainHashSize)
	}
	if c.sig, err = hex.DecodeString(c.Signature); err != nil || len(c.sig) != ed25519.SignatureSize {
		return fmt.Errorf("chain_v1: signature is not %d bytes of hex", ed25519.SignatureSize)
	}
	return nil
}

// wireEntry is one entry as the authority sends it.
type wireEntry struct {
	Seq          *uint64 `json:"seq"`
	RevocationID string  `json:"revocation_id"`
	ExpiresAt    string  `json:"expires_at"`
	Hash         string  `json:"hash_v1"`
	PrevHash     *string `json:"prev_hash_v1"`
}

// decodeRevocations reads and validates a /v1/revocations response to a
// request for the entries after `after`. Every entry is checked before the
// batch is returned: sequence numbers strictly increase and are all above
// after and at most next; IDs are hex of 1 to revocation.MaxIDLen bytes;
// expiries are RFC 3339 (a missing one means "never expires", which only
// ever keeps an ID revoked longer). Any violation rejects the whole batch.
//
// The chain fields (each entry's hash_v1 and prev_hash_v1, and chain_v1)
// are decoded here and checked by verifyPage.
func decodeRevocations(r io.Reader, after uint64) (batch, error) {
	var b batch
	var hasNext, hasChain bool
	prev := after
	dec := json.NewDecoder(&capReader{r: r, n: MaxResponseBytes})
	err := object(dec, func(key string) error {
		switch key {
		case "entries":
			return array(dec, "entries", MaxBatchEntries, func(i int) error {
				var we wireEntry
				if err := dec.Decode(&we); err != nil {
					return fmt.Errorf("entry %d: %w", i, err)
				}
				e, err := we.entry()
				if err != nil {
					return fmt.Errorf("entry %d: %w", i, err)
				}
				if e.Seq <= prev {
					if i == 0 {
						return fmt.Errorf("entry 0 has seq %d, not after the requested %d (the log went backwards)", e.Seq, after)
					}
					return fmt.Errorf("entry %d has seq %d after seq %d (sequence numbers must strictly increase)", i, e.Seq, prev)
				}
				prev = e.Seq
				var ph []byte
				if we.PrevHash != nil {
					if ph, err = hex.DecodeString(*we.PrevHash); err != nil || len(ph) != token.ChainHashSize {
						return fmt.Errorf("entry %d: prev_hash_v1 is not %d bytes of hex", i, token.ChainHashSize)
					}
				}
				b.entries = append(b.entries, e)
				b.prevs = append(b.prevs, ph)
				return nil
			})
		case "chain_v1":
			hasChain = true
			if err := dec.Decode(&b.chain); err != nil {
				return fmt.Errorf("chain_v1: %w", err)
			}
			return b.chain.decode()
		case "next":
			hasNext = true
			var n uint64
			if err := dec.Decode(&n); err != nil {
				return fmt.Errorf("next: %w", err)
			}
			b.next = n
			return nil
		default:
			return skip(dec)
		}
	})
	if err == nil {
		err = end(dec)
	}
	if err != nil {
		return batch{}, badResponse("revocations", err)
	}
	switch {
	case !hasNext:
		return batch{}, badResponse("revocations", errors.New(`"next" is missing`))
	case len(b.entries) > 0 && b.next < prev:
		return batch{}, badResponse("revocations", fmt.Errorf("next is %d, below the last entry's seq %d", b.next, prev))
	case len(b.entries) == 0 && b.next < after:
		b.reset = true
	case !hasChain:
		return batch{}, fmt.Errorf("%w: the answer is not signed (chain_v1 is missing): the authority predates the signed, hash-chained feed; upgrade it", ErrTampered)
	}
	return b, nil
}

// entry validates and converts a wire entry.
func (we *wireEntry) entry() (revocation.Entry, error) {
	if we.Seq == nil || *we.Seq == 0 {
		return revocation.Entry{}, errors.New("seq is missing or 0")
	}
	id, err := hex.DecodeString(we.RevocationID)
	if err != nil {
		return revocation.Entry{}, fmt.Errorf("seq %d: revocation_id is not hex: %w", *we.Seq, err)
	}
	e := revocation.Entry{ID: id, Seq: *we.Seq}
	if we.Hash != "" { // a missing hash is refused by verifyPage
		if e.Hash, err = hex.DecodeString(we.Hash); err != nil || len(e.Hash) != token.ChainHashSize {
			return revocation.Entry{}, fmt.Errorf("seq %d: hash_v1 is not %d bytes of hex", *we.Seq, token.ChainHashSize)
		}
	}
	if err := e.Validate(); err != nil {
		return revocation.Entry{}, fmt.Errorf("seq %d: %w", *we.Seq, err)
	}
	if we.ExpiresAt != "" {
		t, err := time.Parse(time.RFC3339, we.ExpiresAt)
		if err != nil {
			return revocation.Entry{}, fmt.Errorf("seq %d: expires_at %q is not RFC 3339", *we.Seq, clip(we.ExpiresAt, 64))
		}
		e.ExpiresAt = t
	}
	return e, nil
}

// wireKey is one key as the authority publishes it.
type wireKey struct {
	KeyID     *uint32 `json:"key_id"`
	Algorithm string  `json:"algorithm"`
	PublicKey string  `json:"public_key"`
	Status    string  `json:"status"`
	NotAfter  string  `json:"not_after"`
}

// keyStatuses are the statuses of keys that verify tokens. Anything else
// (a status a newer authority invents, such as "revoked") is not trusted.
var keyStatuses = map[string]bool{"active": true, "retiring": true}

// wireEndorsement is one endorsement as the authority publishes it: the
// key signer_key_id signed key_id / public_key (token.Endorse).
type wireEndorsement struct {
	KeyID       *uint32 `json:"key_id"`
	PublicKey   string  `json:"public_key"`
	SignerKeyID *uint32 `json:"signer_key_id"`
	Signature   string  `json:"signature"`
}

// keySet is one validated /v1/keys response.
type keySet struct {
	keys         []token.PublicKey
	endorsements []token.Endorsement
	// skipped describes keys left out because this follower cannot use
	// them (another algorithm, an unknown status).
	skipped []string
}

// decodeKeys reads and validates a /v1/keys response. A malformed key
// rejects the whole response; a well-formed key this follower cannot use
// is skipped and reported. A response without a single usable key is an
// error: no authority runs without a signing key, so it is a bug or an
// attack, and the previous key set is better kept.
func decodeKeys(r io.Reader) (keySet, error) {
	var ks keySet
	var hasKeys bool
	dec := json.NewDecoder(&capReader{r: r, n: MaxKeysResponseBytes})
	err := object(dec, func(key string) error {
		if key == "endorsements_v1" {
			return array(dec, "endorsements", MaxEndorsements, func(i int) error {
				var we wireEndorsement
				if err := dec.Decode(&we); err != nil {
					return fmt.Errorf("endorsement %d: %w", i, err)
				}
				if we.KeyID == nil || we.SignerKeyID == nil {
					return fmt.Errorf("endorsement %d: key_id or signer_key_id is missing", i)
				}
				pub, err := token.ParsePublicKey(we.PublicKey)
				if err != nil {
					return fmt.Errorf("endorsement %d: %w", i, err)
				}
				sig, err := hex.DecodeString(we.Signature)
				if err != nil || len(sig) != ed25519.SignatureSize {
					return fmt.Errorf("endorsement %d: signature is not %d bytes of hex", i, ed25519.SignatureSize)
				}
				ks.endorsements = append(ks.endorsements, token.Endorsement{Key: token.PublicKey{ID: *we.KeyID, Key: pub}, SignerID: *we.SignerKeyID, Signature: sig})
				return nil
			})
		}
		if key != "keys" {
			return skip(dec)
		}
		hasKeys = true
		return array(dec, "keys", MaxKeys, func(i int) error {
			var wk wireKey
			if err := dec.Decode(&wk); err != nil {
				return fmt.Errorf("key %d: %w", i, err)
			}
			if wk.KeyID == nil {
				return fmt.Errorf("key %d: key_id is missing", i)
			}
			if wk.Algorithm != "ed25519" {
				ks.skipped = append(ks.skipped, fmt.Sprintf("key %d: algorithm %q", *wk.KeyID, clip(wk.Algorithm, 32)))
				return nil
			}
			pub, err := token.ParsePublicKey(wk.PublicKey)
			if err != nil {
				return fmt.Errorf("key %d: %w", *wk.KeyID, err)
			}
			pk := token.PublicKey{ID: *wk.KeyID, Key: pub}
			if wk.NotAfter != "" {
				t, err := time.Parse(time.RFC3339, wk.NotAfter)
				if err != nil {
					return fmt.Errorf("key %d: not_after %q is not RFC 3339", *wk.KeyID, clip(wk.NotAfter, 64))
				}
				pk.NotAfter = t
			}
			if !keyStatuses[wk.Status] {
				ks.skipped = append(ks.skipped, fmt.Sprintf("key %d: status %q", *wk.KeyID, clip(wk.Status, 32)))
				return nil
			}
			ks.keys = append(ks.keys, pk)
			return nil
		})
	})
	if err == nil {
		err = end(dec)
	}
	if err != nil {
		return keySet{}, badResponse("keys", err)
	}
	if !hasKeys {
		return keySet{}, badResponse("keys", errors.New(`"keys" is missing`))
	}
	if len(ks.keys) == 0 {
		return keySet{}, badResponse("keys", fmt.Errorf("no usable ed25519 key (skipped: %s); keeping the previous key set", strings.Join(ks.skipped, ", ")))
	}
	return ks, nil
}

// AuthorityError is an error response of the authority: a status other
// than 200, with the authority's {"error", "error_description"} body when
// it sent one.
type AuthorityError struct {
	// Endpoint is the path that failed, such as "/v1/revocations".
	Endpoint string
	// StatusCode is the HTTP status.
	StatusCode int
	// Code and Description are the authority's error and
	// error_description, clipped to MaxErrorText and empty when the body
	// was not the authority's JSON.
	Code, Description string
}

func (e *AuthorityError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "follow: authority answered %s with %d %s", e.Endpoint, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Code != "" {
		fmt.Fprintf(&b, ": %s", e.Code)
	}
	if e.Description != "" {
		fmt.Fprintf(&b, ": %s", e.Description)
	}
	switch {
	case e.StatusCode == http.StatusNotFound:
		b.WriteString(" (check that Config.Authority is the authority's base URL)")
	case e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden:
		b.WriteString(" (the authority wants credentials: give Config.HTTPClient a transport that adds them)")
	case e.StatusCode >= 500:
		b.WriteString(" (the follower retries with backoff)")
	}
	return b.String()
}

// authorityError builds an AuthorityError from a non-200 response.
func authorityError(endpoint string, resp *http.Response) *AuthorityError {
	ae := &AuthorityError{Endpoint: endpoint, StatusCode: resp.StatusCode}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, MaxErrorBytes))
	var w struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	if json.Unmarshal(body, &w) == nil {
		ae.Code = clip(w.Error, 64)
		ae.Description = clip(w.ErrorDescription, MaxErrorText)
	}
	return ae
}

// clip shortens s to at most n bytes (on a rune boundary) and replaces
// control characters, so that text from the network is safe to log.
func clip(s string, n int) string {
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
