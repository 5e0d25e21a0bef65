package web

import (
	"sync"
	"time"
)

// limiter counts sign-in attempts per client IP (every attempt) and
// failures per name, in fixed windows. Memory is bounded: past
// maxLimiterKeys windows the expired ones are dropped, and if none has
// expired the map is reset (an attacker filling it gains a fresh window,
// not unlimited tries: each window still caps).
type limiter struct {
	mu sync.Mutex
	m  map[string]*window
}

type window struct {
	start time.Time
	n     int
}

func newLimiter() *limiter { return &limiter{m: make(map[string]*window)} }

// hit counts one event for key in a window of length d and returns the
// count and when the window ends.
func (l *limiter) hitLocked(key string, d time.Duration, now time.Time, add int) (int, time.Time) {
	w := l.m[key]
	if w == nil || !now.Before(w.start.Add(d)) {
		if len(l.m) >= maxLimiterKeys {
			l.sweepLocked(now)
		}
		w = &window{start: now}
		l.m[key] = w
	}
	w.n += add
	return w.n, w.start.Add(d)
}

func (l *limiter) sweepLocked(now time.Time) {
	for k, w := range l.m {
		if !now.Before(w.start.Add(FailureWindow)) {
			delete(l.m, k)
		}
	}
	if len(l.m) >= maxLimiterKeys {
		clear(l.m)
	}
}

// blocked counts an attempt from ip and reports how long the caller must
// wait before a sign-in as name or from ip is tried again (0: go ahead).
func (l *limiter) blocked(name, ip string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	if n, end := l.hitLocked("ip\x00"+ip, time.Minute, now, 1); n > MaxAttemptsPerIP {
		wait = end.Sub(now)
	}
	if n, end := l.hitLocked("name\x00"+name, FailureWindow, now, 0); n >= MaxFailuresPerName {
		wait = max(wait, end.Sub(now))
	}
	return wait
}

// fail counts a failed sign-in as name.
func (l *limiter) fail(name string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hitLocked("name\x00"+name, FailureWindow, now, 1)
}
