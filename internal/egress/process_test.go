package egress

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/testenv"
)

// ffmpegsWriting lists the running (not exited) ffmpeg processes whose
// command line mentions dir.
func ffmpegsWriting(dir string) []string {
	var out []string
	stats, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range stats {
		cmd, err := os.ReadFile(f)
		if err != nil || !bytes.Contains(cmd, []byte(dir)) || !bytes.Contains(cmd, []byte("ffmpeg")) {
			continue
		}
		st, err := os.ReadFile(filepath.Join(filepath.Dir(f), "stat"))
		if err != nil {
			continue
		}
		s := string(st)
		if i := strings.LastIndexByte(s, ')'); i > 0 && len(s) > i+2 && s[i+2] == 'Z' {
			continue // exited; its parent (init, for an orphan) reaps it
		}
		out = append(out, filepath.Base(filepath.Dir(f)))
	}
	return out
}

// A worker process killed outright: its egress is marked failed by the
// API, its ffmpeg exits (stdin closed), what was written plays.
func TestKilledWorkerProcessFailsItsEgress(t *testing.T) {
	e := newEnv(t)
	e.publish("lost", "alice", true, true)
	var logs testenv.LogBuffer
	cmd := exec.Command(testenv.Binary(t), "egress", "--nats", e.st.NATS.ClientURL(), "--signal-url", e.st.Signals[0].WS,
		"--output-dir", e.out, "--worker-id", "EW_doomed", "--log-level", "debug", "--dev-keys")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("worker log:\n%s", logs.Tail(40))
		}
	})
	testenv.WaitFor(t, 20*time.Second, "worker heartbeat", func() bool {
		e.api.mu.Lock()
		defer e.api.mu.Unlock()
		_, ok := e.api.workers["EW_doomed"]
		return ok
	})
	info := e.start(bus.EgressRequest{Room: "lost", Type: bus.EgressTypeRoom, Outputs: []bus.EgressOutput{{File: "lost.mp4"}}})
	if info.WorkerID != "EW_doomed" {
		t.Fatalf("worker %s", info.WorkerID)
	}
	e.waitDuration(info.EgressID, 3*time.Second)
	_ = cmd.Process.Kill()
	<-exited
	end := e.waitStatus(info.EgressID, bus.EgressFailed, 15*time.Second)
	if !strings.Contains(end.Reason, "worker lost") {
		t.Fatalf("reason %q", end.Reason)
	}
	testenv.Eventually(t, 15*time.Second, "the dead worker's ffmpeg processes exit", func() error {
		if p := ffmpegsWriting(e.out); len(p) > 0 {
			return fmt.Errorf("still running: %v", p)
		}
		return nil
	})
	file := filepath.Join(e.out, auth.DefaultNamespace, "lost.mp4")
	if c, d := probe(t, file); len(c) != 2 || d < 1 {
		t.Fatalf("partial file: %v %.2fs", c, d)
	}
	decodes(t, file)
}
