package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mandate-dev/mandate/token"
)

func newKeygenCmd(a *app) *cobra.Command {
	var out string
	var force bool
	cmd := &cobra.Command{
		Use:   "keygen [--out FILE]",
		Short: "Create an Ed25519 root key (PEM PKCS#8) and print its public key",
		Long: `Create an Ed25519 root key for offline minting and tests.

With --out, the private key is written to FILE (PEM PKCS#8, mode 0600) and
the public key is printed in hex on stdout, alone, so that it can be captured;
the key ID goes to stderr. keygen refuses to overwrite an existing file
unless --force is given.

Without --out, the PEM goes to stdout and the public key and key ID to
stderr.

The authority ("mandate authority serve") creates and rotates its own keys;
you need keygen only to mint offline with "mandate mint --private-key".`,
		Example: `  # A key file and its public key, for mint --private-key and verify --public-key
  mandate keygen --out key.pem > pub.hex

  # Replace an existing key file
  mandate keygen --out key.pem --force

  # The PEM on stdout, e.g. to pipe into a secret store (stdout is not 0600:
  # prefer --out for files)
  mandate keygen`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := token.GenerateKey()
			if err != nil {
				return err
			}
			pemBytes, err := token.MarshalPrivateKeyPEM(key.Private)
			if err != nil {
				return err
			}
			pub := token.FormatPublicKey(key.Public().Key)
			if out == "" {
				if _, err := cmd.OutOrStdout().Write(pemBytes); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "public key: %s\nkey ID: %d\n", pub, key.ID)
				return nil
			}
			if err := writeKeyFile(out, pemBytes, force); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), pub)
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote private key to %s (mode 0600); key ID %d; public key on stdout\n", out, key.ID)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "write the private key to `FILE` (mode 0600) instead of stdout")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite FILE if it exists")
	return cmd
}

// writeKeyFile writes a private key with mode 0600. Without force it
// refuses an existing file (O_EXCL, so no race can clobber one). With force
// it writes a temporary file in the same folder and renames it over the old
// one, so the key file is never left half-written or with a wider mode.
func writeKeyFile(path string, data []byte, force bool) error {
	if !force {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("--out: %s already exists; choose another file or pass --force to replace it", path)
		}
		if err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		if err := finishKeyFile(f, data, path); err != nil {
			_ = os.Remove(path)
			return err
		}
		return nil
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("--out: %s is a directory; name a file", path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".mandate-key-*")
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	tmp := f.Name()
	if err := finishKeyFile(f, data, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("--out: %w", err)
	}
	return nil
}

func finishKeyFile(f *os.File, data []byte, path string) error {
	// CreateTemp already uses 0600, and OpenFile's mode is reduced by the
	// umask only; Chmod makes the mode exact either way.
	err := f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("--out: write %s: %w", path, err)
	}
	return nil
}
