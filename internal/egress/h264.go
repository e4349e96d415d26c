package egress

import (
	"bufio"
	"io"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
)

// tsWriter writes H.264 access units (Annex B, as Pion's depacketizer
// gives them) to MPEG-TS with 90 kHz timestamps.
type tsWriter struct {
	out   io.WriteCloser
	buf   *bufio.Writer
	w     *mpegts.Writer
	track *mpegts.Track
}

func newTSWriter(out io.WriteCloser) (*tsWriter, error) {
	t := &tsWriter{out: out, buf: bufio.NewWriter(out), track: &mpegts.Track{Codec: &mpegts.CodecH264{}}}
	t.w = &mpegts.Writer{W: t.buf, Tracks: []*mpegts.Track{t.track}}
	if err := t.w.Initialize(); err != nil {
		_ = out.Close()
		return nil, err
	}
	return t, nil
}

func (t *tsWriter) write(_ bool, ts int64, _ uint32, frame []byte) error {
	var au h264.AnnexB
	if err := au.Unmarshal(frame); err != nil {
		return nil // a broken access unit is skipped, not fatal
	}
	pts := ts * 90
	if err := t.w.WriteH264(t.track, pts, pts, au); err != nil {
		return err
	}
	return t.buf.Flush()
}

func (t *tsWriter) close() error {
	err := t.buf.Flush()
	if cerr := t.out.Close(); err == nil {
		err = cerr
	}
	return err
}

// h264Key reports whether an Annex B access unit holds an IDR slice.
func h264Key(frame []byte) bool {
	var au h264.AnnexB
	if au.Unmarshal(frame) != nil {
		return false
	}
	return h264.IsRandomAccess(au)
}

// mp4Writer writes H.264 access units to fragmented MP4: the init
// segment (from the first keyframe's parameter sets), then one fragment
// per frame, written when the next frame gives its duration. A file cut
// short keeps every fragment written before.
type mp4Writer struct {
	out     io.WriteCloser
	started bool
	seq     uint32
	pend    *fmp4.Sample
	pendTS  int64 // 90 kHz
	lastDur uint32
}

func newMP4Writer(out io.WriteCloser) *mp4Writer { return &mp4Writer{out: out, lastDur: 3000} }

func (m *mp4Writer) write(_ bool, ts int64, _ uint32, frame []byte) error {
	var au h264.AnnexB
	if err := au.Unmarshal(frame); err != nil {
		return nil
	}
	if !m.started {
		var sps, pps []byte
		for _, n := range au {
			switch h264.NALUType(n[0] & 0x1f) {
			case h264.NALUTypeSPS:
				sps = n
			case h264.NALUTypePPS:
				pps = n
			}
		}
		if sps == nil || pps == nil {
			return nil // wait for a keyframe with its parameter sets
		}
		init := fmp4.Init{Tracks: []*fmp4.InitTrack{{ID: 1, TimeScale: 90000, Codec: &fmp4.CodecH264{SPS: sps, PPS: pps}}}}
		if err := m.marshal(init.Marshal); err != nil {
			return err
		}
		m.started = true
	}
	s, err := fmp4.NewSampleH264(0, au)
	if err != nil {
		return nil
	}
	s.IsNonSyncSample = !h264.IsRandomAccess(au)
	t90 := ts * 90
	if err := m.flush(t90); err != nil {
		return err
	}
	m.pend, m.pendTS = s, t90
	return nil
}

// flush writes the pending frame, lasting until next (90 kHz; -1: as
// long as the one before).
func (m *mp4Writer) flush(next int64) error {
	if m.pend == nil {
		return nil
	}
	d := m.lastDur
	if next > m.pendTS {
		d = uint32(next - m.pendTS)
	}
	m.lastDur = d
	m.pend.Duration = d
	m.seq++
	part := fmp4.Part{SequenceNumber: m.seq, Tracks: []*fmp4.PartTrack{{ID: 1, BaseTime: uint64(m.pendTS), Samples: []*fmp4.Sample{m.pend}}}}
	m.pend = nil
	return m.marshal(part.Marshal)
}

func (m *mp4Writer) marshal(fn func(io.WriteSeeker) error) error {
	var buf seekablebuffer.Buffer
	if err := fn(&buf); err != nil {
		return err
	}
	_, err := m.out.Write(buf.Bytes())
	return err
}

func (m *mp4Writer) close() error {
	err := m.flush(-1)
	if cerr := m.out.Close(); err == nil {
		err = cerr
	}
	return err
}

// h264Params remembers the last SPS and PPS of an H.264 track, so that
// every IDR access unit can be written with its parameter sets, even
// when they came in an earlier sample or are not repeated by the sender.
type h264Params struct {
	sps, pps []byte
}

// prepare records the parameter sets in frame and returns the access unit
// to write and whether a decoder can start at it: an IDR picture from its
// first slice on, with its SPS and PPS. An IDR picture lacking them gets
// the last ones seen put before its first slice; if none were seen, it
// is no start. A sample holding only later slices of an IDR picture (a
// sender may put each slice in its own RTP frame) is no start either and
// is left as it is, as parameter sets cannot come inside a picture.
func (h *h264Params) prepare(frame []byte) ([]byte, bool) {
	var au h264.AnnexB
	if au.Unmarshal(frame) != nil {
		return frame, false
	}
	var hasSPS, hasPPS, start bool
	first := -1 // index of the first slice
	for i, n := range au {
		if len(n) == 0 {
			continue
		}
		switch t := h264.NALUType(n[0] & 0x1f); {
		case t == h264.NALUTypeSPS:
			h.sps, hasSPS = append(h.sps[:0], n...), true
		case t == h264.NALUTypePPS:
			h.pps, hasPPS = append(h.pps[:0], n...), true
		case isVCL(t) && first < 0:
			first = i
			start = t == h264.NALUTypeIDR && firstMBZero(n)
		}
	}
	switch {
	case !start:
		return frame, false
	case hasSPS && hasPPS:
		return frame, true
	case h.sps == nil || h.pps == nil:
		return frame, false
	}
	out := make(h264.AnnexB, 0, len(au)+2)
	out = append(out, au[:first]...)
	if !hasSPS {
		out = append(out, h.sps)
	}
	if !hasPPS {
		out = append(out, h.pps)
	}
	out = append(out, au[first:]...)
	b, err := out.Marshal()
	if err != nil {
		return frame, false
	}
	return b, true
}

// isVCL reports whether t is a coded slice NAL unit type.
func isVCL(t h264.NALUType) bool { return t >= h264.NALUTypeNonIDR && t <= h264.NALUTypeIDR }

// firstMBZero reports whether slice NAL unit n starts its picture:
// first_mb_in_slice, the first field of the slice header, is ue(v) 0,
// a single 1 bit.
func firstMBZero(n []byte) bool { return len(n) > 1 && n[1]&0x80 != 0 }
