package egress

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/testenv"
)

// children lists the processes whose parent is this test process.
func children(t *testing.T) []string {
	t.Helper()
	me := strconv.Itoa(os.Getpid())
	var out []string
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, d := range dirs {
		data, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == me {
			out = append(out, s[:i+1]+" "+f[0])
		}
	}
	return out
}

func TestKilledFFmpegFailsTheEgressAndKeepsAPlayableFile(t *testing.T) {
	e := newEnv(t)
	w, _ := e.worker(nil)
	e.publish("crash", "alice", true, true)
	info := e.start(bus.EgressRequest{Room: "crash", Type: bus.EgressTypeRoom, Outputs: []bus.EgressOutput{{File: "crash.mp4"}}})
	e.waitDuration(info.EgressID, 3*time.Second)
	w.mu.Lock()
	enc := w.jobs[info.EgressID].pipe.(*compositePipeline).enc.Load()
	w.mu.Unlock()
	enc.Kill(syscall.SIGKILL)
	end := e.waitStatus(info.EgressID, bus.EgressFailed, 15*time.Second)
	if !strings.Contains(end.Reason, "ffmpeg") || end.EndedAt.IsZero() {
		t.Fatalf("failed egress: reason %q, ended %v", end.Reason, end.EndedAt)
	}
	// What was written before the crash plays.
	file := filepath.Join(e.out, auth.DefaultNamespace, "crash.mp4")
	codecs, dur := probe(t, file)
	if len(codecs) != 2 || dur < 1 {
		t.Fatalf("partial file: %v, %.2fs", codecs, dur)
	}
	decodes(t, file)
	// Every ffmpeg was reaped: no zombie, none left running.
	testenv.Eventually(t, 10*time.Second, "no child processes", func() error {
		if c := children(t); len(c) > 0 {
			return fmt.Errorf("children: %v", c)
		}
		return nil
	})
}

func TestStopFinalizesAPlayableFileAndNoChildrenRemain(t *testing.T) {
	e := newEnv(t)
	e.worker(nil)
	e.publish("short", "alice", true, false)
	info := e.start(bus.EgressRequest{Room: "short", Type: bus.EgressTypeRoom, Layout: bus.LayoutSpeaker,
		Outputs: []bus.EgressOutput{{File: "short.ts"}}})
	e.waitDuration(info.EgressID, 2*time.Second)
	end := e.stop(info.EgressID)
	if end.Status != bus.EgressComplete || end.Results[0].Bytes == 0 || end.Bytes == 0 {
		t.Fatalf("stopped: %+v", end)
	}
	file := filepath.Join(e.out, auth.DefaultNamespace, "short.ts")
	if c, d := probe(t, file); strings.Join(c, ",") != "h264,aac" || d < 1.5 {
		t.Fatalf("file: %v %.2fs", c, d)
	}
	decodes(t, file)
	if again := e.stop(info.EgressID); again.Status != bus.EgressComplete {
		t.Fatalf("second DELETE: %+v", again)
	}
	testenv.Eventually(t, 10*time.Second, "no child processes", func() error {
		if c := children(t); len(c) > 0 {
			return fmt.Errorf("children: %v", c)
		}
		return nil
	})
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t)
	e.worker(nil)
	p := e.publish("room1", "alice", true, true)
	vid := p.trackID(bus.KindVideo)
	user := testenv.Mint(t, auth.DefaultNamespace, "room1", "alice")
	other := testenv.MintWith(t, auth.TokenOptions{Key: auth.DevKey, Secret: auth.DevSecret, Identity: "x",
		Grant: auth.Grant{Namespace: "other", Room: "*", Admin: true}})
	roomAdmin := testenv.MintWith(t, auth.TokenOptions{Key: auth.DevKey, Secret: auth.DevSecret, Identity: "y",
		Grant: auth.Grant{Namespace: auth.DefaultNamespace, Room: "room2", Admin: true}})
	file := func(name string) []bus.EgressOutput { return []bus.EgressOutput{{File: name}} }
	cases := []struct {
		name string
		tok  string
		body any
		code int
		msg  string
	}{
		{"unknown room", "", bus.EgressRequest{Room: "nowhere", Type: "room", Outputs: file("a.mp4")}, 404, "unknown room"},
		{"unknown track", "", bus.EgressRequest{Room: "room1", Type: "track", TrackID: "TR_nope", Outputs: file("a.webm")}, 404, "not published"},
		{"codec does not fit", "", bus.EgressRequest{Room: "room1", Type: "track", TrackID: vid, Outputs: file("a.ogg")}, 400, "without transcoding"},
		{"bad URL scheme", "", bus.EgressRequest{Room: "room1", Type: "room", Outputs: []bus.EgressOutput{{RTMP: "http://example.com/live/x"}}}, 400, "scheme"},
		{"unknown output kind", "", `{"room":"room1","type":"room","outputs":[{"s3":"bucket"}]}`, 400, "unknown field"},
		{"path traversal", "", bus.EgressRequest{Room: "room1", Type: "room", Outputs: file("../../etc/x.mp4")}, 400, "path traversal"},
		{"traversal inside", "", bus.EgressRequest{Room: "room1", Type: "room", Outputs: file("a/../../x.mp4")}, 400, "clean relative path"},
		{"absolute path", "", bus.EgressRequest{Room: "room1", Type: "room", Outputs: file("/tmp/x.mp4")}, 400, "clean relative path"},
		{"HLS traversal", "", bus.EgressRequest{Room: "room1", Type: "room", Outputs: []bus.EgressOutput{{HLS: "../hls"}}}, 400, "path traversal"},
		{"two kinds in one output", "", bus.EgressRequest{Room: "room1", Type: "room", Outputs: []bus.EgressOutput{{File: "a.mp4", HLS: "h"}}}, 400, "exactly one"},
		{"no outputs", "", bus.EgressRequest{Room: "room1", Type: "room"}, 400, "outputs"},
		{"bad type", "", bus.EgressRequest{Room: "room1", Type: "movie", Outputs: file("a.mp4")}, 400, "type"},
		{"bad layout", "", bus.EgressRequest{Room: "room1", Type: "room", Layout: "mosaic", Outputs: file("a.mp4")}, 400, "layout"},
		{"composite to webm", "", bus.EgressRequest{Room: "room1", Type: "room", Outputs: file("a.webm")}, 400, ".mp4"},
		{"malformed JSON", "", `{"room":`, 400, "body"},
		{"no token", "none", bus.EgressRequest{Room: "room1", Type: "room", Outputs: file("a.mp4")}, 401, ""},
		{"not admin", user, bus.EgressRequest{Room: "room1", Type: "room", Outputs: file("a.mp4")}, 403, "admin"},
		{"other namespace", other, bus.EgressRequest{Namespace: "default", Room: "room1", Type: "room", Outputs: file("a.mp4")}, 403, "does not admit"},
		{"other room", roomAdmin, bus.EgressRequest{Room: "room1", Type: "room", Outputs: file("a.mp4")}, 403, "does not admit"},
	}
	for _, c := range cases {
		tok := c.tok
		if tok == "none" {
			tok = "x"
		}
		code, body := e.call("POST", "/v1/egress", tok, c.body)
		if code != c.code || !strings.Contains(string(body), c.msg) {
			t.Errorf("%s: %d %s, want %d with %q", c.name, code, body, c.code, c.msg)
		}
	}
	if code, _ := e.call("GET", "/v1/egress/EG_nothing", "", nil); code != http.StatusNotFound {
		t.Errorf("GET unknown egress: %d", code)
	}
	if code, _ := e.call("DELETE", "/v1/egress/EG_nothing", "", nil); code != http.StatusNotFound {
		t.Errorf("DELETE unknown egress: %d", code)
	}
	if code, body := e.call("GET", "/v1/egress?room=room1", "", nil); code != http.StatusOK || !strings.Contains(string(body), `"egress": []`) {
		t.Errorf("list after refused requests: %d %s", code, body)
	}
}

func TestNoCapacityIs503AndTheLoadSpreads(t *testing.T) {
	e := newEnv(t)
	p := e.publish("busy", "alice", true, true)
	req := bus.EgressRequest{Room: "busy", Type: bus.EgressTypeTrack, TrackID: p.trackID(bus.KindAudio), Outputs: []bus.EgressOutput{{File: "a.ogg"}}}
	if code, body := e.call("POST", "/v1/egress", "", req); code != http.StatusServiceUnavailable {
		t.Fatalf("no worker: %d %s", code, body)
	}
	// Two workers with room for one track egress each.
	small := func(c *config.Egress) { c.CPUCapacity, c.TrackCost = 0.1, 0.1 }
	e.worker(small)
	e.worker(small)
	a := e.start(req)
	req.Outputs = []bus.EgressOutput{{File: "b.ogg"}}
	b := e.start(req)
	if a.WorkerID == b.WorkerID {
		t.Fatalf("both egresses on worker %s", a.WorkerID)
	}
	req.Outputs = []bus.EgressOutput{{File: "c.ogg"}}
	if code, body := e.call("POST", "/v1/egress", "", req); code != http.StatusServiceUnavailable {
		t.Fatalf("workers full: %d %s", code, body)
	}
	// A composite never fits such workers.
	e.stop(a.EgressID)
	room := bus.EgressRequest{Room: "busy", Type: bus.EgressTypeRoom, Outputs: []bus.EgressOutput{{File: "r.mp4"}}}
	if code, body := e.call("POST", "/v1/egress", "", room); code != http.StatusServiceUnavailable {
		t.Fatalf("composite on small workers: %d %s", code, body)
	}
	e.stop(b.EgressID)
}
