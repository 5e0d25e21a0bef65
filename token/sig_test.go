package token

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"slices"
	"testing"
)

// TestEd25519Differential holds mandate's signature check (curve25519-voi
// under VerifyOptionsStdLib, with and without a precomputed key) to exactly
// crypto/ed25519.Verify's answers: on the published edge cases of "Taming
// the many EdDSAs" (Chalkias, Garillot, Nikolaenko, 2020), on the ZIP-215
// style grid of small-order and non-canonical encodings of R and A, on
// mixed-order keys, non-canonical S, and on random and corrupted
// signatures. Each generated family must contain signatures that
// crypto/ed25519 accepts and ones it rejects, so that the comparison means
// something.
func TestEd25519Differential(t *testing.T) {
	type tally struct{ accept, reject int }
	fams := map[string]*tally{}
	check := func(family string, pub, msg, sig []byte) {
		t.Helper()
		want := len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, msg, sig)
		got := verifySig(pub, msg, sig)
		gotExp := verifyExpanded(expandedKey(pub), msg, sig)
		if got != want || gotExp != want {
			t.Errorf("%s: A=%x R=%x S=%x msg=%x: crypto/ed25519 %v, voi %v, voi expanded %v",
				family, pub, sig[:min(32, len(sig))], sig[min(32, len(sig)):], msg, want, got, gotExp)
		}
		f := fams[family]
		if f == nil {
			f = &tally{}
			fams[family] = f
		}
		if want {
			f.accept++
		} else {
			f.reject++
		}
	}

	// The twelve vectors of "Taming the many EdDSAs" (ed25519-speccheck,
	// cases.json), as published: message, A, R || S.
	for i, v := range tamingVectors {
		msg, pub := mustUnhex(t, v[0]), mustUnhex(t, v[1])
		sig, err := hex.DecodeString(v[2])
		if err != nil {
			// Case 7 is published with one hex digit too many:
			// check its first 64 bytes as well as the odd length.
			sig = mustUnhex(t, v[2][:128])
			check("taming", pub, msg, append(bytes.Clone(sig), 0x22))
		}
		check(fmt.Sprintf("taming %d", i), pub, msg, sig)
		check("taming", pub, msg, sig)
	}

	// Small-order points, each encoded canonically and in every
	// non-canonical way (y ≥ p, and the sign bit set where x = 0), and
	// a few points of large order with a non-canonical y.
	torsion := torsionPoints(t)
	if len(torsion) != 8 {
		t.Fatalf("found %d small-order points, want 8", len(torsion))
	}
	if !bytes.Equal(torsion[0].encode(), mustUnhex(t, "0100000000000000000000000000000000000000000000000000000000000000")) {
		t.Fatal("torsion[0] is not the identity")
	}
	var encs [][]byte
	for _, p := range torsion {
		encs = append(encs, p.encode())
	}
	// One of the published order-8 encodings, as a check on the
	// construction.
	if !slices.ContainsFunc(encs, func(e []byte) bool {
		return bytes.Equal(e, mustUnhex(t, "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"))
	}) {
		t.Fatal("the small-order points miss 26e8958f…fc05")
	}
	for y := int64(0); y < 19; y++ {
		for _, sign := range []byte{0, 0x80} {
			e := leBytes(new(big.Int).Add(fieldP, big.NewInt(y)))
			e[31] |= sign
			encs = append(encs, e) // decodable or not: the verifiers decide
		}
	}
	for _, y := range []*big.Int{big.NewInt(1), new(big.Int).Sub(fieldP, big.NewInt(1))} {
		e := leBytes(y)
		e[31] |= 0x80 // x = 0 with the sign bit set ("negative zero")
		encs = append(encs, e)
	}
	for _, msg := range [][]byte{[]byte("Zcash"), []byte("mandate"), {}} {
		for _, a := range encs {
			for _, r := range encs {
				// S = 0: [0]B = R + [k]A holds exactly when R = -[k]A.
				check("small-order grid", a, msg, append(bytes.Clone(r), make([]byte, 32)...))
			}
		}
	}
	// The same grid with S = L and S = L + 1: non-canonical S, whose
	// value mod L would satisfy the equation above.
	for _, s := range []*big.Int{groupL, new(big.Int).Add(groupL, big.NewInt(1))} {
		for _, a := range encs[:8] {
			for _, r := range encs[:8] {
				check("non-canonical S grid", a, []byte("Zcash"), append(bytes.Clone(r), leBytes(s)...))
			}
		}
	}

	// Mixed-order keys A = [a]B + T and nonces R = [r]B + T': valid
	// Schnorr equations up to torsion, which the cofactorless check
	// accepts only when the torsion cancels.
	rng := mrand.New(mrand.NewPCG(1, 2))
	for ti, tp := range torsion {
		a := randScalar(rng)
		pa := basePoint.mul(a).add(tp)
		aEnc := pa.encode()
		for m := range 24 {
			msg := []byte(fmt.Sprintf("mixed %d %d", ti, m))
			r := randScalar(rng)
			pr := basePoint.mul(r)
			if m%2 == 1 {
				pr = pr.add(torsion[m%8])
			}
			rEnc := pr.encode()
			k := hram(rEnc, aEnc, msg)
			s := new(big.Int).Mul(k, a)
			s.Add(s, r).Mod(s, groupL)
			sig := append(bytes.Clone(rEnc), leBytes(s)...)
			check("mixed order", aEnc, msg, sig)
			// Non-canonical S: s + L encodes the same scalar mod L.
			check("non-canonical S", aEnc, msg, append(bytes.Clone(rEnc), leBytes(new(big.Int).Add(s, groupL))...))
			// Torsion-free signatures by the same private scalar,
			// under the mixed-order key.
			if m == 0 {
				clean := basePoint.mul(a).encode()
				kc := hram(rEnc, clean, msg)
				sc := new(big.Int).Mul(kc, a)
				sc.Add(sc, r).Mod(sc, groupL)
				check("mixed order", aEnc, msg, append(bytes.Clone(rEnc), leBytes(sc)...))
			}
		}
	}

	// Random keys and signatures, and every single-bit corruption of a
	// few of them.
	for i := range 64 {
		seed := make([]byte, 32)
		for j := range seed {
			seed[j] = byte(rng.Uint32())
		}
		priv := ed25519.NewKeyFromSeed(seed)
		pub := priv.Public().(ed25519.PublicKey)
		if got := publicFromSeed(seed); !bytes.Equal(got, pub) {
			t.Fatalf("publicFromSeed(%x) = %x, crypto/ed25519 derives %x", seed, got, pub)
		}
		msg := []byte(fmt.Sprintf("random %d", i))
		sig := ed25519.Sign(priv, msg)
		check("random", pub, msg, sig)
		check("random", pub, append(msg, 0), sig)
		if i < 4 {
			for bit := range 8 * len(sig) {
				bad := bytes.Clone(sig)
				bad[bit/8] ^= 1 << (bit % 8)
				check("random", pub, msg, bad)
			}
			for bit := range 8 * len(pub) {
				bad := bytes.Clone(pub)
				bad[bit/8] ^= 1 << (bit % 8)
				check("random", bad, msg, sig)
			}
		}
	}
	check("random", make([]byte, 31), nil, make([]byte, 64))
	check("random", make([]byte, 32), nil, make([]byte, 63))

	for _, name := range []string{"taming", "small-order grid", "mixed order", "random"} {
		f := fams[name]
		if f == nil || f.accept == 0 || f.reject == 0 {
			t.Errorf("family %q: %+v; want both accepted and rejected signatures", name, f)
		}
	}
	for _, name := range []string{"non-canonical S", "non-canonical S grid"} {
		if f := fams[name]; f == nil || f.accept != 0 {
			t.Errorf("family %q: %+v; crypto/ed25519 never accepts a non-canonical S", name, f)
		}
	}
	t.Logf("families (crypto/ed25519 accept/reject): %v", func() string {
		var b bytes.Buffer
		for k, v := range fams {
			fmt.Fprintf(&b, "%s %d/%d; ", k, v.accept, v.reject)
		}
		return b.String()
	}())
}

// tamingVectors: message, public key, signature, hex, from
// https://github.com/novifinancial/ed25519-speccheck (cases.json).
var tamingVectors = [][3]string{
	{"8c93255d71dcab10e8f379c26200f3c7bd5f09d9bc3068d3ef4edeb4853022b6", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a0000000000000000000000000000000000000000000000000000000000000000"},
	{"9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04"},
	{"aebf3f2601a0c8c5d39cc7d8911642f740b78168218da8471772b35f9d35b9ab", "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa8c4bd45aecaca5b24fb97bc10ac27ac8751a7dfe1baff8b953ec9f5833ca260e"},
	{"9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79", "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d", "9046a64750444938de19f227bb80485e92b83fdb4b6506c160484c016cc1852f87909e14428a7a1d62e9f22f3d3ad7802db02eb2e688b6c52fcd6648a98bd009"},
	{"e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c", "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d", "160a1cb0dc9c0258cd0a7d23e94d8fa878bcb1925f2c64246b2dee1796bed5125ec6bc982a269b723e0668e540911a9a6a58921d6925e434ab10aa7940551a09"},
	{"e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c", "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d", "21122a84e0b5fca4052f5b1235c80a537878b38f3142356b2c2384ebad4668b7e40bc836dac0f71076f9abe3a53f9c03c1ceeeddb658d0030494ace586687405"},
	{"85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40", "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623", "e96f66be976d82e60150baecff9906684aebb1ef181f67a7189ac78ea23b6c0e547f7690a0e2ddcd04d87dbc3490dc19b3b3052f7ff0538cb68afb369ba3a514"},
	{"85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40", "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623", "8ce5b96c8f26d0ab6c47958c9e68b937104cd36e13c33566acd2fe8d38aa19427e71f98a4734e74f2f13f06f97c20d58cc3f54b8bd0d272f42b695dd7e89a8c22"},
	{"9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41", "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff03be9678ac102edcd92b0210bb34d7428d12ffc5df5f37e359941266a4e35f0f"},
	{"9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41", "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffca8c5b64cd208982aa38d4936621a4775aa233aa0505711d8fdcfdaa943d4908"},
	{"e96b7021eb39c1a163b6da4e3093dcd3f21387da4cc4572be588fafae23c155b", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dca5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04"},
	{"39a591f5321bbe07fd5a23dc2f39d025d74526615746727ceefd6e82ae65c06f", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dca5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04"},
}

func mustUnhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A textbook edwards25519 in math/big, independent of both verifiers under
// test, used only to construct vectors.

var (
	fieldP = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	groupL = func() *big.Int {
		l, _ := new(big.Int).SetString("27742317777372353535851937790883648493", 10)
		return l.Add(l, new(big.Int).Lsh(big.NewInt(1), 252))
	}()
	curveD = func() *big.Int {
		d := new(big.Int).ModInverse(big.NewInt(121666), fieldP)
		d.Mul(d, big.NewInt(-121665))
		return d.Mod(d, fieldP)
	}()
	sqrtM1  = new(big.Int).Exp(big.NewInt(2), new(big.Int).Rsh(new(big.Int).Sub(fieldP, big.NewInt(1)), 2), fieldP)
	identit = edPoint{big.NewInt(0), big.NewInt(1)}
	// basePoint has y = 4/5 and an even x.
	basePoint = func() edPoint {
		y := new(big.Int).ModInverse(big.NewInt(5), fieldP)
		y.Mul(y, big.NewInt(4)).Mod(y, fieldP)
		p, ok := decodePoint(leBytes(y))
		if !ok {
			panic("base point")
		}
		return p
	}()
)

type edPoint struct{ x, y *big.Int }

func (p edPoint) add(q edPoint) edPoint {
	x1y2 := new(big.Int).Mul(p.x, q.y)
	y1x2 := new(big.Int).Mul(p.y, q.x)
	x1x2 := new(big.Int).Mul(p.x, q.x)
	y1y2 := new(big.Int).Mul(p.y, q.y)
	dxy := new(big.Int).Mul(curveD, x1x2)
	dxy.Mul(dxy, y1y2).Mod(dxy, fieldP)
	xn := new(big.Int).Add(x1y2, y1x2)
	xd := new(big.Int).Add(big.NewInt(1), dxy)
	yn := new(big.Int).Add(y1y2, x1x2) // a = -1
	yd := new(big.Int).Sub(big.NewInt(1), dxy)
	x := xn.Mul(xn, xd.ModInverse(xd.Mod(xd, fieldP), fieldP)).Mod(xn, fieldP)
	y := yn.Mul(yn, yd.ModInverse(yd.Mod(yd, fieldP), fieldP)).Mod(yn, fieldP)
	return edPoint{x, y}
}

func (p edPoint) mul(k *big.Int) edPoint {
	r := identit
	for i := k.BitLen() - 1; i >= 0; i-- {
		r = r.add(r)
		if k.Bit(i) == 1 {
			r = r.add(p)
		}
	}
	return r
}

func (p edPoint) encode() []byte {
	b := leBytes(p.y)
	b[31] |= byte(p.x.Bit(0)) << 7
	return b
}

// decodePoint decodes a canonical encoding.
func decodePoint(b []byte) (edPoint, bool) {
	e := bytes.Clone(b)
	sign := e[31] >> 7
	e[31] &= 0x7f
	y := fromLE(e)
	if y.Cmp(fieldP) >= 0 {
		return edPoint{}, false
	}
	y2 := new(big.Int).Mul(y, y)
	u := new(big.Int).Sub(y2, big.NewInt(1))
	v := new(big.Int).Mul(curveD, y2)
	v.Add(v, big.NewInt(1))
	xx := u.Mul(u, v.ModInverse(v.Mod(v, fieldP), fieldP)).Mod(u, fieldP)
	x := new(big.Int).Exp(xx, new(big.Int).Rsh(new(big.Int).Add(fieldP, big.NewInt(3)), 3), fieldP)
	if new(big.Int).Mod(new(big.Int).Mul(x, x), fieldP).Cmp(xx) != 0 {
		x.Mul(x, sqrtM1).Mod(x, fieldP)
	}
	if new(big.Int).Mod(new(big.Int).Mul(x, x), fieldP).Cmp(xx) != 0 {
		return edPoint{}, false
	}
	if x.Sign() == 0 && sign == 1 {
		return edPoint{}, false
	}
	if byte(x.Bit(0)) != sign {
		x.Sub(fieldP, x)
	}
	return edPoint{x, y}, true
}

// torsionPoints returns the eight points of small order, [L]P for random
// points P until all are found, the identity first.
func torsionPoints(t *testing.T) []edPoint {
	t.Helper()
	out := []edPoint{identit}
	seen := map[string]bool{string(identit.encode()): true}
	rng := mrand.New(mrand.NewPCG(3, 4))
	for tries := 0; len(out) < 8 && tries < 2000; tries++ {
		e := make([]byte, 32)
		for i := range e {
			e[i] = byte(rng.Uint32())
		}
		e[31] &= 0x7f
		p, ok := decodePoint(e)
		if !ok {
			continue
		}
		q := p.mul(groupL)
		if k := string(q.encode()); !seen[k] {
			seen[k] = true
			out = append(out, q)
		}
	}
	return out
}

func randScalar(rng *mrand.Rand) *big.Int {
	b := make([]byte, 64)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return fromLE(b).Mod(fromLE(b), groupL)
}

func hram(r, a, msg []byte) *big.Int {
	h := sha512.New()
	h.Write(r)
	h.Write(a)
	h.Write(msg)
	k := fromLE(h.Sum(nil))
	return k.Mod(k, groupL)
}

func leBytes(x *big.Int) []byte {
	be := x.FillBytes(make([]byte, 32))
	for i, j := 0, 31; i < j; i, j = i+1, j-1 {
		be[i], be[j] = be[j], be[i]
	}
	return be
}

func fromLE(b []byte) *big.Int {
	be := bytes.Clone(b)
	for i, j := 0, len(be)-1; i < j; i, j = i+1, j-1 {
		be[i], be[j] = be[j], be[i]
	}
	return new(big.Int).SetBytes(be)
}
