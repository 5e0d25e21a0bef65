package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mandate-dev/mandate/authority/decisions"
	"github.com/mandate-dev/mandate/token"
)

func newAuditCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Check an exported decision log",
		Long: `The authority's decision log is tamper-evident: every decision is chained
to the one before it by hash, and the authority signs the head of the chain
with its root key. "mandate audit verify" checks an export of it
(GET /v1/decisions/export).`,
		Example: `  curl -s -H "Authorization: Bearer $ADMIN" http://127.0.0.1:8421/v1/decisions/export > decisions.jsonl
  mandate audit verify --key "$ROOT_KEY" decisions.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newAuditVerifyCmd(a))
	return cmd
}

func newAuditVerifyCmd(a *app) *cobra.Command {
	var keys []string
	var authority string
	cmd := &cobra.Command{
		Use:   "verify (--key PUBLIC_KEY... | --authority URL) FILE|-",
		Short: "Check an exported decision log's hash chain and signed heads",
		Long: `Check an export of the decision log (JSON lines, from
GET /v1/decisions/export): every decision matches its hash and chains to the
one before it, sequence numbers follow each other, every signed head verifies
against the authority's root key and names the decision before it, and the
export ends with a signed head. A changed, removed, reordered or inserted
decision fails, naming the line.

--key takes the authority's root public key in hex (repeatable, for heads
signed before a key rotation); "mandate authority serve" prints it at start.
--authority URL fetches the keys from the authority instead (GET /v1/keys,
and the keys its rotation endorsements reach): convenient, but it trusts
whoever answers at that URL; pin --key for an audit that matters.

FILE "-" reads stdin. Exit status 0: the export verifies; 1: it does not.`,
		Example: `  curl -s -H "Authorization: Bearer $ADMIN" http://127.0.0.1:8421/v1/decisions/export > decisions.jsonl
  mandate audit verify --key "$ROOT_KEY" decisions.jsonl
  mandate audit verify --authority http://127.0.0.1:8421 decisions.jsonl`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef(cmd, "give one FILE (or - for stdin)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if (len(keys) == 0) == (authority == "") {
				return usagef(cmd, "give --key PUBLIC_KEY or --authority URL (one of them)")
			}
			trusted := map[uint32]ed25519.PublicKey{}
			for _, k := range keys {
				pub, err := token.ParsePublicKey(k)
				if err != nil {
					return usagef(cmd, "--key %q: %v", clip(k), err)
				}
				trusted[token.KeyID(pub)] = pub
			}
			if authority != "" {
				c, err := a.newAuthClient(cmd, authority, "")
				if err != nil {
					return err
				}
				if trusted, err = authorityKeys(cmd, c); err != nil {
					return err
				}
			}
			var in io.Reader = cmd.InOrStdin()
			name := "stdin"
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return fmt.Errorf("open the export: %w", err)
				}
				defer f.Close()
				in, name = f, args[0]
			}
			rep, err := decisions.VerifyExport(in, trusted)
			if err != nil {
				if errors.Is(err, decisions.ErrTampered) {
					return fmt.Errorf("%s: %w", name, err)
				}
				return fmt.Errorf("read %s: %w", name, err)
			}
			ids := make([]string, len(rep.KeyIDs))
			for i, id := range rep.KeyIDs {
				ids[i] = fmt.Sprint(id)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "verified: %d decisions (%d to %d), %d signed heads by key %s, the last signed at %s\n",
				rep.Decisions, rep.FirstSeq, rep.LastSeq, rep.Heads, strings.Join(ids, ", "), rep.LastSigned.UTC().Format(time.RFC3339))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&keys, "key", nil, "the authority's root public key in `HEX` (repeatable)")
	f.StringVar(&authority, "authority", "", "fetch the root keys from the authority at `URL`")
	return cmd
}

// authorityKeys fetches the authority's keys: those it lists, and every
// key its rotation endorsements reach from them.
func authorityKeys(cmd *cobra.Command, c *authClient) (map[uint32]ed25519.PublicKey, error) {
	var ans struct {
		Keys []struct {
			KeyID     uint32 `json:"key_id"`
			PublicKey string `json:"public_key"`
		} `json:"keys"`
		Endorsements []struct {
			KeyID       uint32 `json:"key_id"`
			PublicKey   string `json:"public_key"`
			SignerKeyID uint32 `json:"signer_key_id"`
			Signature   string `json:"signature"`
		} `json:"endorsements_v1"`
	}
	if err := c.do(cmd.Context(), "GET", "/v1/keys", nil, &ans); err != nil {
		return nil, err
	}
	var anchors []token.PublicKey
	for _, k := range ans.Keys {
		pub, err := hex.DecodeString(k.PublicKey)
		if err == nil && len(pub) == ed25519.PublicKeySize {
			anchors = append(anchors, token.PublicKey{ID: k.KeyID, Key: pub})
		}
	}
	if len(anchors) == 0 {
		return nil, fmt.Errorf("the authority at %s lists no root key", c.base)
	}
	var ends []token.Endorsement
	for _, e := range ans.Endorsements {
		pub, err1 := hex.DecodeString(e.PublicKey)
		sig, err2 := hex.DecodeString(e.Signature)
		if err1 == nil && err2 == nil {
			ends = append(ends, token.Endorsement{Key: token.PublicKey{ID: e.KeyID, Key: pub}, SignerID: e.SignerKeyID, Signature: sig})
		}
	}
	return token.EndorsedKeys(anchors, ends), nil
}
