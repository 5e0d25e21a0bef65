//go:build unix

package authority_test

import (
	"syscall"
	"time"
)

// processCPU is the CPU time the process has used (user and system), so
// that a benchmark can tell its own work from what other processes take on
// a shared machine. 0 where unavailable.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
