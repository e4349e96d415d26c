package egress

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
)

func TestTrackEgressVP8ToWebMAndOpusToOgg(t *testing.T) {
	e := newEnv(t)
	e.worker(nil)
	p := e.publish("rec", "alice", true, true)
	v := e.start(bus.EgressRequest{Room: "rec", Type: bus.EgressTypeTrack, TrackID: p.trackID(bus.KindVideo),
		Outputs: []bus.EgressOutput{{File: "alice/cam.webm"}}})
	a := e.start(bus.EgressRequest{Room: "rec", Type: bus.EgressTypeTrack, TrackID: p.trackID(bus.KindAudio),
		Outputs: []bus.EgressOutput{{File: "alice/mic.ogg"}}})
	if v.Status != bus.EgressStarting || v.WorkerID == "" {
		t.Fatalf("start reply: %+v", v)
	}
	e.waitStatus(v.EgressID, bus.EgressActive, 10*time.Second)
	e.waitDuration(v.EgressID, 2*time.Second)
	e.waitDuration(a.EgressID, 2*time.Second)
	for _, id := range []string{v.EgressID, a.EgressID} {
		info := e.stop(id)
		if info.Status != bus.EgressComplete || len(info.Results) != 1 || info.Results[0].Bytes == 0 {
			t.Fatalf("stopped egress: %+v", info)
		}
	}
	for file, codec := range map[string]string{"alice/cam.webm": "vp8", "alice/mic.ogg": "opus"} {
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
