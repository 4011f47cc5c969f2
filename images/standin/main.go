// Command standin impersonates a KGoT platform service (controller,
// graph-store, ...) on a local Kubernetes node: a JSON work endpoint with
// configurable error ratio, latency and CPU cost, health probes, and
// hand-written Prometheus metrics. See config.go for the environment contract.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// shutdownTimeout bounds http.Server.Shutdown after the drain delay.
const shutdownTimeout = 10 * time.Second

func main() {
	cfg, err := LoadConfig(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "standin:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(cfg.Port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "standin:", err)
		os.Exit(1)
	}
	os.Exit(Run(ctx, cfg, ln, os.Stdout))
}

// Run serves on ln until ctx is done, then drains and shuts down. It returns
// the process exit code.
func Run(ctx context.Context, cfg Config, ln net.Listener, log io.Writer) int {
	s := NewServer(cfg, time.Now())
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       90 * time.Second,
	}
	fmt.Fprintf(log, "standin: service=%s color=%s version=%s release=%s pod=%s port=%d error_ratio=%g extra_latency=%s work=%d drain=%s\n",
		cfg.Service, cfg.Color, cfg.Version, cfg.Release, cfg.Pod, cfg.Port, cfg.ErrorRatio, cfg.ExtraLatency, cfg.Work, cfg.Drain)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		fmt.Fprintln(log, "standin: serve:", err)
		return 1
	case <-ctx.Done():
	}

	// Not ready from now on; keep serving while the endpoint is removed.
	s.draining.Store(true)
	fmt.Fprintf(log, "standin: shutting down, not ready, draining for %s\n", cfg.Drain)
	t := time.NewTimer(cfg.Drain)
	select {
	case <-t.C:
	case err := <-served:
		t.Stop()
		fmt.Fprintln(log, "standin: serve:", err)
		return 1
	}

	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		fmt.Fprintln(log, "standin: shutdown:", err)
		return 1
	}
	fmt.Fprintln(log, "standin: stopped")
	return 0
}

// Server is the stand-in's HTTP handler.
type Server struct {
	cfg      Config
	metrics  *Metrics
	mux      *http.ServeMux
	draining atomic.Bool
	// Readiness switched off by hand (POST /health/ready/disable), as
	// podinfo's /readyz/disable: a colour whose pods stay up but drop out of
	// their Services, for tests of what notices an unhealthy colour.
	unready atomic.Bool
	n       atomic.Uint64 // work requests seen, for the error choice

	okBody, errBody []byte
	work            []byte
}

// NewServer builds the handler; start is reported as the process start time.
func NewServer(cfg Config, start time.Time) *Server {
	s := &Server{cfg: cfg, metrics: NewMetrics(cfg, start), mux: http.NewServeMux()}
	type body struct {
		Service string `json:"service"`
		Color   string `json:"color"`
		Version string `json:"version"`
		Release string `json:"release"`
		Pod     string `json:"pod"`
		Error   string `json:"error,omitempty"`
	}
	b := body{cfg.Service, cfg.Color, cfg.Version, cfg.Release, cfg.Pod, ""}
	s.okBody, _ = json.Marshal(b)
	b.Error = "injected failure (STANDIN_ERROR_RATIO=" + strconv.FormatFloat(cfg.ErrorRatio, 'g', -1, 64) + ")"
	s.errBody, _ = json.Marshal(b)
	s.okBody = append(s.okBody, '\n')
	s.errBody = append(s.errBody, '\n')
	s.work = make([]byte, workBufSize)
	for i := range s.work {
		s.work[i] = byte(i)
	}

	s.mux.HandleFunc("/health/ready", s.ready)
	s.mux.HandleFunc("POST /health/ready/disable", func(w http.ResponseWriter, r *http.Request) {
		s.unready.Store(true)
		io.WriteString(w, "readiness disabled\n")
	})
	s.mux.HandleFunc("POST /health/ready/enable", func(w http.ResponseWriter, r *http.Request) {
		s.unready.Store(false)
		io.WriteString(w, "readiness enabled\n")
	})
	s.mux.HandleFunc("/health/live", s.live)
	s.mux.HandleFunc("/metrics", s.serveMetrics)
	s.mux.HandleFunc("/", s.serveWork)
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "shutting down\n")
		return
	}
	if s.unready.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "readiness disabled\n")
		return
	}
	io.WriteString(w, "ok\n")
}

func (s *Server) live(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ok\n")
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.metrics.WriteTo(w)
}

// serveWork is the work endpoint: every path not listed above.
func (s *Server) serveWork(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	fail := shouldFail(s.n.Add(1)-1, s.cfg.ErrorRatio)

	burnCPU(s.work, s.cfg.Work)
	if d := s.cfg.ExtraLatency; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}

	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Kgot-Color", s.cfg.Color)
	h.Set("X-Kgot-Version", s.cfg.Version)
	h.Set("X-Kgot-Release", s.cfg.Release)
	if s.draining.Load() {
		// Make keep-alive clients reconnect, landing on a ready pod.
		h.Set("Connection", "close")
	}
	code, body := http.StatusOK, s.okBody
	if fail {
		code, body = http.StatusInternalServerError, s.errBody
	}
	w.WriteHeader(code)
	w.Write(body)
	s.metrics.Observe(r.Method, code, time.Since(start))
}

// shouldFail reports whether work request n (counting from 0) is answered
// 500: exactly when n*ratio crosses an integer, so after N requests exactly
// floor(N*ratio) have failed, evenly spread.
func shouldFail(n uint64, ratio float64) bool {
	if ratio <= 0 {
		return false
	}
	return math.Floor(float64(n+1)*ratio) > math.Floor(float64(n)*ratio)
}

// workBufSize is the buffer hashed STANDIN_WORK times per work request.
const workBufSize = 4096

var workSink atomic.Uint32

// burnCPU hashes buf rounds times, chaining the digests.
func burnCPU(buf []byte, rounds int) {
	if rounds <= 0 {
		return
	}
	var sum [sha256.Size]byte
	h := sha256.New()
	for i := 0; i < rounds; i++ {
		h.Reset()
		h.Write(sum[:])
		h.Write(buf)
		h.Sum(sum[:0])
	}
	workSink.Store(uint32(sum[0]))
}
