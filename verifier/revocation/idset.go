package revocation

// ed25519IDLen is the length of the revocation ID of an Ed25519-signed
// block: its signature.
const ed25519IDLen = 64

// idSet maps revocation IDs to what Memory keeps about them. Nearly every
// ID is a 64-byte Ed25519 signature: those are keyed by value, as arrays,
// so the map holds no pointers (the garbage collector never scans it) and
// adding one allocates nothing but map space. IDs of any other length go in
// a map keyed by string. Neither lookup allocates.
type idSet struct {
	ed    map[[ed25519IDLen]byte]memEntry
	other map[string]memEntry
}

func newIDSet() idSet {
	return idSet{
		ed:    make(map[[ed25519IDLen]byte]memEntry),
		other: make(map[string]memEntry),
	}
}

func (s *idSet) get(id []byte) (memEntry, bool) {
	if len(id) == ed25519IDLen {
		e, ok := s.ed[[ed25519IDLen]byte(id)]
		return e, ok
	}
	e, ok := s.other[string(id)]
	return e, ok
}

func (s *idSet) has(id []byte) bool {
	_, ok := s.get(id)
	return ok
}

func (s *idSet) put(id []byte, e memEntry) {
	if len(id) == ed25519IDLen {
		s.ed[[ed25519IDLen]byte(id)] = e
		return
	}
	s.other[string(id)] = e
}

func (s *idSet) del(id []byte) {
	if len(id) == ed25519IDLen {
		delete(s.ed, [ed25519IDLen]byte(id))
		return
	}
	delete(s.other, string(id))
}

func (s *idSet) len() int {
	return len(s.ed) + len(s.other)
}

// expired returns the IDs whose entries expire before n.
func (s *idSet) expired(n int64) [][]byte {
	var out [][]byte
	for k, e := range s.ed {
		if e.exp < n {
			out = append(out, k[:])
		}
	}
	for k, e := range s.other {
		if e.exp < n {
			out = append(out, []byte(k))
		}
	}
	return out
}
