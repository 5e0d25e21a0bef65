// Package cputime reads CPU time for benchmarks on a shared machine: a
// benchmark that locks its goroutine to its thread (runtime.LockOSThread)
// times its own work with [Thread], leaving out the time other processes
// take, which wall time counts.
package cputime
