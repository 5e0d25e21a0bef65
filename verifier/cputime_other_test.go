//go:build !linux

package verifier

import "time"

// threadCPU is unavailable here: CPU-time metrics are left out.
func threadCPU() time.Duration { return 0 }
