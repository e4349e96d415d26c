package egress

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"sync/atomic"

	"github.com/at-wat/ebml-go/webm"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
)

// frameWriter writes the frames of one track to a container without
// transcoding. ts is in milliseconds from the first frame.
type frameWriter interface {
	write(key bool, ts int64, rtpTS uint32, frame []byte) error
	close() error
}

// countingFile counts the bytes written to a file.
type countingFile struct {
	f *os.File
	n *atomic.Int64
}

func (c countingFile) Write(b []byte) (int, error) {
	n, err := c.f.Write(b)
	c.n.Add(int64(n))
	return n, err
}

func (c countingFile) Close() error { return c.f.Close() }

// newFrameWriter opens the writer for file (by its extension) and codec
// (a MIME type such as video/VP8), or says why they do not fit.
func newFrameWriter(file, mime string, bytes *atomic.Int64) (frameWriter, error) {
	if err := checkExt(file, mime); err != nil {
		return nil, err
	}
	ext, m := path.Ext(file), strings.ToLower(mime)
	f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	out := countingFile{f: f, n: bytes}
	switch {
	case ext == ".webm":
		return &webmWriter{out: out, mime: m}, nil
	case m == "audio/opus":
		w, err := oggwriter.NewWith(out, 48000, 2)
		if err != nil {
			_ = f.Close()
			return nil, err
		}
		return &oggWriter{w: w, f: out}, nil
	case ext == ".mp4":
		return newMP4Writer(out), nil
	default:
		return newTSWriter(out)
	}
}

// checkExt says whether a track of mime goes to file's container
// without transcoding.
func checkExt(file, mime string) error {
	ext := path.Ext(file)
	ok := false
	switch strings.ToLower(mime) {
	case "video/vp8", "video/vp9":
		ok = ext == ".webm"
	case "audio/opus":
		ok = ext == ".webm" || ext == ".ogg" || ext == ".opus"
	case "video/h264":
		ok = ext == ".ts" || ext == ".mp4"
	}
	if !ok {
		return fmt.Errorf("%w: %s cannot go to %s without transcoding (VP8/VP9 to .webm, Opus to .ogg/.opus/.webm, H.264 to .ts/.mp4)", ErrCodec, mime, ext)
	}
	return nil
}

// webmWriter writes one VP8, VP9 or Opus track to WebM. The track header
// needs the picture size, so a video file starts at the first keyframe.
type webmWriter struct {
	out   io.WriteCloser
	mime  string
	block webm.BlockWriteCloser
}

func (w *webmWriter) start(frame []byte) error {
	e := webm.TrackEntry{Name: "track", TrackNumber: 1, TrackUID: 1}
	switch w.mime {
	case "audio/opus":
		e.CodecID, e.TrackType = "A_OPUS", 2
		e.Audio = &webm.Audio{SamplingFrequency: 48000, Channels: 2}
		e.CodecPrivate = opusHead(2)
	case "video/vp8":
		wd, ht := vp8Size(frame)
		e.CodecID, e.TrackType = "V_VP8", 1
		e.Video = &webm.Video{PixelWidth: uint64(wd), PixelHeight: uint64(ht)}
	default:
		e.CodecID, e.TrackType = "V_VP9", 1
		e.Video = &webm.Video{PixelWidth: 640, PixelHeight: 360} // the bitstream carries the real size
	}
	ws, err := webm.NewSimpleBlockWriter(w.out, []webm.TrackEntry{e})
	if err != nil {
		return err
	}
	w.block = ws[0]
	return nil
}

func (w *webmWriter) write(key bool, ts int64, _ uint32, frame []byte) error {
	if w.block == nil {
		if err := w.start(frame); err != nil {
			return err
		}
	}
	_, err := w.block.Write(key, ts, frame)
	return err
}

func (w *webmWriter) close() error {
	if w.block == nil {
		return w.out.Close()
	}
	return w.block.Close() // closes out too
}

// opusHead is the OpusHead of a stream with channels (RFC 7845).
func opusHead(channels byte) []byte {
	b := []byte("OpusHead\x01")
	b = append(b, channels)
	b = binary.LittleEndian.AppendUint16(b, 312) // pre-skip
	b = binary.LittleEndian.AppendUint32(b, 48000)
	return append(b, 0, 0, 0) // gain, mapping family 0
}

// vp8Size reads the picture size of a VP8 keyframe (0x0 if it is none).
func vp8Size(f []byte) (int, int) {
	if len(f) < 10 || f[0]&1 != 0 || !bytes.Equal(f[3:6], []byte{0x9d, 0x01, 0x2a}) {
		return 0, 0
	}
	return int(binary.LittleEndian.Uint16(f[6:]) & 0x3fff), int(binary.LittleEndian.Uint16(f[8:]) & 0x3fff)
}

// oggWriter writes Opus to Ogg; granule positions follow the packets'
// own durations.
type oggWriter struct {
	w *oggwriter.OggWriter
	f io.Closer
	p rtp.Packet
}

func (o *oggWriter) write(_ bool, _ int64, rtpTS uint32, frame []byte) error {
	o.p.Timestamp = rtpTS
	o.p.Payload = frame
	return o.w.WriteRTP(&o.p)
}

func (o *oggWriter) close() error { return o.w.Close() }
