package egress

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/pkg/client"
)

func TestTrackEgressVP8ToWebMAndOpusToOgg(t *testing.T) {
	e := newEnv(t)
	e.worker(nil)
	p := e.publish("rec", "alice", true, true)
	events := e.events("rec")
	v := e.start(bus.EgressRequest{Room: "rec", Type: bus.EgressTypeTrack, TrackID: p.trackID(bus.KindVideo),
		Outputs: []bus.EgressOutput{{File: "alice/cam.webm"}}})
	a := e.start(bus.EgressRequest{Room: "rec", Type: bus.EgressTypeTrack, TrackID: p.trackID(bus.KindAudio),
		Outputs: []bus.EgressOutput{{File: "alice/mic.ogg"}}})
	if v.Status != bus.EgressStarting || v.WorkerID == "" {
		t.Fatalf("start reply: %+v", v)
	}
	aw := e.start(bus.EgressRequest{Room: "rec", Type: bus.EgressTypeTrack, TrackID: p.trackID(bus.KindAudio),
		Outputs: []bus.EgressOutput{{File: "alice/mic.webm"}}})
	e.waitStatus(v.EgressID, bus.EgressActive, 10*time.Second)
	e.waitDuration(v.EgressID, 2*time.Second)
	e.waitDuration(a.EgressID, 2*time.Second)
	e.waitDuration(aw.EgressID, 2*time.Second)
	for _, id := range []string{v.EgressID, a.EgressID, aw.EgressID} {
		info := e.stop(id)
		if info.Status != bus.EgressComplete || len(info.Results) != 1 || info.Results[0].Bytes == 0 {
			t.Fatalf("stopped egress: %+v", info)
		}
	}
	// Webhook-ready events, in order, the last with the outputs.
	got := events.wait(t, v.EgressID, bus.EventEgressEnded)
	want := []string{"egress_started:starting", "egress_updated:active", "egress_updated:ending", "egress_ended:complete"}
	if strings.Join(got.types, " ") != strings.Join(want, " ") || len(got.last.Results) != 1 || got.last.Results[0].Location == "" {
		t.Fatalf("events %v, last %+v", got.types, got.last)
	}
	for file, codec := range map[string]string{"alice/cam.webm": "vp8", "alice/mic.ogg": "opus", "alice/mic.webm": "opus"} {
		path := filepath.Join(e.out, auth.DefaultNamespace, file)
		codecs, dur := probe(t, path)
		if len(codecs) != 1 || codecs[0] != codec {
			t.Fatalf("%s: streams %v, want one %s", file, codecs, codec)
		}
		if dur < 1.5 {
			t.Fatalf("%s: %.2fs of media, want at least 2", file, dur)
		}
		decodes(t, path)
	}
}

func TestTrackEgressEndsWhenTheTrackIsUnpublished(t *testing.T) {
	e := newEnv(t)
	e.worker(nil)
	p := e.publish("leave", "dora", false, true)
	info := e.start(bus.EgressRequest{Room: "leave", Type: bus.EgressTypeTrack, TrackID: p.trackID(bus.KindAudio),
		Outputs: []bus.EgressOutput{{File: "dora.opus"}}})
	e.waitDuration(info.EgressID, time.Second)
	p.close()
	end := e.waitStatus(info.EgressID, bus.EgressComplete, 15*time.Second)
	if end.Reason != "track unpublished" || end.Results[0].Bytes == 0 {
		t.Fatalf("ended: %+v", end)
	}
	decodes(t, filepath.Join(e.out, auth.DefaultNamespace, "dora.opus"))
}

// Packets lost for good (the same sequence numbers dropped at every
// retransmission too): the recording skips to the next keyframe after
// each gap and decodes without an error.
func TestTrackEgressSurvivesUnrepairedLoss(t *testing.T) {
	e := newEnv(t)
	var dropped atomic.Uint64
	e.workerWith(e.testConfig(nil), client.MediaOptions{IPFilter: client.LoopbackOnly,
		ReceiveLoss: func(_ uint32, seq uint16) bool {
			if seq%40 == 7 {
				dropped.Add(1)
				return true
			}
			return false
		}})
	p := e.publish("lossy", "erin", true, true)
	v := e.start(bus.EgressRequest{Room: "lossy", Type: bus.EgressTypeTrack, TrackID: p.trackID(bus.KindVideo),
		Outputs: []bus.EgressOutput{{File: "erin.webm"}}})
	a := e.start(bus.EgressRequest{Room: "lossy", Type: bus.EgressTypeTrack, TrackID: p.trackID(bus.KindAudio),
		Outputs: []bus.EgressOutput{{File: "erin.ogg"}}})
	e.waitDuration(v.EgressID, 3*time.Second)
	e.waitDuration(a.EgressID, 3*time.Second)
	e.stop(v.EgressID)
	e.stop(a.EgressID)
	if dropped.Load() < 5 {
		t.Fatalf("only %d packets dropped", dropped.Load())
	}
	// Every gap in the video is followed by a keyframe: no frame refers
	// to one that is missing.
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "packet=pts_time,flags",
		"-of", "csv=p=0", filepath.Join(e.out, auth.DefaultNamespace, "erin.webm")).Output()
	if err != nil {
		t.Fatal(err)
	}
	prev, gaps := -1.0, 0
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pts, flags, _ := strings.Cut(l, ",")
		v, err := strconv.ParseFloat(pts, 64)
		if err != nil {
			t.Fatalf("packet line %q", l)
		}
		if prev >= 0 && v-prev > 0.05 { // more than 1.5 frames at 30 fps
			gaps++
			if !strings.Contains(flags, "K") {
				t.Fatalf("frame at %.3fs follows a gap from %.3fs and is no keyframe", v, prev)
			}
		}
		prev = v
	}
	if gaps == 0 {
		t.Fatal("no gap in the recording: the loss did not happen")
	}
	for _, f := range []string{"erin.webm", "erin.ogg"} {
		path := filepath.Join(e.out, auth.DefaultNamespace, f)
		if _, d := probe(t, path); d < 2 {
			t.Fatalf("%s: %.2fs", f, d)
		}
		decodes(t, path)
	}
}

func TestTrackEgressH264ToMP4AndMPEGTS(t *testing.T) {
	e := newEnv(t)
	e.worker(nil)
	p := e.publishH264("h264", "hugo")
	var ids []string
	for _, f := range []string{"hugo.mp4", "hugo.ts"} {
		info := e.start(bus.EgressRequest{Room: "h264", Type: bus.EgressTypeTrack, TrackID: p.trackID(bus.KindVideo),
			Outputs: []bus.EgressOutput{{File: f}}})
		ids = append(ids, info.EgressID)
	}
	for _, id := range ids {
		e.waitDuration(id, 2*time.Second)
	}
	for _, id := range ids {
		if end := e.stop(id); end.Status != bus.EgressComplete {
			t.Fatalf("ended %s %s", end.Status, end.Reason)
		}
	}
	for _, f := range []string{"hugo.mp4", "hugo.ts"} {
		path := filepath.Join(e.out, auth.DefaultNamespace, f)
		if c, d := probe(t, path); len(c) != 1 || c[0] != "h264" || d < 1.5 {
			t.Fatalf("%s: %v %.2fs", f, c, d)
		}
		decodes(t, path)
	}
}
