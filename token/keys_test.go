package token_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mandate-dev/mandate/token"
)

// testdata/openssl-ed25519-test-key.txt was written by
// `openssl genpkey -algorithm ed25519` (OpenSSL 3.0) for these tests only;
// it is stored as .txt so that no tracked file looks like a real key. Its
// public key, from `openssl pkey -pubout`:
const opensslTestPublicKey = "57b93be868908a597e76c7cc048a3c553002dfce6a2791509b343f663b4bcc49"

func TestParsePrivateKeyOpenSSLVector(t *testing.T) {
	pem, err := os.ReadFile(filepath.Join("testdata", "openssl-ed25519-test-key.txt"))
	if err != nil {
		t.Fatal(err)
	}
	priv, err := token.ParsePrivateKey(pem)
	if err != nil {
		t.Fatalf("ParsePrivateKey: %v", err)
	}
	if got := hex.EncodeToString(priv.Public().(ed25519.PublicKey)); got != opensslTestPublicKey {
		t.Fatalf("public key = %s, want %s (from openssl)", got, opensslTestPublicKey)
	}
}

// A key freshly written by the openssl binary parses, and its public key is
// the one openssl derives.
func TestParsePrivateKeyOpenSSLGenerated(t *testing.T) {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed; TestParsePrivateKeyOpenSSLVector covers a stored openssl key")
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key.pem")
	if out, err := exec.Command(bin, "genpkey", "-algorithm", "ed25519", "-out", keyFile).CombinedOutput(); err != nil {
		t.Skipf("this openssl cannot generate Ed25519 keys (%v): %s", err, out)
	}
	der, err := exec.Command(bin, "pkey", "-in", keyFile, "-pubout", "-outform", "DER").Output()
	if err != nil {
		t.Fatalf("openssl pkey -pubout: %v", err)
	}
	pem, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := token.ParsePrivateKey(pem)
	if err != nil {
		t.Fatalf("ParsePrivateKey(openssl key): %v", err)
	}
	// An Ed25519 SubjectPublicKeyInfo ends with the 32-byte key.
	want := der[len(der)-ed25519.PublicKeySize:]
	if got := priv.Public().(ed25519.PublicKey); !got.Equal(ed25519.PublicKey(want)) {
		t.Fatalf("public key = %x, openssl says %x", got, want)
	}
}

func TestParsePrivateKey(t *testing.T) {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	other := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	mismatched := append(append([]byte{}, priv.Seed()...), other.Public().(ed25519.PublicKey)...)
	pemBytes, err := token.MarshalPrivateKeyPEM(priv)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{"PEM from MarshalPrivateKeyPEM", string(pemBytes), false},
		{"PEM with surrounding blank lines", "\n\n" + string(pemBytes) + "\n", false},
		{"hex seed", hex.EncodeToString(seed), false},
		{"hex seed, upper case", strings.ToUpper(hex.EncodeToString(seed)), false},
		{"hex seed with newline", hex.EncodeToString(seed) + "\n", false},
		{"64-byte hex", hex.EncodeToString(priv), false},
		{"ed25519-private/ prefix", "ed25519-private/" + hex.EncodeToString(seed), false},
		{"ed25519-private/ prefix, 64 bytes", "ed25519-private/" + hex.EncodeToString(priv), false},
		{"mismatched 64-byte key", hex.EncodeToString(mismatched), true},
		{"31-byte hex", hex.EncodeToString(seed[:31]), true},
		{"33-byte hex", hex.EncodeToString(append(seed, 0)), true},
		{"odd hex", hex.EncodeToString(seed)[:63], true},
		{"garbage", "not a key", true},
		{"empty", "", true},
		{"public key prefix", "ed25519/" + hex.EncodeToString(seed), true},
		{"PEM of another type", strings.Replace(string(pemBytes), "PRIVATE KEY", "EC PRIVATE KEY", 2), true},
		{"PEM with broken body", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", true},
		{"unterminated PEM", "-----BEGIN PRIVATE KEY-----\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := token.ParsePrivateKey([]byte(tt.in))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParsePrivateKey accepted %q", tt.in)
				}
				if strings.Contains(err.Error(), hex.EncodeToString(seed)) {
					t.Fatalf("error %q echoes the key", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePrivateKey: %v", err)
			}
			if !got.Equal(priv) {
				t.Fatalf("parsed a different key")
			}
		})
	}
}

func TestParsePublicKey(t *testing.T) {
	pub := testKey(7).Public().Key
	h := hex.EncodeToString(pub)
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{"bare hex", h, false},
		{"prefixed", token.PublicKeyPrefix + h, false},
		{"surrounding space", "  " + h + "\n", false},
		{"FormatPublicKey", token.FormatPublicKey(pub), false},
		{"too short", h[:62], true},
		{"too long", h + "00", true},
		{"odd length", h[:63], true},
		{"not hex", strings.Repeat("zz", 32), true},
		{"other prefix", "p256/" + h, true},
		{"empty", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := token.ParsePublicKey(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParsePublicKey(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if err == nil && !got.Equal(pub) {
				t.Fatalf("parsed %x, want %x", got, pub)
			}
		})
	}
}

func TestKeyID(t *testing.T) {
	k := testKey(1)
	sum := sha256.Sum256(k.Public().Key)
	if want := binary.BigEndian.Uint32(sum[:4]); k.ID != want || token.KeyID(k.Public().Key) != want {
		t.Fatalf("KeyID = %d, want %d", k.ID, want)
	}
	if testKey(2).ID == k.ID {
		t.Fatal("two keys share an ID")
	}
	g, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if g.ID != token.KeyID(g.Public().Key) || len(g.Private) != ed25519.PrivateKeySize {
		t.Fatal("GenerateKey returned an inconsistent key")
	}
	pemBytes, err := token.MarshalPrivateKeyPEM(g.Private)
	if err != nil {
		t.Fatal(err)
	}
	back, err := token.ParsePrivateKey(pemBytes)
	if err != nil || !back.Equal(g.Private) {
		t.Fatalf("PEM round trip: %v", err)
	}
}
