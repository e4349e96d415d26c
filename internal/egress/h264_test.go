package egress

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/h264reader"
)

// h264AUs reads the H.264 fixture as access units (parameter sets, SEI
// and one slice each).
func h264AUs(t *testing.T) []h264.AnnexB {
	t.Helper()
	mediaFixtures(t)
	f, err := os.Open(fixtures.h264)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := h264reader.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var aus []h264.AnnexB
	var au h264.AnnexB
	for {
		nal, err := r.NextNAL()
		if err != nil {
			return aus
		}
		au = append(au, append([]byte(nil), nal.Data...))
		if nal.UnitType == h264reader.NalUnitTypeCodedSliceNonIdr || nal.UnitType == h264reader.NalUnitTypeCodedSliceIdr {
			aus = append(aus, au)
			au = nil
		}
	}
}

// withoutParams returns au without its SPS and PPS.
func withoutParams(au h264.AnnexB) h264.AnnexB {
	var out h264.AnnexB
	for _, n := range au {
		if t := h264.NALUType(n[0] & 0x1f); t != h264.NALUTypeSPS && t != h264.NALUTypePPS {
			out = append(out, n)
		}
	}
	return out
}

func nalTypes(t *testing.T, frame []byte) []h264.NALUType {
	t.Helper()
	var au h264.AnnexB
	if err := au.Unmarshal(frame); err != nil {
		t.Fatal(err)
	}
	var ts []h264.NALUType
	for _, n := range au {
		ts = append(ts, h264.NALUType(n[0]&0x1f))
	}
	return ts
}

// startsPicture reports whether au begins with the first slice of an IDR
// picture.
func startsPicture(au h264.AnnexB) bool {
	for _, n := range au {
		if t := h264.NALUType(n[0] & 0x1f); isVCL(t) {
			return t == h264.NALUTypeIDR && firstMBZero(n)
		}
	}
	return false
}

// The recording starts on the second slice of an IDR picture (the fixture
// has two slices a frame, sent as two samples), then on a keyframe whose
// parameter sets were lost before the feed started; the sender repeats
// them only at some keyframes. The recording still starts at an IDR
// picture with its SPS and PPS, every IDR picture in it carries them,
// and the MPEG-TS file decodes cleanly from its first byte.
func TestRecorderH264StartsWithParameterSets(t *testing.T) {
	aus := h264AUs(t)
	if len(aus) < 90 || !startsPicture(aus[0]) || startsPicture(aus[1]) || !h264.IsRandomAccess(aus[1]) {
		t.Fatalf("fixture: %d access units, not an IDR picture in two slices first", len(aus))
	}
	file := filepath.Join(t.TempDir(), "start.ts")
	var n atomic.Int64
	fw, err := newFrameWriter(file, "video/H264", &n)
	if err != nil {
		t.Fatal(err)
	}
	seen := &framesSeen{fw: fw}
	rec := newRecorder("video/H264", seen)
	starts := 0
	for i, au := range aus[1:] {
		if startsPicture(au) {
			starts++
			if starts != 2 { // only the second keyframe keeps its parameter sets
				au = withoutParams(au)
			}
		}
		b, err := au.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if err := rec.sample(&media.Sample{Data: b, PacketTimestamp: uint32(1000 + i*3000)}); err != nil {
			t.Fatal(err)
		}
		if starts < 2 && len(seen.frames) > 0 {
			t.Fatalf("sample %d written before any parameter set was seen", i+1)
		}
	}
	if err := fw.close(); err != nil {
		t.Fatal(err)
	}
	if starts < 3 || len(seen.frames) == 0 {
		t.Fatalf("%d keyframes, %d frames written", starts, len(seen.frames))
	}
	keys := 0
	for i, f := range seen.frames {
		var au h264.AnnexB
		if err := au.Unmarshal(f.data); err != nil {
			t.Fatal(err)
		}
		start := startsPicture(au)
		if i == 0 && !start {
			t.Fatalf("first frame written is no IDR picture start: %v", nalTypes(t, f.data))
		}
		if start != f.key {
			t.Fatalf("frame %d: %v written with key %v", i, nalTypes(t, f.data), f.key)
		}
		types := map[h264.NALUType]bool{}
		for _, ty := range nalTypes(t, f.data) {
			types[ty] = true
		}
		if params := types[h264.NALUTypeSPS] && types[h264.NALUTypePPS]; params != start {
			t.Fatalf("frame %d: %v, parameter sets %v, picture start %v", i, nalTypes(t, f.data), params, start)
		}
		if start {
			keys++
		}
	}
	if keys != starts-1 {
		t.Fatalf("%d keyframes written, want %d", keys, starts-1)
	}
	decodes(t, file)
}

// An IDR arriving before any parameter set is no keyframe; one with its
// own is left as it is.
func TestH264ParamsPrepare(t *testing.T) {
	aus := h264AUs(t)
	var h h264Params
	bare, _ := withoutParams(aus[0]).Marshal()
	if _, key := h.prepare(bare); key {
		t.Fatal("an IDR without parameter sets, none seen, taken as a keyframe")
	}
	full, _ := aus[0].Marshal()
	if out, key := h.prepare(full); !key || string(out) != string(full) {
		t.Fatal("an IDR with its parameter sets changed or not taken as a keyframe")
	}
	out, key := h.prepare(bare)
	if !key || len(out) != len(bare)+len(h.sps)+len(h.pps)+8 {
		t.Fatalf("IDR after parameter sets: key %v, %d bytes from %d", key, len(out), len(bare))
	}
	second, _ := aus[1].Marshal() // the second slice of the IDR picture
	if out, key := h.prepare(second); key || string(out) != string(second) {
		t.Fatal("a later slice of an IDR picture changed or taken as a keyframe")
	}
	if _, key := h.prepare([]byte{1, 2, 3}); key {
		t.Fatal("garbage taken as a keyframe")
	}
}

// framesSeen passes frames to fw and keeps a copy of each.
type framesSeen struct {
	fw     frameWriter
	frames []seenFrame
}

type seenFrame struct {
	key  bool
	data []byte
}

func (s *framesSeen) write(key bool, ts int64, rtpTS uint32, frame []byte) error {
	s.frames = append(s.frames, seenFrame{key: key, data: append([]byte(nil), frame...)})
	return s.fw.write(key, ts, rtpTS, frame)
}

func (s *framesSeen) close() error { return s.fw.close() }

// prepare never panics, and what it calls a keyframe is an IDR picture
// start with both parameter sets.
func FuzzH264ParamsPrepare(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0x67, 0x42, 0, 0x1f, 0, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65, 0x88, 0x84})
	f.Add([]byte{0, 0, 0, 1, 0x65, 0x88, 0x84})
	f.Add([]byte{0, 0, 1, 0x65, 0x08, 0, 0, 1, 0x41, 0x9a})
	f.Add([]byte{0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var h h264Params
		for i := 0; i < 2; i++ {
			out, key := h.prepare(b)
			if !key {
				continue
			}
			var au h264.AnnexB
			if err := au.Unmarshal(out); err != nil || !startsPicture(au) {
				t.Fatalf("keyframe %x from %x", out, b)
			}
			types := map[h264.NALUType]bool{}
			for _, n := range au {
				types[h264.NALUType(n[0]&0x1f)] = true
			}
			if !types[h264.NALUTypeSPS] || !types[h264.NALUTypePPS] {
				t.Fatalf("keyframe %x without parameter sets", out)
			}
		}
	})
}
