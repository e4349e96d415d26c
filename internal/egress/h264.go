package egress

import (
	"bufio"
	"io"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
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
