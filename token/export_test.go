package token

import "github.com/biscuit-auth/biscuit-go/v2/pb"

// CanonicalContainer exposes canonicalContainer to the differential tests.
var CanonicalContainer = canonicalContainer

// AppendContainer exposes appendContainer and containerSize to the
// differential tests.
func AppendContainer(c *pb.Biscuit) ([]byte, int) { return appendContainer(nil, c), containerSize(c) }

// DecodeLimits exposes the decoder's limits to the arena test.
var DecodeLimits = &decodeLimits
