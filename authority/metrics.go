package authority

import (
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
)

// The /metrics endpoint writes the Prometheus text exposition format by
// hand: three counters, a gauge and one histogram family do not justify
// prometheus/client_golang and its dependency tree (the authority would
// otherwise pull in protobuf-based expfmt, procfs and more for a few dozen
// lines of text).

// latencyBuckets are the upper bounds (seconds) of the request latency
// histogram; the last ones cover long-polls of the revocation feed.
var latencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

type histogram struct {
	counts []atomic.Uint64 // one per bucket, then +Inf
	sumNs  atomic.Uint64
}

func (h *histogram) observe(d time.Duration) {
	s := d.Seconds()
	i := sort.SearchFloat64s(latencyBuckets, s) // first bound >= s
	h.counts[i].Add(1)
	h.sumNs.Add(uint64(max(d, 0)))
}

type httpMetrics struct {
	mu     sync.RWMutex
	routes map[string]*histogram
}

func newHTTPMetrics() *httpMetrics { return &httpMetrics{routes: map[string]*histogram{}} }

func (m *httpMetrics) route(r string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.routes[r] == nil {
		m.routes[r] = &histogram{counts: make([]atomic.Uint64, len(latencyBuckets)+1)}
	}
}

func (m *httpMetrics) observe(route string, d time.Duration) {
	m.mu.RLock()
	h := m.routes[route]
	m.mu.RUnlock()
	if h == nil {
		m.mu.RLock()
		h = m.routes[routeUnmatched]
		m.mu.RUnlock()
	}
	h.observe(d)
}

// GET /metrics (public; it reveals only counts).
func (h *handler) serveMetrics(c *gin.Context) {
	var b strings.Builder
	st := h.a.Stats()
	counter := func(name, help string, v uint64) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	gauge := func(name, help string, v int64) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n%s %d\n", name, help, name, name, v)
	}
	counter("mandate_mints_total", "Tokens minted.", st.Mints.Load())
	counter("mandate_revocations_total", "New entries appended to the revocation log.", st.Revocations.Load())
	counter("mandate_storage_batches_total", "Storage transactions committed by the group-commit writer.", st.Batches.Load())
	gauge("mandate_feed_followers", "Revocation feed long-polls currently waiting (connected followers).", st.FeedFollowers.Load())
	counter("mandate_connections_refused_total", "Connections refused (503) over a per-client or total connection cap.", st.ConnsRefused.Load())
	counter("mandate_feed_long_polls_capped_total", "Feed long-polls answered at once because a per-client or total cap was reached.", h.polls.refused.Load())
	gauge("mandate_revocation_log_last_seq", "Last sequence number of the revocation log.", int64(min(h.a.LastSeq(), math.MaxInt64)))

	const name = "mandate_http_request_duration_seconds"
	fmt.Fprintf(&b, "# HELP %s HTTP request latency by route.\n# TYPE %s histogram\n", name, name)
	h.metrics.mu.RLock()
	routes := make([]string, 0, len(h.metrics.routes))
	for r := range h.metrics.routes {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	for _, r := range routes {
		hist := h.metrics.routes[r]
		label := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(r)
		var cum uint64
		for i, le := range latencyBuckets {
			cum += hist.counts[i].Load()
			fmt.Fprintf(&b, "%s_bucket{route=\"%s\",le=\"%g\"} %d\n", name, label, le, cum)
		}
		cum += hist.counts[len(latencyBuckets)].Load()
		fmt.Fprintf(&b, "%s_bucket{route=\"%s\",le=\"+Inf\"} %d\n", name, label, cum)
		fmt.Fprintf(&b, "%s_sum{route=\"%s\"} %g\n", name, label, float64(hist.sumNs.Load())/1e9)
		fmt.Fprintf(&b, "%s_count{route=\"%s\"} %d\n", name, label, cum)
	}
	h.metrics.mu.RUnlock()
	c.Data(http.StatusOK, "text/plain; version=0.0.4; charset=utf-8", []byte(b.String()))
}
