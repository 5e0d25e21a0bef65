package verifier

import (
	"time"

	"github.com/mandate-dev/mandate/internal/cputime"
)

// threadCPU is the CPU time the calling thread has used (0 where
// unavailable). A benchmark that locks its goroutine to its thread can time
// its own work with it, leaving out the time other processes take on a
// shared machine.
func threadCPU() time.Duration { return cputime.Thread() }
