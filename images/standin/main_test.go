package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func testConfig() Config {
	return Config{
		Port: 8080, Service: "controller", Color: "blue", Version: "1.2.0",
		Pod: "controller-blue-abc", Release: "1.2.1", Work: 0, Drain: 0,
	}
}

func do(t *testing.T, h http.Handler, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

func metricsText(t *testing.T, s *Server) string {
	t.Helper()
	rec := do(t, s, "GET", "/metrics")
	if rec.Code != 200 {
		t.Fatalf("/metrics: status %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("/metrics Content-Type %q", ct)
	}
	return rec.Body.String()
}

// sampleValue returns the value of the sample line starting with series+" ".
func sampleValue(t *testing.T, text, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: bad value %q", series, v)
			}
			return f
		}
	}
	t.Fatalf("series %s not found in:\n%s", series, text)
	return 0
}

// ---- configuration ----

func TestLoadConfigDefaults(t *testing.T) {
	c, err := LoadConfig(env(map[string]string{
		"PORT": "8080", "KGOT_SERVICE": "controller", "KGOT_COLOR": "green",
		"KGOT_VERSION": "1.2.0", "HOSTNAME": "pod-1",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Port: 8080, Service: "controller", Color: "green", Version: "1.2.0", Pod: "pod-1",
		Release: defaultRelease, ErrorRatio: 0, ExtraLatency: 0, Work: defaultWork, Drain: 2 * time.Second}
	if c != want {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
}

func TestLoadConfigFaultyRelease(t *testing.T) {
	c, err := LoadConfig(env(map[string]string{
		"PORT": "9000", "STANDIN_RELEASE": "1.3.0-faulty", "STANDIN_ERROR_RATIO": "0.3",
		"STANDIN_EXTRA_LATENCY": "250ms", "STANDIN_WORK": "0", "STANDIN_DRAIN": "0s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Release != "1.3.0-faulty" || c.ErrorRatio != 0.3 || c.ExtraLatency != 250*time.Millisecond || c.Work != 0 || c.Drain != 0 {
		t.Fatalf("got %+v", c)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, value string }{
		{"PORT", ""}, {"PORT", "http"}, {"PORT", "0"}, {"PORT", "65536"}, {"PORT", "-1"},
		{"KGOT_COLOR", "red"}, {"KGOT_COLOR", "Blue"},
		{"STANDIN_ERROR_RATIO", "x"}, {"STANDIN_ERROR_RATIO", "1.5"}, {"STANDIN_ERROR_RATIO", "-0.1"},
		{"STANDIN_ERROR_RATIO", "NaN"}, {"STANDIN_ERROR_RATIO", "30%"},
		{"STANDIN_EXTRA_LATENCY", "250"}, {"STANDIN_EXTRA_LATENCY", "-1s"}, {"STANDIN_EXTRA_LATENCY", "2h"},
		{"STANDIN_WORK", "lots"}, {"STANDIN_WORK", "-1"}, {"STANDIN_WORK", "1e3"},
		{"STANDIN_DRAIN", "2"}, {"STANDIN_DRAIN", "-2s"},
	} {
		vars := map[string]string{"PORT": "8080", "KGOT_COLOR": "blue"}
		vars[tc.name] = tc.value
		_, err := LoadConfig(env(vars))
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("%s=%q: want ConfigError, got %v", tc.name, tc.value, err)
			continue
		}
		msg := err.Error()
		if ce.Name != tc.name || !strings.Contains(msg, tc.name) || !strings.Contains(msg, strconv.Quote(tc.value)) || ce.Allowed == "" {
			t.Errorf("%s=%q: unclear message %q", tc.name, tc.value, msg)
		}
	}
}

// TestMainExit runs main itself in a child process with a bad environment.
func TestMainExit(t *testing.T) {
	if os.Getenv("STANDIN_TEST_MAIN") == "1" {
		main()
		return
	}
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"STANDIN_ERROR_RATIO=0.1"}, `standin: invalid PORT="": required, an integer port 1-65535`},
		{[]string{"PORT=8080", "STANDIN_ERROR_RATIO=2"}, `standin: invalid STANDIN_ERROR_RATIO="2": a number from 0 to 1`},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMainExit$")
		cmd.Env = append([]string{"STANDIN_TEST_MAIN=1", "PATH=" + os.Getenv("PATH")}, tc.env...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Fatalf("env %v: want exit 2, got %v (stderr %q)", tc.env, err, stderr.String())
		}
		lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
		if len(lines) != 1 || !strings.HasPrefix(lines[0], tc.want) {
			t.Errorf("env %v: stderr %q, want one line starting %q", tc.env, stderr.String(), tc.want)
		}
		if stdout.Len() != 0 {
			t.Errorf("env %v: unexpected stdout %q", tc.env, stdout.String())
		}
	}
}

// ---- work endpoint ----

func TestWorkEndpoint(t *testing.T) {
	cfg := testConfig()
	cfg.Work = defaultWork
	s := NewServer(cfg, time.Now())
	for _, path := range []string{"/", "/api/v1/query", "/health", "/metricsx"} {
		rec := do(t, s, "GET", path)
		if rec.Code != 200 {
			t.Fatalf("%s: status %d", path, rec.Code)
		}
		h := rec.Header()
		if h.Get("X-Kgot-Color") != "blue" || h.Get("X-Kgot-Version") != "1.2.0" || h.Get("X-Kgot-Release") != "1.2.1" {
			t.Fatalf("%s: headers %v", path, h)
		}
		if ct := h.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s: Content-Type %q", path, ct)
		}
		var got map[string]string
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatalf("%s: %v: %q", path, err, rec.Body.String())
		}
		want := map[string]string{"service": "controller", "color": "blue", "version": "1.2.0", "release": "1.2.1", "pod": "controller-blue-abc"}
		if len(got) != len(want) {
			t.Fatalf("%s: body %v", path, got)
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("%s: body %v, want %v", path, got, want)
			}
		}
	}
	// The body keeps the documented key order.
	if b := do(t, s, "GET", "/").Body.String(); !strings.HasPrefix(b, `{"service":"controller","color":"blue","version":"1.2.0","release":"1.2.1","pod":"controller-blue-abc"}`) {
		t.Fatalf("body %q", b)
	}
}

func TestErrorRatio(t *testing.T) {
	for _, ratio := range []float64{0, 0.01, 0.05, 0.1, 0.25, 0.3, 1.0 / 3, 0.5, 0.999, 1} {
		cfg := testConfig()
		cfg.ErrorRatio = ratio
		s := NewServer(cfg, time.Now())
		const n = 1000
		fails := 0
		for i := 0; i < n; i++ {
			rec := do(t, s, "GET", "/")
			switch rec.Code {
			case 200:
			case 500:
				fails++
				if rec.Header().Get("X-Kgot-Color") != "blue" || rec.Header().Get("X-Kgot-Version") != "1.2.0" || rec.Header().Get("X-Kgot-Release") != "1.2.1" {
					t.Fatalf("error response without identity headers: %v", rec.Header())
				}
				var body map[string]string
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["error"] == "" || body["color"] != "blue" || body["release"] != "1.2.1" {
					t.Fatalf("error body %q (%v)", rec.Body.String(), err)
				}
			default:
				t.Fatalf("status %d", rec.Code)
			}
			// Failures are spread evenly: never behind the ideal by 1 or more.
			if d := float64(i+1)*ratio - float64(fails); d >= 1 || d < 0 {
				t.Fatalf("ratio %g: after %d requests %d failures", ratio, i+1, fails)
			}
		}
		if want := ratio * n; math.Abs(float64(fails)-want) > 1 {
			t.Errorf("ratio %g: %d/%d failures, want %g±1", ratio, fails, n, want)
		}
		text := metricsText(t, s)
		if got := sampleValue(t, text, `http_requests_total{method="GET",code="500",path="/"}`); got != float64(fails) {
			t.Errorf("ratio %g: metric 500 count %g, want %d", ratio, got, fails)
		}
		if got := sampleValue(t, text, `http_requests_total{method="GET",code="200",path="/"}`); got != float64(n-fails) {
			t.Errorf("ratio %g: metric 200 count %g, want %d", ratio, got, n-fails)
		}
	}
}

func TestConcurrentRequests(t *testing.T) {
	cfg := testConfig()
	cfg.ErrorRatio = 0.3
	s := NewServer(cfg, time.Now())
	ts := httptest.NewServer(s)
	defer ts.Close()
	const workers, each = 8, 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				resp, err := http.Get(ts.URL + "/work")
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				codes[resp.StatusCode]++
				mu.Unlock()
				metricsText(t, s) // scrape while serving
			}
		}()
	}
	wg.Wait()
	if codes[500] != 120 || codes[200] != 280 {
		t.Fatalf("codes %v, want 280x200 120x500", codes)
	}
	text := metricsText(t, s)
	if got := sampleValue(t, text, `http_request_duration_seconds_count{method="GET",path="/"}`); got != workers*each {
		t.Fatalf("histogram count %g", got)
	}
}

func TestExtraLatency(t *testing.T) {
	cfg := testConfig()
	cfg.ExtraLatency = 60 * time.Millisecond
	cfg.ErrorRatio = 0.5
	s := NewServer(cfg, time.Now())
	for i := 0; i < 4; i++ { // both successes and failures are delayed
		start := time.Now()
		rec := do(t, s, "GET", "/")
		if d := time.Since(start); d < cfg.ExtraLatency {
			t.Fatalf("request %d (status %d) took %s, want >= %s", i, rec.Code, d, cfg.ExtraLatency)
		}
	}
	// Probes and metrics are not delayed.
	start := time.Now()
	do(t, s, "GET", "/health/ready")
	do(t, s, "GET", "/metrics")
	if d := time.Since(start); d >= cfg.ExtraLatency {
		t.Fatalf("probes delayed: %s", d)
	}
	text := metricsText(t, s)
	if got := sampleValue(t, text, `http_request_duration_seconds_bucket{method="GET",path="/",le="0.05"}`); got != 0 {
		t.Errorf("le=0.05 bucket %g, want 0", got)
	}
	if got := sampleValue(t, text, `http_request_duration_seconds_bucket{method="GET",path="/",le="1"}`); got != 4 {
		t.Errorf("le=1 bucket %g, want 4", got)
	}
	if got := sampleValue(t, text, `http_request_duration_seconds_sum{method="GET",path="/"}`); got < 0.24 {
		t.Errorf("sum %g, want >= 0.24", got)
	}
}

func TestNoLatencyByDefault(t *testing.T) {
	s := NewServer(testConfig(), time.Now())
	start := time.Now()
	for i := 0; i < 20; i++ {
		do(t, s, "GET", "/")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("20 requests took %s", d)
	}
}

// ---- health ----

func TestHealth(t *testing.T) {
	s := NewServer(testConfig(), time.Now())
	for _, path := range []string{"/health/ready", "/health/live"} {
		rec := do(t, s, "GET", path)
		if rec.Code != 200 || rec.Body.String() != "ok\n" {
			t.Fatalf("%s: %d %q", path, rec.Code, rec.Body.String())
		}
	}
	s.draining.Store(true)
	if rec := do(t, s, "GET", "/health/ready"); rec.Code != 503 {
		t.Fatalf("ready while draining: %d", rec.Code)
	}
	if rec := do(t, s, "GET", "/health/live"); rec.Code != 200 {
		t.Fatalf("live while draining: %d", rec.Code)
	}
	// Health probes are not counted as work.
	text := metricsText(t, s)
	if got := sampleValue(t, text, `http_request_duration_seconds_count{method="GET",path="/"}`); got != 0 {
		t.Fatalf("probes counted: %g", got)
	}
}

// ---- metrics ----

var (
	sampleRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\[\\"n]|[^\\"\n])*")(,[a-zA-Z_][a-zA-Z0-9_]*="(\\[\\"n]|[^\\"\n])*")*\})? (\S+)$`)
	helpRE   = regexp.MustCompile(`^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$`)
	typeRE   = regexp.MustCompile(`^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$`)
)

// checkFormat validates text against the 0.0.4 exposition format: every
// sample belongs to a family declared just before with HELP and TYPE, no
// family appears twice, values parse, histograms are consistent.
func checkFormat(t *testing.T, text string) map[string]string {
	t.Helper()
	if !strings.HasSuffix(text, "\n") {
		t.Fatal("exposition does not end with a newline")
	}
	types := map[string]string{}
	var family, help string
	seen := map[string]bool{}
	var lastBucket float64
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		switch {
		case helpRE.MatchString(line):
			m := helpRE.FindStringSubmatch(line)
			if seen[m[1]] {
				t.Fatalf("line %d: family %s declared twice", i+1, m[1])
			}
			seen[m[1]] = true
			family, help = m[1], m[2]
			if help == "" {
				t.Fatalf("line %d: empty HELP", i+1)
			}
		case typeRE.MatchString(line):
			m := typeRE.FindStringSubmatch(line)
			if m[1] != family {
				t.Fatalf("line %d: TYPE for %s after HELP for %s", i+1, m[1], family)
			}
			types[family] = m[2]
		case sampleRE.MatchString(line):
			m := sampleRE.FindStringSubmatch(line)
			name, value := m[1], m[len(m)-1]
			v, err := strconv.ParseFloat(value, 64)
			if err != nil && value != "+Inf" {
				t.Fatalf("line %d: bad value %q", i+1, value)
			}
			base := name
			if types[family] == "histogram" {
				for _, suf := range []string{"_bucket", "_sum", "_count"} {
					base = strings.TrimSuffix(base, suf)
					if base != name {
						break
					}
				}
			}
			if base != family || types[family] == "" {
				t.Fatalf("line %d: sample %s outside its family (current %s)", i+1, name, family)
			}
			if strings.HasSuffix(name, "_bucket") {
				if !strings.Contains(line, `le="`) {
					t.Fatalf("line %d: bucket without le", i+1)
				}
				if strings.Contains(line, `le="0.005"`) {
					lastBucket = 0
				}
				if v < lastBucket {
					t.Fatalf("line %d: buckets not cumulative", i+1)
				}
				lastBucket = v
			}
		default:
			t.Fatalf("line %d: not valid exposition format: %q", i+1, line)
		}
	}
	return types
}

func TestReadinessSwitchedOffAndOnByHand(t *testing.T) {
	s := NewServer(testConfig(), time.Now())
	if rec := do(t, s, "POST", "/health/ready/disable"); rec.Code != 200 {
		t.Fatalf("disable: %d", rec.Code)
	}
	if rec := do(t, s, "GET", "/health/ready"); rec.Code != 503 {
		t.Fatalf("ready after disable: %d", rec.Code)
	}
	// Alive and answering work all the same: only the Service drops it.
	if rec := do(t, s, "GET", "/health/live"); rec.Code != 200 {
		t.Fatalf("live after disable: %d", rec.Code)
	}
	if rec := do(t, s, "GET", "/"); rec.Code != 200 {
		t.Fatalf("work after disable: %d", rec.Code)
	}
	do(t, s, "POST", "/health/ready/enable")
	if rec := do(t, s, "GET", "/health/ready"); rec.Code != 200 {
		t.Fatalf("ready after enable: %d", rec.Code)
	}
}

func TestMetricsFormat(t *testing.T) {
	cfg := testConfig()
	cfg.ErrorRatio = 0.25
	s := NewServer(cfg, time.Unix(1700000000, 500000000))
	for i := 0; i < 8; i++ {
		do(t, s, "GET", "/some/path")
	}
	do(t, s, "POST", "/")
	do(t, s, "BREW", "/")
	for i := 0; i < 5; i++ { // not counted
		do(t, s, "GET", "/health/ready")
		do(t, s, "GET", "/health/live")
		do(t, s, "GET", "/metrics")
	}
	text := metricsText(t, s)
	types := checkFormat(t, text)
	for name, typ := range map[string]string{
		"http_requests_total": "counter", "http_request_duration_seconds": "histogram",
		"process_cpu_seconds_total": "counter", "process_resident_memory_bytes": "gauge",
		"process_start_time_seconds": "gauge", "kgot_standin_info": "gauge",
	} {
		if types[name] != typ {
			t.Errorf("%s: type %q, want %q", name, types[name], typ)
		}
	}
	// 10 work requests: indices 3 and 7 fail (GET), 8 (POST) ok, 9 (BREW->OTHER) ok.
	for series, want := range map[string]float64{
		`http_requests_total{method="GET",code="200",path="/"}`:                                6,
		`http_requests_total{method="GET",code="500",path="/"}`:                                2,
		`http_requests_total{method="POST",code="200",path="/"}`:                               1,
		`http_requests_total{method="OTHER",code="200",path="/"}`:                              1,
		`http_request_duration_seconds_count{method="GET",path="/"}`:                           8,
		`http_request_duration_seconds_bucket{method="GET",path="/",le="+Inf"}`:                8,
		`http_request_duration_seconds_count{method="POST",path="/"}`:                          1,
		`process_start_time_seconds`:                                                           1700000000.5,
		`kgot_standin_info{service="controller",color="blue",version="1.2.0",release="1.2.1"}`: 1,
	} {
		if got := sampleValue(t, text, series); got != want {
			t.Errorf("%s = %g, want %g", series, got, want)
		}
	}
	if strings.Contains(text, "/some/path") || strings.Contains(text, "/health") || strings.Contains(text, `"/metrics"`) {
		t.Errorf("request paths leaked into labels:\n%s", text)
	}
	if cpu := sampleValue(t, text, "process_cpu_seconds_total"); cpu <= 0 {
		t.Errorf("process_cpu_seconds_total = %g", cpu)
	}
	if rss := sampleValue(t, text, "process_resident_memory_bytes"); rss < 1<<20 {
		t.Errorf("process_resident_memory_bytes = %g", rss)
	}
	// Series exist at zero before any request.
	fresh := metricsText(t, NewServer(testConfig(), time.Now()))
	checkFormat(t, fresh)
	if sampleValue(t, fresh, `http_requests_total{method="GET",code="500",path="/"}`) != 0 {
		t.Error("fresh 500 series not zero")
	}
}

func TestLabelEscaping(t *testing.T) {
	cfg := testConfig()
	cfg.Service = "a\"b\\c\nd"
	cfg.Version = `1.0 "quoted"`
	text := metricsText(t, NewServer(cfg, time.Now()))
	checkFormat(t, text)
	want := `kgot_standin_info{service="a\"b\\c\nd",color="blue",version="1.0 \"quoted\"",release="1.2.1"} 1`
	if !strings.Contains(text, want+"\n") {
		t.Fatalf("missing %s in:\n%s", want, text)
	}
	if got := escapeHelp("a\\b\nc\"d"); got != `a\\b\nc"d` {
		t.Fatalf("escapeHelp: %q", got)
	}
}

func TestPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not on PATH (Debian package prometheus); skipping promtool check metrics")
	}
	cfg := testConfig()
	cfg.ErrorRatio = 0.3
	cfg.Service = "weird \"svc\"\\\n"
	s := NewServer(cfg, time.Now())
	for i := 0; i < 20; i++ {
		do(t, s, "GET", "/")
	}
	do(t, s, "DELETE", "/x")
	text := metricsText(t, s)
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("promtool check metrics: %v\n%s\ninput:\n%s", err, out, text)
	}
}

// ---- shutdown ----

func TestGracefulShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	cfg := testConfig()
	cfg.Drain = 400 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	var log bytes.Buffer
	var logMu sync.Mutex
	done := make(chan int, 1)
	go func() { done <- Run(ctx, cfg, ln, &lockedWriter{w: &log, mu: &logMu}) }()

	get := func(path string) (*http.Response, error) {
		c := &http.Client{Timeout: 2 * time.Second}
		resp, err := c.Get(url + path)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	if resp, err := get("/health/ready"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("ready before shutdown: %v %v", resp, err)
	}

	began := time.Now()
	cancel() // as SIGTERM does
	deadline := time.Now().Add(time.Second)
	for {
		resp, err := get("/health/ready")
		if err == nil && resp.StatusCode == 503 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readiness never became 503: %v %v", resp, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Still serving work during the drain, asking clients to reconnect.
	resp, err := get("/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("work during drain: %v %v", resp, err)
	}
	if !resp.Close && resp.Header.Get("Connection") != "close" {
		t.Errorf("work during drain without Connection: close")
	}

	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("Run returned %d", code)
		}
		if d := time.Since(began); d < cfg.Drain {
			t.Fatalf("stopped after %s, before the %s drain", d, cfg.Drain)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	if _, err := get("/health/live"); err == nil {
		t.Fatal("still serving after shutdown")
	}
	logMu.Lock()
	defer logMu.Unlock()
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) < 1 || !strings.HasPrefix(lines[0], "standin: service=controller color=blue version=1.2.0 release=1.2.1 pod=controller-blue-abc port=8080 error_ratio=0 ") {
		t.Fatalf("start line: %q", log.String())
	}
	if !strings.Contains(log.String(), "standin: stopped") {
		t.Fatalf("log: %q", log.String())
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestSignal runs the real binary path: SIGTERM makes main exit 0.
func TestSignal(t *testing.T) {
	if os.Getenv("STANDIN_TEST_MAIN") == "1" {
		return // only reached via TestMainExit's helper mode
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestMainExit$")
	cmd.Env = []string{"STANDIN_TEST_MAIN=1", "PORT=" + port, "STANDIN_DRAIN=100ms", "KGOT_COLOR=green"}
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(stdout)
	first, err := r.ReadString('\n')
	if err != nil || !strings.Contains(first, "color=green") || !strings.Contains(first, "port="+port) {
		cmd.Process.Kill()
		t.Fatalf("start line %q: %v", first, err)
	}
	// Wait until it answers, then terminate.
	for i := 0; ; i++ {
		resp, err := http.Get("http://127.0.0.1:" + port + "/health/live")
		if err == nil {
			resp.Body.Close()
			break
		}
		if i > 100 {
			cmd.Process.Kill()
			t.Fatal("never answered")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	rest, _ := io.ReadAll(r)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v; output %q", err, rest)
	}
	if !strings.Contains(string(rest), "standin: stopped") {
		t.Fatalf("output %q", rest)
	}
}
