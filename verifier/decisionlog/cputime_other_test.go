//go:build !linux

package decisionlog_test

import "time"

func threadCPU() time.Duration { return 0 }
