package token

import (
	"bytes"
	"math"

	"github.com/biscuit-auth/biscuit-go/v2/pb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// unmarshalContainer is proto.Unmarshal(raw, c) for a token container. It
// reads the canonical form directly (what every Biscuit library writes:
// each singular field once, the wire types of the schema, no unknown
// fields, every required field, algorithm Ed25519, one proof content)
// and hands anything else to proto.Unmarshal, so the result and every
// error are proto.Unmarshal's: the direct reading is only taken where it
// gives the very message proto.Unmarshal gives (TestContainerDifferential
// and FuzzContainer hold it to that), and outside it nothing changed.
func unmarshalContainer(raw []byte) (*pb.Biscuit, error) {
	if c := canonicalContainer(raw); c != nil {
		return c, nil
	}
	c := new(pb.Biscuit)
	if err := proto.Unmarshal(raw, c); err != nil {
		return nil, err
	}
	return c, nil
}

// canonicalContainer reads raw when it is in canonical form, and returns
// nil otherwise. The bytes fields share one copy of raw (as proto.Unmarshal
// they never alias the caller's buffer, which may change after Parse).
func canonicalContainer(raw []byte) *pb.Biscuit { return canonicalOwned(bytes.Clone(raw)) }

// canonicalOwned is canonicalContainer on a buffer the caller gives away:
// the bytes fields alias raw, which nothing may change afterwards.
func canonicalOwned(raw []byte) *pb.Biscuit {
	c := new(pb.Biscuit)
	var seen uint8
	for len(raw) > 0 {
		num, typ, n := protowire.ConsumeTag(raw)
		if n < 0 {
			return nil
		}
		raw = raw[n:]
		switch {
		case num == 1 && typ == protowire.VarintType && seen&1 == 0:
			x, m := protowire.ConsumeVarint(raw)
			if m < 0 || x > math.MaxUint32 {
				return nil
			}
			raw = raw[m:]
			id := uint32(x)
			c.RootKeyId = &id
			seen |= 1
		case (num == 2 || num == 3 || num == 4) && typ == protowire.BytesType:
			v, m := protowire.ConsumeBytes(raw)
			if m < 0 {
				return nil
			}
			raw = raw[m:]
			switch num {
			case 2, 3:
				if num == 2 && seen&2 != 0 {
					return nil
				}
				sb := canonicalSignedBlock(v)
				if sb == nil {
					return nil
				}
				if num == 2 {
					c.Authority = sb
					seen |= 2
				} else {
					if c.Blocks == nil {
						c.Blocks = make([]*pb.SignedBlock, 0, 4)
					}
					c.Blocks = append(c.Blocks, sb)
				}
			default:
				if seen&4 != 0 {
					return nil
				}
				p := canonicalProof(v)
				if p == nil {
					return nil
				}
				c.Proof = p
				seen |= 4
			}
		default:
			return nil
		}
	}
	if seen&6 != 6 {
		return nil
	}
	return c
}

// signedBlockKey holds a signed block and its next key.
type signedBlockKey struct {
	sb  pb.SignedBlock
	key pb.PublicKey
}

// canonicalSignedBlock reads SignedBlock { required bytes block = 1;
// required PublicKey nextKey = 2; required bytes signature = 3; }, each
// field once.
func canonicalSignedBlock(b []byte) *pb.SignedBlock {
	pair := new(signedBlockKey) // one allocation for the block and its key
	sb := &pair.sb
	var seen uint8
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || typ != protowire.BytesType || num < 1 || num > 3 || seen&(1<<num) != 0 {
			return nil
		}
		seen |= 1 << num
		v, m := protowire.ConsumeBytes(b[n:])
		if m < 0 {
			return nil
		}
		b = b[n+m:]
		v = v[:len(v):len(v)]
		switch num {
		case 1:
			sb.Block = v
		case 2:
			if !canonicalPublicKey(&pair.key, v) {
				return nil
			}
			sb.NextKey = &pair.key
		default:
			sb.Signature = v
		}
	}
	if seen != 0b1110 {
		return nil
	}
	return sb
}

// canonicalPublicKey reads PublicKey { required Algorithm algorithm = 1;
// required bytes key = 2; } with algorithm Ed25519 (0), the only value of
// Biscuit v3's closed enum: proto.Unmarshal keeps any other as an unknown
// field.
func canonicalPublicKey(k *pb.PublicKey, b []byte) bool {
	var seen uint8
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.VarintType && seen&1 == 0:
			x, m := protowire.ConsumeVarint(b)
			if m < 0 || x != 0 {
				return false
			}
			b = b[m:]
			alg := pb.PublicKey_Ed25519
			k.Algorithm = &alg
			seen |= 1
		case num == 2 && typ == protowire.BytesType && seen&2 == 0:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return false
			}
			b = b[m:]
			k.Key = v[:len(v):len(v)]
			seen |= 2
		default:
			return false
		}
	}
	return seen == 3
}

// canonicalProof reads Proof { oneof { bytes nextSecret = 1; bytes
// finalSignature = 2; } } holding exactly one of the two.
func canonicalProof(b []byte) *pb.Proof {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 || typ != protowire.BytesType || (num != 1 && num != 2) {
		return nil
	}
	v, m := protowire.ConsumeBytes(b[n:])
	if m < 0 || n+m != len(b) {
		return nil
	}
	v = v[:len(v):len(v)]
	if num == 1 {
		return &pb.Proof{Content: &pb.Proof_NextSecret{NextSecret: v}}
	}
	return &pb.Proof{Content: &pb.Proof_FinalSignature{FinalSignature: v}}
}

// appendContainer appends c as proto.Marshal writes it (fields in number
// order), for a container that is complete and has no unknown fields: one
// that Parse accepted, or that canonicalContainer read, or made of their
// parts (TestAppendContainer and FuzzContainer hold it to proto.Marshal).
func appendContainer(b []byte, c *pb.Biscuit) []byte {
	if c.RootKeyId != nil {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(*c.RootKeyId))
	}
	b = appendSignedBlock(b, 2, c.Authority)
	for _, sb := range c.Blocks {
		b = appendSignedBlock(b, 3, sb)
	}
	b = protowire.AppendTag(b, 4, protowire.BytesType)
	switch p := c.Proof.Content.(type) {
	case *pb.Proof_NextSecret:
		b = protowire.AppendVarint(b, uint64(protowire.SizeTag(1)+protowire.SizeBytes(len(p.NextSecret))))
		b = protowire.AppendBytes(protowire.AppendTag(b, 1, protowire.BytesType), p.NextSecret)
	case *pb.Proof_FinalSignature:
		b = protowire.AppendVarint(b, uint64(protowire.SizeTag(2)+protowire.SizeBytes(len(p.FinalSignature))))
		b = protowire.AppendBytes(protowire.AppendTag(b, 2, protowire.BytesType), p.FinalSignature)
	default:
		b = protowire.AppendVarint(b, 0)
	}
	return b
}

func appendSignedBlock(b []byte, num protowire.Number, sb *pb.SignedBlock) []byte {
	keySize := protowire.SizeTag(1) + protowire.SizeVarint(uint64(sb.NextKey.GetAlgorithm())) +
		protowire.SizeTag(2) + protowire.SizeBytes(len(sb.NextKey.Key))
	size := protowire.SizeTag(1) + protowire.SizeBytes(len(sb.Block)) +
		protowire.SizeTag(2) + protowire.SizeBytes(keySize) +
		protowire.SizeTag(3) + protowire.SizeBytes(len(sb.Signature))
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	b = protowire.AppendBytes(protowire.AppendTag(b, 1, protowire.BytesType), sb.Block)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(keySize))
	b = protowire.AppendVarint(protowire.AppendTag(b, 1, protowire.VarintType), uint64(sb.NextKey.GetAlgorithm()))
	b = protowire.AppendBytes(protowire.AppendTag(b, 2, protowire.BytesType), sb.NextKey.Key)
	return protowire.AppendBytes(protowire.AppendTag(b, 3, protowire.BytesType), sb.Signature)
}

// containerSize is len(appendContainer(nil, c)).
func containerSize(c *pb.Biscuit) int {
	n := 0
	if c.RootKeyId != nil {
		n += protowire.SizeTag(1) + protowire.SizeVarint(uint64(*c.RootKeyId))
	}
	n += signedBlockSize(c.Authority)
	for _, sb := range c.Blocks {
		n += signedBlockSize(sb)
	}
	p := 0
	switch c := c.Proof.Content.(type) {
	case *pb.Proof_NextSecret:
		p = protowire.SizeTag(1) + protowire.SizeBytes(len(c.NextSecret))
	case *pb.Proof_FinalSignature:
		p = protowire.SizeTag(2) + protowire.SizeBytes(len(c.FinalSignature))
	}
	return n + protowire.SizeTag(4) + protowire.SizeBytes(p)
}

func signedBlockSize(sb *pb.SignedBlock) int {
	keySize := protowire.SizeTag(1) + protowire.SizeVarint(uint64(sb.NextKey.GetAlgorithm())) +
		protowire.SizeTag(2) + protowire.SizeBytes(len(sb.NextKey.Key))
	size := protowire.SizeTag(1) + protowire.SizeBytes(len(sb.Block)) +
		protowire.SizeTag(2) + protowire.SizeBytes(keySize) +
		protowire.SizeTag(3) + protowire.SizeBytes(len(sb.Signature))
	return protowire.SizeTag(2) + protowire.SizeBytes(size)
}
