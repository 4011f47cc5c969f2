package main

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"time"
)

// Defaults for the variables the image build bakes in.
const (
	defaultRelease = "dev"
	defaultWork    = 100 // sha256 rounds over a 4 KiB buffer: ~0.3 ms CPU per request (x86-64 with SHA-NI)
	defaultDrain   = 2 * time.Second

	maxWork         = 100000
	maxExtraLatency = time.Minute
	maxDrain        = 5 * time.Minute
)

// Config is the stand-in's whole configuration, read once at start from the
// environment.
//
// Set by the Kubernetes pod spec: PORT, KGOT_SERVICE, KGOT_COLOR,
// KGOT_VERSION, HOSTNAME. Baked into the image config by the image build
// (they describe the release, so a faulty release is just another image tag):
// STANDIN_RELEASE, STANDIN_ERROR_RATIO, STANDIN_EXTRA_LATENCY, STANDIN_WORK,
// STANDIN_DRAIN.
type Config struct {
	Port    int    // PORT: listen port, required, 1-65535
	Service string // KGOT_SERVICE: service key, e.g. controller
	Color   string // KGOT_COLOR: blue or green (empty allowed for local runs)
	Version string // KGOT_VERSION: the version the stack thinks this colour runs
	Pod     string // HOSTNAME: pod name (falls back to os.Hostname)

	Release      string        // STANDIN_RELEASE: the image's own version string
	ErrorRatio   float64       // STANDIN_ERROR_RATIO: share of work requests answered 500, 0..1
	ExtraLatency time.Duration // STANDIN_EXTRA_LATENCY: added to every work request
	Work         int           // STANDIN_WORK: sha256 rounds per work request
	Drain        time.Duration // STANDIN_DRAIN: not-ready period before the server stops
}

// ConfigError names the variable, the rejected value and what is allowed.
type ConfigError struct {
	Name, Value, Allowed string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("invalid %s=%q: %s", e.Name, e.Value, e.Allowed)
}

// LoadConfig reads the configuration through getenv (os.Getenv in main).
// It returns the first invalid variable as a *ConfigError.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		Service: getenv("KGOT_SERVICE"),
		Color:   getenv("KGOT_COLOR"),
		Version: getenv("KGOT_VERSION"),
		Pod:     getenv("HOSTNAME"),
		Release: getenv("STANDIN_RELEASE"),
		Work:    defaultWork,
		Drain:   defaultDrain,
	}
	if c.Pod == "" {
		c.Pod, _ = os.Hostname()
	}
	if c.Release == "" {
		c.Release = defaultRelease
	}

	v := getenv("PORT")
	if v == "" {
		return c, &ConfigError{"PORT", v, "required, an integer port 1-65535"}
	}
	p, err := strconv.Atoi(v)
	if err != nil || p < 1 || p > 65535 {
		return c, &ConfigError{"PORT", v, "an integer port 1-65535"}
	}
	c.Port = p

	switch c.Color {
	case "", "blue", "green":
	default:
		return c, &ConfigError{"KGOT_COLOR", c.Color, `"blue" or "green"`}
	}

	if v := getenv("STANDIN_ERROR_RATIO"); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(r) || r < 0 || r > 1 {
			return c, &ConfigError{"STANDIN_ERROR_RATIO", v, "a number from 0 to 1 (share of requests answered 500), default 0"}
		}
		c.ErrorRatio = r
	}
	if v := getenv("STANDIN_EXTRA_LATENCY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > maxExtraLatency {
			return c, &ConfigError{"STANDIN_EXTRA_LATENCY", v, `a Go duration from 0 to 1m (e.g. "250ms"), default 0`}
		}
		c.ExtraLatency = d
	}
	if v := getenv("STANDIN_WORK"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxWork {
			return c, &ConfigError{"STANDIN_WORK", v, fmt.Sprintf("an integer from 0 to %d (sha256 rounds per request), default %d", maxWork, defaultWork)}
		}
		c.Work = n
	}
	if v := getenv("STANDIN_DRAIN"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > maxDrain {
			return c, &ConfigError{"STANDIN_DRAIN", v, `a Go duration from 0 to 5m (e.g. "2s"), default 2s`}
		}
		c.Drain = d
	}
	return c, nil
}
