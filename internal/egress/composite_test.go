package egress

import (
	"fmt"
	"image"
	"math"
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

// rtmpServer is ffmpeg listening for one RTMP publisher, copying what it
// receives to an FLV file.
func rtmpServer(t *testing.T) (url, file string, wait func()) {
	t.Helper()
	port := testenv.FreePort(t, "127.0.0.1")
	url = fmt.Sprintf("rtmp://127.0.0.1:%d/live/key", port)
	file = filepath.Join(t.TempDir(), "received.flv")
	cmd := exec.Command("ffmpeg", "-v", "error", "-y", "-listen", "1", "-timeout", "20", "-i", url, "-c", "copy", file)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	// Wait until it listens.
	testenv.Eventually(t, 10*time.Second, "RTMP server listening", func() error {
		data, _ := os.ReadFile("/proc/net/tcp")
		if !strings.Contains(strings.ToUpper(string(data)), fmt.Sprintf(":%04X 00000000:0000 0A", port)) {
			return fmt.Errorf("port %d not listening", port)
		}
		return nil
	})
	return url, file, func() {
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Fatal("RTMP server did not finish")
		}
	}
}

func TestRoomCompositeToMP4RTMPAndHLS(t *testing.T) {
	e := newEnv(t)
	e.worker(nil)
	e.publish("panel", "alice", true, true)
	e.publish("panel", "bob", true, true)
	e.publish("panel", "carol", false, true) // no video: a name card
	url, flv, rtmpDone := rtmpServer(t)
	// A second RTMP server that refuses: the other outputs go on.
	deadURL := fmt.Sprintf("rtmp://127.0.0.1:%d/live/gone", testenv.FreePort(t, "127.0.0.1"))
	info := e.start(bus.EgressRequest{Room: "panel", Type: bus.EgressTypeRoom, Layout: bus.LayoutGrid,
		Outputs: []bus.EgressOutput{{File: "panel.mp4"}, {RTMP: url}, {HLS: "panel-hls"}, {RTMP: deadURL}}})
	e.waitStatus(info.EgressID, bus.EgressActive, 10*time.Second)
	const want = 10.0
	e.waitDuration(info.EgressID, want*time.Second)
	asked := time.Now()
	end := e.stop(info.EgressID)
	// The status is refreshed every 2 s: the egress ran up to that much
	// past want, plus the time the stop took.
	late := progressInterval.Seconds() + time.Since(asked).Seconds() + 0.5
	if end.Status != bus.EgressComplete || len(end.Results) != 4 {
		t.Fatalf("ended %s: %s", end.Status, end.Reason)
	}
	if r := end.Results[3]; !strings.Contains(r.Error, "refused") || end.Results[1].Error != "" || end.Results[0].Error != "" {
		t.Fatalf("results: %+v", end.Results)
	}
	mp4 := filepath.Join(e.out, auth.DefaultNamespace, "panel.mp4")
	codecs, dur := probe(t, mp4)
	if strings.Join(codecs, ",") != "h264,aac" {
		t.Fatalf("streams %v, want h264 and aac", codecs)
	}
	if math.Abs(dur-end.Duration) > 0.5 || dur < want-0.5 || dur > want+late {
		t.Fatalf("file has %.2fs, the egress wrote %.2fs, want %.0fs to %.1fs", dur, end.Duration, want, want+late)
	}
	decodes(t, mp4)

	rtmpDone()
	if c, d := probe(t, flv); strings.Join(c, ",") != "h264,aac" || d < want-2 {
		t.Fatalf("RTMP server received %v, %.2fs", c, d)
	}
	decodes(t, flv)

	var hls bus.EgressResult
	for _, r := range end.Results {
		if r.HLS != "" {
			hls = r
		}
	}
	playlist, err := os.ReadFile(hls.Playlist)
	if err != nil || hls.Segments < 3 {
		t.Fatalf("HLS: %d segments, playlist %v", hls.Segments, err)
	}
	if !strings.HasPrefix(string(playlist), "#EXTM3U") || !strings.Contains(string(playlist), "#EXT-X-ENDLIST") ||
		strings.Count(string(playlist), "seg_") != hls.Segments {
		t.Fatalf("playlist:\n%s", playlist)
	}
	decodes(t, hls.Playlist)
}

// textPixels counts the name-card text pixels (luma 235) in r.
func textPixels(cv *canvas, r image.Rectangle) int {
	y, _, _ := cv.planes()
	n := 0
	for row := r.Min.Y; row < r.Max.Y; row++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if y[row*cv.w+x] == 235 {
				n++
			}
		}
	}
	return n
}

// The layout follows the room: a muted camera turns into a name card, a
// participant who leaves loses the tile, one who joins gets one.
func TestCompositeFollowsMutesLeavesAndJoins(t *testing.T) {
	e := newEnv(t)
	w, _ := e.worker(nil)
	alice := e.publish("live", "alice", true, false)
	bob := e.publish("live", "bob", true, false)
	e.publishH264("live", "hugo")
	info := e.start(bus.EgressRequest{Room: "live", Type: bus.EgressTypeRoom, Outputs: []bus.EgressOutput{{File: "live.mp4"}}})
	e.waitStatus(info.EgressID, bus.EgressActive, 10*time.Second)
	w.mu.Lock()
	p := w.jobs[info.EgressID].pipe.(*compositePipeline)
	w.mu.Unlock()
	cv := newCanvas(p.cfg.Width, p.cfg.Height)
	// state returns the identities with a tile, in order, and whether each
	// shows video (a decoded frame).
	state := func() string {
		p.mu.Lock()
		keys, _ := p.order()
		var out []string
		for _, k := range keys {
			pt := p.parts[k]
			s := pt.p.Identity + ":card"
			if pt.video != nil && !pt.vMuted {
				pt.video.mu.Lock()
				if pt.video.frame != nil {
					s = pt.p.Identity + ":video"
				}
				pt.video.mu.Unlock()
			}
			out = append(out, s)
		}
		p.mu.Unlock()
		return strings.Join(out, " ")
	}
	want := func(s string) {
		t.Helper()
		testenv.Eventually(t, 15*time.Second, "layout "+s, func() error {
			if got := state(); got != s {
				return fmt.Errorf("layout %q", got)
			}
			return nil
		})
	}
	want("alice:video bob:video hugo:video")
	left := image.Rect(0, 0, cv.w/2, cv.h/2)
	p.compose(cv)
	if n := textPixels(cv, left); n > 200 {
		t.Fatalf("alice's tile shows %d name-card pixels while her video plays", n)
	}

	ctx := testenv.Context(t, 10*time.Second)
	if err := alice.c.Mute(ctx, alice.tracks[0], true); err != nil {
		t.Fatal(err)
	}
	want("alice:card bob:video hugo:video")
	p.compose(cv)
	if n := textPixels(cv, left); n < 50 {
		t.Fatalf("muted alice shows no name card (%d text pixels)", n)
	}

	bob.close()
	want("alice:card hugo:video")
	e.publish("live", "carol", false, true)
	want("alice:card hugo:video carol:card")
	end := e.stop(info.EgressID)
	if end.Status != bus.EgressComplete {
		t.Fatalf("ended %s %s", end.Status, end.Reason)
	}
	decodes(t, filepath.Join(e.out, auth.DefaultNamespace, "live.mp4"))
}
