package decisions

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Subscription is a live stream of newly stored decisions that match its
// filter and scope. C is closed when the subscription ends: Close, the
// log's Close, or falling more than a buffer behind (Lagged is then true;
// the reader reconnects and reads what it missed with Query).
type Subscription struct {
	C      <-chan *Decision
	c      chan *Decision
	f      Filter
	scope  Scope
	lagged atomic.Bool
	subs   *subscribers
}

// Lagged reports whether the stream ended because its reader fell behind.
func (s *Subscription) Lagged() bool { return s.lagged.Load() }

// Close ends the subscription. It is safe to call more than once.
func (s *Subscription) Close() { s.subs.remove(s) }

type subscribers struct {
	mu    sync.Mutex
	max   int
	set   map[*Subscription]struct{}
	stats *Stats
	shut  bool
}

// Subscribe starts a live stream of the decisions stored from now on that
// f selects (its time bounds are ignored) and scope covers. At most
// Config.MaxSubscribers streams are held at once (ErrBusy beyond).
func (l *Log) Subscribe(f Filter, scope Scope) (*Subscription, error) {
	if err := l.usable(); err != nil {
		return nil, err
	}
	if err := scopeCheck(&f, scope); err != nil {
		return nil, err
	}
	f.After, f.Before = time.Time{}, time.Time{}
	return l.subs.add(f, scope)
}

func (s *subscribers) add(f Filter, scope Scope) (*Subscription, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut {
		return nil, ErrClosed
	}
	if len(s.set) >= s.max {
		return nil, fmt.Errorf("%w (%d held); retry later", ErrBusy, s.max)
	}
	if s.set == nil {
		s.set = map[*Subscription]struct{}{}
	}
	c := make(chan *Decision, subscriberBuffer)
	sub := &Subscription{C: c, c: c, f: f, scope: scope, subs: s}
	s.set[sub] = struct{}{}
	s.stats.Subscribers.Add(1)
	return sub, nil
}

func (s *subscribers) removeLocked(sub *Subscription) {
	if _, ok := s.set[sub]; !ok {
		return
	}
	delete(s.set, sub)
	close(sub.c)
	s.stats.Subscribers.Add(-1)
}

func (s *subscribers) remove(sub *Subscription) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeLocked(sub)
}

// publish hands new decisions to every matching stream without ever
// waiting: a stream whose buffer is full is ended.
func (s *subscribers) publish(ds []*Decision) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sub := range s.set {
		for _, d := range ds {
			if !sub.f.match(d, sub.scope) {
				continue
			}
			select {
			case sub.c <- d:
				continue
			default:
			}
			sub.lagged.Store(true)
			s.stats.Lagged.Add(1)
			s.removeLocked(sub)
			break
		}
	}
}

func (s *subscribers) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shut = true
	for sub := range s.set {
		s.removeLocked(sub)
	}
}
