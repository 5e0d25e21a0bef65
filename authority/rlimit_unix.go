//go:build unix

package authority

import "syscall"

// raiseFileLimit raises the soft RLIMIT_NOFILE to the hard limit (Go's
// runtime does this at start on most systems; doing it here makes it
// explicit and covers embedders that lowered it) and returns the soft
// limit, or 0 when it cannot be read.
func raiseFileLimit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = raised.Max
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
			lim = raised
		}
	}
	return uint64(lim.Cur)
}
