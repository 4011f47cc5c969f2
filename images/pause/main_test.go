package main

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary act as the pause program in a child process.
func TestMain(m *testing.M) {
	if os.Getenv("PAUSE_TEST_MAIN") == "1" {
		if os.Getenv("PAUSE_TEST_SPAWN") == "1" {
			// A child we never wait for: pause must reap it.
			p, err := os.StartProcess("/bin/sh", []string{"sh", "-c", "exit 0"}, &os.ProcAttr{})
			if err != nil {
				panic(err)
			}
			os.Stdout.WriteString(strconv.Itoa(p.Pid) + "\n")
		}
		os.Args = append(os.Args[:1], strings.Fields(os.Getenv("PAUSE_TEST_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func pause(extra ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append([]string{"PAUSE_TEST_MAIN=1"}, extra...)
	return cmd
}

func TestVersion(t *testing.T) {
	out, err := pause("PAUSE_TEST_ARGS=-v").Output()
	if err != nil || !strings.HasPrefix(string(out), "pause ") || strings.Count(string(out), "\n") != 1 {
		t.Fatalf("-v: %q %v", out, err)
	}
}

func TestSignalsAndReaping(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		cmd := pause("PAUSE_TEST_SPAWN=1")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		child, _ := strconv.Atoi(strings.TrimSpace(line))
		if err != nil || child <= 0 {
			cmd.Process.Kill()
			t.Fatalf("child pid %q: %v", line, err)
		}
		// The exited child must be reaped: its /proc entry disappears.
		deadline := time.Now().Add(3 * time.Second)
		for {
			if _, err := os.Stat("/proc/" + strconv.Itoa(child)); errors.Is(err, os.ErrNotExist) {
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("child %d not reaped", child)
			}
			time.Sleep(10 * time.Millisecond)
		}
		// Still blocking.
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-time.After(100 * time.Millisecond):
		case <-done:
			t.Fatal("pause exited on its own")
		}
		cmd.Process.Signal(sig)
		if err := <-done; err != nil {
			t.Fatalf("%v: exit %v", sig, err)
		}
		if stderr.String() != "pause: shutting down\n" {
			t.Fatalf("%v: stderr %q", sig, stderr.String())
		}
	}
}
