package egress

import (
	"image"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
)

func TestLayoutTilesCoverTheCanvasWithoutOverlap(t *testing.T) {
	const w, h = 1280, 720
	canvasRect := image.Rect(0, 0, w, h)
	for _, layout := range []string{bus.LayoutGrid, bus.LayoutSpeaker} {
		for n := 1; n <= 10; n++ {
			keys := make([]string, n)
			for i := range keys {
				keys[i] = string(rune('a' + i))
			}
			tiles := layoutTiles(layout, w, h, keys, n-1)
			if len(tiles) != n {
				t.Fatalf("%s %d: %d tiles", layout, n, len(tiles))
			}
			seen := map[string]bool{}
			for i, a := range tiles {
				seen[a.key] = true
				if a.rect.Empty() || !a.rect.In(canvasRect) || a.rect.Min.X%2 != 0 || a.rect.Min.Y%2 != 0 {
					t.Fatalf("%s %d: tile %v", layout, n, a.rect)
				}
				for _, b := range tiles[i+1:] {
					if a.rect.Overlaps(b.rect) {
						t.Fatalf("%s %d: %v overlaps %v", layout, n, a.rect, b.rect)
					}
				}
			}
			if len(seen) != n {
				t.Fatalf("%s %d: participants missing", layout, n)
			}
			if layout == bus.LayoutSpeaker && n > 1 {
				if tiles[0].key != keys[n-1] || tiles[0].rect.Dx()*tiles[0].rect.Dy() <= tiles[1].rect.Dx()*tiles[1].rect.Dy() {
					t.Fatalf("speaker %d: the speaker's tile is not the big one: %v", n, tiles)
				}
			}
		}
	}
	if got := layoutTiles(bus.LayoutGrid, w, h, []string{"a", "b", "c", "d"}, -1); got[3].rect != image.Rect(640, 360, 1280, 720) {
		t.Fatalf("2x2 grid: %v", got)
	}
}

func TestNameCardAndBlit(t *testing.T) {
	cv := newCanvas(320, 180)
	cv.clear()
	r := image.Rect(0, 0, 320, 180)
	cv.nameTile(r, "carol")
	y, _, _ := cv.planes()
	bright := 0
	for _, v := range y {
		if v == 235 {
			bright++
		}
	}
	if bright < 50 {
		t.Fatalf("name card has %d text pixels", bright)
	}
	// A 2x2 white frame scaled into the right half.
	frame := []byte{235, 235, 235, 235, 128, 128}
	cv.clear()
	cv.blit(frame, 2, 2, image.Rect(160, 0, 320, 180))
	if y[0] != 16 || y[100*320+200] != 235 {
		t.Fatalf("blit: left %d right %d", y[0], y[100*320+200])
	}
	if f := fit(image.Rect(0, 0, 400, 100), 16, 9); f.Dx() != 176 || f.Dy() != 100 {
		t.Fatalf("fit: %v", f)
	}
}

func FuzzValidate(f *testing.F) {
	f.Add("room1", "track", "TR_x", "", "a/b.webm", "", "")
	f.Add("room1", "room", "", "speaker", "x.mp4", "rtmp://h/app/k", "hls/")
	f.Add("r", "room", "", "grid", "../x.mp4", "rtmp://h:1/a|b", "..")
	f.Add("r", "room", "", "", "a/./b.ts", "rtmps://[::1]/a/b", "/abs")
	f.Fuzz(func(t *testing.T, room, typ, track, layout, file, rtmp, hls string) {
		req := bus.EgressRequest{Namespace: "default", Room: room, Type: typ, TrackID: track, Layout: layout,
			Outputs: []bus.EgressOutput{{File: file}, {RTMP: rtmp}, {HLS: hls}}}
		if Validate(&req) != nil {
			return
		}
		for _, o := range req.Outputs {
			for _, name := range []string{o.File, o.HLS} {
				if name != "" && CheckName(name) != nil {
					t.Fatalf("accepted bad name %q", name)
				}
			}
		}
	})
}

func TestCPUMeterSeesWork(t *testing.T) {
	m := newCPUMeter()
	deadline := time.Now().Add(600 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	if used := m.sample(); used <= 0.05 || used > 64 {
		t.Fatalf("measured %.3f cores while spinning (%d)", used, x)
	}
}

func TestStaleFrameGivesWayToTheNameCard(t *testing.T) {
	in := &input{w: 2, h: 2, frame: make([]byte, 6), at: time.Now()}
	got := func() bool {
		var seen bool
		in.latest(func(f []byte, _, _ int) { seen = f != nil })
		return seen
	}
	if !got() {
		t.Fatal("a fresh frame is not shown")
	}
	in.at = time.Now().Add(-staleFrame - time.Second)
	if got() {
		t.Fatal("a stale frame is still shown")
	}
}

func TestFailedSlaves(t *testing.T) {
	got := failedSlaves("[tee @ 0x1] Slave '[f=flv]rtmp://h/a/b': error opening: Connection refused\n" +
		"[tee @ 0x1] Slave muxer #1 failed: Connection refused, continuing with 2/3 slaves.\n" +
		"[tee @ 0x1] Slave muxer #2 failed: Broken pipe")
	if got[1] != "output failed: Connection refused" || got[2] != "output failed: Broken pipe" || len(got) != 2 {
		t.Fatalf("%v", got)
	}
}
