//go:build linux

package cputime

import (
	"syscall"
	"time"
	"unsafe"
)

// Thread is the CPU time the calling thread has used
// (CLOCK_THREAD_CPUTIME_ID), or 0 where unavailable.
func Thread() time.Duration {
	const clockThreadCPUTimeID = 3
	var ts syscall.Timespec
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}
