package main

import (
	"bufio"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// workPath is the single path label used for every work request, so that
// arbitrary request paths cannot blow up the series count.
const workPath = "/"

// buckets are the http_request_duration_seconds upper bounds (+Inf implied).
var buckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

type reqKey struct{ method, code string }

type histogram struct {
	counts []uint64 // per bucket, not cumulative; len(buckets)
	count  uint64
	sum    float64
}

// Metrics holds the work-request metrics. One mutex is plenty: a request
// holds it for a few map lookups.
type Metrics struct {
	mu       sync.Mutex
	requests map[reqKey]uint64
	duration map[string]*histogram // by method

	start time.Time
	info  [][2]string // kgot_standin_info labels, in order
}

// NewMetrics returns metrics with the GET 200 and GET 500 series present at
// zero, so that error-ratio queries see 0 rather than no data from the start.
func NewMetrics(c Config, start time.Time) *Metrics {
	m := &Metrics{
		requests: map[reqKey]uint64{},
		duration: map[string]*histogram{},
		start:    start,
		info: [][2]string{
			{"service", c.Service}, {"color", c.Color},
			{"version", c.Version}, {"release", c.Release},
		},
	}
	m.requests[reqKey{"GET", "200"}] = 0
	m.requests[reqKey{"GET", "500"}] = 0
	m.duration["GET"] = &histogram{counts: make([]uint64, len(buckets))}
	return m
}

// Observe records one finished work request.
func (m *Metrics) Observe(method string, code int, d time.Duration) {
	method = normMethod(method)
	sec := d.Seconds()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[reqKey{method, strconv.Itoa(code)}]++
	h := m.duration[method]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(buckets))}
		m.duration[method] = h
	}
	for i, le := range buckets {
		if sec <= le {
			h.counts[i]++
			break
		}
	}
	h.count++
	h.sum += sec
}

// normMethod bounds the method label to the standard methods.
func normMethod(m string) string {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE":
		return m
	}
	return "OTHER"
}

// WriteTo writes all metrics in the Prometheus text exposition format 0.0.4.
func (m *Metrics) WriteTo(out io.Writer) (int64, error) {
	w := &countWriter{w: bufio.NewWriter(out)}

	// Snapshot under the lock, format outside it.
	m.mu.Lock()
	reqKeys := make([]reqKey, 0, len(m.requests))
	reqVals := make(map[reqKey]uint64, len(m.requests))
	for k, v := range m.requests {
		reqKeys = append(reqKeys, k)
		reqVals[k] = v
	}
	methods := make([]string, 0, len(m.duration))
	hists := make(map[string]histogram, len(m.duration))
	for k, h := range m.duration {
		methods = append(methods, k)
		hists[k] = histogram{counts: append([]uint64(nil), h.counts...), count: h.count, sum: h.sum}
	}
	m.mu.Unlock()

	sort.Slice(reqKeys, func(i, j int) bool {
		if reqKeys[i].method != reqKeys[j].method {
			return reqKeys[i].method < reqKeys[j].method
		}
		return reqKeys[i].code < reqKeys[j].code
	})
	sort.Strings(methods)

	header(w, "http_requests_total", "counter", "Total HTTP requests to the work endpoint, by method, status code and path.")
	for _, k := range reqKeys {
		sample(w, "http_requests_total", [][2]string{{"method", k.method}, {"code", k.code}, {"path", workPath}}, float64(reqVals[k]))
	}

	header(w, "http_request_duration_seconds", "histogram", "Duration of HTTP requests to the work endpoint in seconds.")
	for _, meth := range methods {
		h := hists[meth]
		base := [][2]string{{"method", meth}, {"path", workPath}}
		var cum uint64
		for i, le := range buckets {
			cum += h.counts[i]
			sample(w, "http_request_duration_seconds_bucket", append(base[:2:2], [2]string{"le", formatFloat(le)}), float64(cum))
		}
		sample(w, "http_request_duration_seconds_bucket", append(base[:2:2], [2]string{"le", "+Inf"}), float64(h.count))
		sample(w, "http_request_duration_seconds_sum", base, h.sum)
		sample(w, "http_request_duration_seconds_count", base, float64(h.count))
	}

	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		cpu := float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
		header(w, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.")
		sample(w, "process_cpu_seconds_total", nil, cpu)
	}
	if rss, ok := residentBytes(); ok {
		header(w, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.")
		sample(w, "process_resident_memory_bytes", nil, float64(rss))
	}
	header(w, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.")
	sample(w, "process_start_time_seconds", nil, float64(m.start.UnixNano())/1e9)

	header(w, "kgot_standin_info", "gauge", "Identity of the KGoT stand-in service; always 1.")
	sample(w, "kgot_standin_info", m.info, 1)

	return w.n, w.flush()
}

// residentBytes reads the resident set size from /proc/self/statm.
func residentBytes() (uint64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * uint64(os.Getpagesize()), true
}

func header(w *countWriter, name, typ, help string) {
	w.str("# HELP " + name + " " + escapeHelp(help) + "\n")
	w.str("# TYPE " + name + " " + typ + "\n")
}

func sample(w *countWriter, name string, labels [][2]string, v float64) {
	w.str(name)
	if len(labels) > 0 {
		w.str("{")
		for i, l := range labels {
			if i > 0 {
				w.str(",")
			}
			w.str(l[0] + `="` + escapeLabel(l[1]) + `"`)
		}
		w.str("}")
	}
	w.str(" " + formatFloat(v) + "\n")
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

// escapeHelp escapes a HELP docstring: backslash and line feed.
func escapeHelp(s string) string { return helpEscaper.Replace(s) }

// escapeLabel escapes a label value: backslash, double quote and line feed.
func escapeLabel(s string) string { return labelEscaper.Replace(s) }

// formatFloat formats a sample value or bucket bound as Prometheus expects.
func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, +1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// countWriter counts bytes and keeps the first error.
type countWriter struct {
	w   *bufio.Writer
	n   int64
	err error
}

func (c *countWriter) str(s string) {
	if c.err != nil {
		return
	}
	n, err := c.w.WriteString(s)
	c.n += int64(n)
	c.err = err
}

func (c *countWriter) flush() error {
	if c.err != nil {
		return c.err
	}
	return c.w.Flush()
}
