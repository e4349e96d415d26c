package browsertest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// nodeDir returns test/node with its npm packages installed, or skips.
func nodeDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "test", "node"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("Node.js is not installed (scripts/test-deps.sh installs it)")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "node-datachannel")); err != nil {
		t.Skip("node-datachannel is not installed: run scripts/test-deps.sh (npm ci in test/node)")
	}
	return dir
}

// nodeStats is the last "stats" line of a node script.
type nodeStats struct {
	VideoPackets int    `json:"video_packets"`
	AudioPackets int    `json:"audio_packets"`
	State        string `json:"state"`
}

// nodeProc is a running script of test/node; it prints JSON lines.
type nodeProc struct {
	name   string
	cmd    *exec.Cmd
	done   chan struct{}
	mu     sync.Mutex
	lines  []string
	stats  nodeStats
	err    string
	states []string // the PeerConnection's states, in order
}

func startNode(t *testing.T, dir, script string, args ...string) *nodeProc {
	t.Helper()
	cmd := exec.Command("node", append([]string{script}, args...)...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its ffmpeg goes with it
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	n := &nodeProc{name: script, cmd: cmd, done: make(chan struct{})}
	cmd.Stderr = writerFunc(func(b []byte) { n.add("stderr: " + strings.TrimSpace(string(b))) })
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node %s: %v", script, err)
	}
	go func() {
		defer close(n.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			n.line(sc.Text())
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		n.stop()
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // anything it left behind
		if t.Failed() {
			t.Logf("%s output:\n%s", script, n.output())
		}
	})
	return n
}

func (n *nodeProc) line(s string) {
	var ev struct {
		Event   string `json:"event"`
		Message string `json:"message"`
		nodeStats
	}
	if json.Unmarshal([]byte(s), &ev) != nil {
		n.add(s)
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	switch ev.Event {
	case "stats":
		n.stats = ev.nodeStats
		return // too many to keep
	case "error":
		n.err = ev.Message
	case "state":
		n.states = append(n.states, ev.State)
	}
	n.lines = append(n.lines, s)
}

func (n *nodeProc) add(s string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.lines = append(n.lines, s)
}

func (n *nodeProc) output() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return strings.Join(n.lines, "\n") + fmt.Sprintf("\nlast stats: %+v", n.stats)
}

// current returns the last stats, or an error when the script failed.
func (n *nodeProc) current() (nodeStats, error) {
	select {
	case <-n.done:
		return nodeStats{}, fmt.Errorf("%s exited: %s", n.name, n.output())
	default:
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.err != "" {
		return n.stats, fmt.Errorf("%s: %s", n.name, n.err)
	}
	return n.stats, nil
}

// startNodeConnected starts script and waits until its PeerConnection
// connects. libdatachannel now and then fails a connection within
// milliseconds of applying the answer, before any connectivity check
// could have timed out (its side reports "failed", or "Got a remote
// candidate without ICE transport"); a WHIP or WHEP client starts over
// with a new PeerConnection then, and so does this, up to three attempts,
// each failure logged.
func startNodeConnected(t *testing.T, dir, script string, args ...string) *nodeProc {
	t.Helper()
	var n *nodeProc
	for attempt := 1; attempt <= 3; attempt++ {
		n = startNode(t, dir, script, args...)
		if n.waitConnected(20 * time.Second) {
			return n
		}
		t.Logf("%s: attempt %d did not connect:\n%s", script, attempt, n.output())
		n.stop()
	}
	return n
}

// waitConnected polls until the PeerConnection is connected (true), or it
// failed, closed or the script exited first, or d passed (false).
func (n *nodeProc) waitConnected(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		select {
		case <-n.done:
			return false
		default:
		}
		n.mu.Lock()
		states := append([]string(nil), n.states...)
		n.mu.Unlock()
		for _, st := range states {
			switch st {
			case "connected":
				return true
			case "failed", "closed":
				return false
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// stop ends the script (it deletes its WHIP/WHEP resource on SIGTERM).
func (n *nodeProc) stop() {
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
		<-n.done
	}
}

type writerFunc func([]byte)

func (w writerFunc) Write(p []byte) (int, error) { w(p); return len(p), nil }

// TestNodeDataChannelInterop: libdatachannel (node-datachannel), a WebRTC
// stack independent of Chromium and Pion, publishes over WHIP to a room
// where a browser watches, and watches the browser's camera over WHEP.
func TestNodeDataChannelInterop(t *testing.T) {
	s := startStack(t)
	dir := nodeDir(t)
	browser := newBrowser(t)
	alice := newPage(t, browser, "alice")
	const room = "interop"
	joinConference(t, s, alice, room, "Alice")

	// node -> SFU -> browser
	pub := startNodeConnected(t, dir, "whip.mjs", "--base", s.URL, "--room", room, "--identity", "node-pub")
	eventually(t, 20*time.Second, "the WHIP publisher sends", func() error {
		st, err := pub.current()
		if err == nil && (st.State != "connected" || st.VideoPackets < 30 || st.AudioPackets < 10) {
			err = fmt.Errorf("stats %+v", st)
		}
		return err
	})
	remoteTile(t, alice, "node-pub")
	got := waitReceiving(t, alice, roomPC, true)
	if got.FrameWidth != 640 {
		t.Errorf("the browser decodes the node publisher's video at %dx%d, want 640x360", got.FrameWidth, got.FrameHeight)
	}

	// browser -> SFU -> node
	var identity string
	alice.mustEval(`window.rtcloudApp.room.self.identity`, &identity)
	view := startNodeConnected(t, dir, "whep.mjs", "--base", s.URL, "--room", room, "--identity", "node-view", "--watch", identity)
	var first nodeStats
	eventually(t, 20*time.Second, "the WHEP viewer receives the browser's media", func() error {
		st, err := view.current()
		if err == nil && (st.State != "connected" || st.VideoPackets < 50 || st.AudioPackets < 20) {
			err = fmt.Errorf("stats %+v", st)
		}
		first = st
		return err
	})
	eventually(t, 10*time.Second, "the WHEP viewer keeps receiving", func() error {
		st, err := view.current()
		if err == nil && (st.VideoPackets < first.VideoPackets+50 || st.AudioPackets < first.AudioPackets+20) {
			err = fmt.Errorf("stats %+v after %+v", st, first)
		}
		return err
	})
}
