package decisions

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/mandate-dev/mandate/authority/kv"
)

// An export is JSON lines, in chain order:
//
//	{"type":"decision","seq":N,"prev_hash":HEX,"hash":HEX,"record":{received_at, verifier, decision}}
//	{"type":"head","seq":N,"hash":HEX,"signed_at":TIME,"key_id":ID,"signature":HEX}
//
// A head line follows the decision it signs: every head the authority
// signed periodically within the range, and a last one signed for the
// export, so that the whole export is covered. "record" is the exact bytes
// the chain hashes: a tool that rewrites the JSON (reorders keys, changes
// spacing or escapes) breaks the check.

// Line is one line of an export.
type Line struct {
	Type      string          `json:"type"`
	Seq       uint64          `json:"seq"`
	PrevHash  Hex             `json:"prev_hash,omitempty"`
	Hash      Hex             `json:"hash"`
	Record    json.RawMessage `json:"record,omitempty"`
	SignedAt  time.Time       `json:"signed_at,omitzero"`
	KeyID     uint32          `json:"key_id,omitempty"`
	Signature Hex             `json:"signature,omitempty"`
}

// Line types.
const (
	LineDecision = "decision"
	LineHead     = "head"
)

// maxLine bounds one export line when verifying: a record is bounded by
// token.ValidateDecision well below it.
const maxLine = 1 << 20

// Export writes the decisions after seq after (0: all the log still holds)
// as JSON lines with their chain and signed heads, ending with a head it
// signs now. Only a reader with Scope.All may export: the chain covers
// every org. It checks every decision as it goes and stops at one that
// fails (the output then lacks its final head, so it does not verify).
func (l *Log) Export(ctx context.Context, after uint64, scope Scope, w io.Writer) error {
	if err := l.usable(); err != nil {
		return err
	}
	if !scope.All {
		return fmt.Errorf("%w: only the admin may export the whole chain", ErrForbidden)
	}
	final, err := l.SignHead(ctx)
	if errors.Is(err, ErrEmpty) {
		return nil
	}
	if err != nil {
		return err
	}
	heads := map[uint64]Head{}
	var herr error
	err = l.kv.Scan(ctx, kv.ScanOptions{Prefix: pHead, Start: seqKey(pHead, after+1)}, func(e kv.Entry) bool {
		var h Head
		if herr = json.Unmarshal(e.Value, &h); herr != nil {
			herr = fmt.Errorf("%w: signed head %q is unreadable", ErrCorrupt, e.Key)
			return false
		}
		if h.Seq < final.Seq {
			heads[h.Seq] = h
		}
		return true
	})
	if err == nil {
		err = herr
	}
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	var prevSeq uint64
	var prevHash []byte
	var ferr error
	err = l.kv.Scan(ctx, kv.ScanOptions{Prefix: pEntry, Start: seqKey(pEntry, after+1)}, func(e kv.Entry) bool {
		seq, prev, hash, rec, err := decodeEntry(e)
		switch {
		case err != nil:
			ferr = err
		case seq > final.Seq:
			return false
		case prevHash != nil && (seq != prevSeq+1 || !bytes.Equal(prev, prevHash)):
			ferr = fmt.Errorf("%w: decision %d does not chain to decision %d", ErrCorrupt, seq, prevSeq)
		}
		if ferr != nil {
			return false
		}
		prevSeq, prevHash = seq, hash
		if ferr = enc.Encode(Line{Type: LineDecision, Seq: seq, PrevHash: prev, Hash: hash, Record: rec}); ferr != nil {
			return false
		}
		if h, ok := heads[seq]; ok && bytes.Equal(h.Hash, hash) {
			ferr = enc.Encode(headLine(h))
		}
		return ferr == nil
	})
	if err == nil {
		err = ferr
	}
	if err == nil && prevSeq != final.Seq {
		err = fmt.Errorf("%w: the export ends at decision %d, not at the head %d", ErrCorrupt, prevSeq, final.Seq)
	}
	if err == nil {
		err = enc.Encode(headLine(final))
	}
	if errors.Is(err, ErrCorrupt) {
		l.markCorrupt(err)
	}
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return err
}

func headLine(h Head) Line {
	return Line{Type: LineHead, Seq: h.Seq, Hash: h.Hash, SignedAt: h.SignedAt, KeyID: h.KeyID, Signature: h.Signature}
}

// Report is what VerifyExport established.
type Report struct {
	// Decisions is how many decisions were checked, FirstSeq and LastSeq
	// their range.
	Decisions         int
	FirstSeq, LastSeq uint64
	// Heads is how many signed heads verified; LastSigned is when the
	// last one was signed, and KeyIDs the keys that signed them.
	Heads      int
	LastSigned time.Time
	KeyIDs     []uint32
}

// ErrTampered is wrapped by every VerifyExport error about the content.
var ErrTampered = errors.New("the exported decision log does not verify")

// VerifyExport checks an export read from r against the authority's root
// public keys (key ID → key): every decision's hash covers its record and
// chains to the one before it, sequence numbers are consecutive, every
// head line's signature verifies and names the decision just before it,
// and the export ends with a signed head over its last decision. A changed,
// removed, reordered or inserted decision fails. (The first decision's
// previous hash is taken from the export when it starts mid-chain, after
// retention or an "after": the signed head it leads to vouches for it.
// Cutting decisions off the end together with the heads after them is
// only detectable against a later export.)
func VerifyExport(r io.Reader, keys map[uint32]ed25519.PublicKey) (Report, error) {
	var rep Report
	br := bufio.NewReaderSize(r, 64<<10)
	var prevSeq uint64
	var prevHash []byte
	covered := false
	seenKey := map[uint32]bool{}
	for n := 1; ; n++ {
		raw, err := readLine(br)
		if err == io.EOF {
			break
		}
		bad := func(format string, a ...any) error {
			return fmt.Errorf("%w: line %d: %s", ErrTampered, n, fmt.Sprintf(format, a...))
		}
		if err != nil {
			return rep, bad("%v", err)
		}
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		var ln Line
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ln); err != nil {
			return rep, bad("not an export line: %v", err)
		}
		if _, err := dec.Token(); err != io.EOF {
			return rep, bad("data after the line's JSON object")
		}
		switch ln.Type {
		case LineDecision:
			switch {
			case len(ln.PrevHash) != HashSize || len(ln.Hash) != HashSize || len(ln.Record) == 0:
				return rep, bad("decision %d lacks its hashes or record", ln.Seq)
			case prevHash == nil && ln.Seq == 1 && !bytes.Equal(ln.PrevHash, make([]byte, HashSize)):
				return rep, bad("decision 1 does not start the chain")
			case prevHash != nil && ln.Seq != prevSeq+1:
				return rep, bad("decision %d follows decision %d: a decision was removed, reordered or inserted", ln.Seq, prevSeq)
			case prevHash != nil && !bytes.Equal(ln.PrevHash, prevHash):
				return rep, bad("decision %d does not chain to decision %d: a decision was removed, reordered or inserted", ln.Seq, prevSeq)
			case !bytes.Equal(ln.Hash, ChainHash(ln.PrevHash, ln.Seq, ln.Record)):
				return rep, bad("decision %d does not match its hash: it was changed", ln.Seq)
			}
			if prevHash == nil {
				rep.FirstSeq = ln.Seq
			}
			prevSeq, prevHash = ln.Seq, ln.Hash
			rep.Decisions++
			rep.LastSeq = ln.Seq
			covered = false
		case LineHead:
			h := Head{Seq: ln.Seq, Hash: ln.Hash, SignedAt: ln.SignedAt, KeyID: ln.KeyID, Signature: ln.Signature}
			pub, ok := keys[h.KeyID]
			switch {
			case prevHash == nil || h.Seq != prevSeq || !bytes.Equal(h.Hash, prevHash):
				return rep, bad("the signed head (decision %d) does not sign the decision before it (%d)", h.Seq, prevSeq)
			case !ok:
				return rep, bad("the head is signed by key %d, which is not among the trusted keys; pass that key with --key", h.KeyID)
			case !h.Verify(pub):
				return rep, bad("the signature of the head at decision %d does not verify", h.Seq)
			}
			rep.Heads++
			rep.LastSigned = h.SignedAt
			if !seenKey[h.KeyID] {
				seenKey[h.KeyID] = true
				rep.KeyIDs = append(rep.KeyIDs, h.KeyID)
			}
			covered = true
		default:
			return rep, bad("unknown line type %q", ln.Type)
		}
	}
	switch {
	case rep.Decisions == 0:
		return rep, fmt.Errorf("%w: the export holds no decision", ErrTampered)
	case !covered:
		return rep, fmt.Errorf("%w: the decisions after the last signed head (up to %d) are not covered by a signature: decisions were appended, or the final head was removed", ErrTampered, rep.LastSeq)
	}
	return rep, nil
}

func readLine(br *bufio.Reader) ([]byte, error) {
	var out []byte
	for {
		chunk, isPrefix, err := br.ReadLine()
		if err != nil {
			if err == io.EOF && out != nil {
				return out, nil
			}
			return nil, err
		}
		out = append(out, chunk...)
		if len(out) > maxLine {
			return nil, errors.New("line over " + strconv.Itoa(maxLine) + " bytes")
		}
		if !isPrefix {
			return out, nil
		}
	}
}
