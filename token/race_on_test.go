//go:build race

package token_test

// raceEnabled lets the slowest exhaustive tests do less under the race
// detector, which makes Ed25519 about ten times slower and finds nothing in
// single-goroutine loops.
const raceEnabled = true
