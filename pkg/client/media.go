package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/h264reader"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
)

// Format is the container of a media stream PublishReader reads.
type Format string

// Formats PublishReader reads.
const (
	FormatIVF  Format = "ivf"  // VP8 in IVF (ffmpeg -c:v libvpx -f ivf)
	FormatOgg  Format = "ogg"  // Opus in Ogg (ffmpeg -c:a libopus -f ogg)
	FormatH264 Format = "h264" // H.264 Annex B byte stream (ffmpeg -c:v libx264 -bsf:v h264_mp4toannexb -f h264)
)

// ReaderSpec describes a track PublishReader reads from an io.Reader.
type ReaderSpec struct {
	Format Format
	Reader io.Reader
	Name   string // unique per client; generated when empty
	Source string // SourceCamera, ...; from the kind when empty
	// FPS is the frame rate of an H.264 stream, which carries no timing
	// (default 30). IVF and Ogg streams carry their own.
	FPS int
}

// NewSampleTrack returns a track the application writes media samples to
// (WriteSample with a frame and its duration): publish it with
// TrackSpec{Local: []webrtc.TrackLocal{track}}. codec is CodecVP8,
// CodecH264 or CodecOpus.
func NewSampleTrack(codec, name string) (*webrtc.TrackLocalStaticSample, error) {
	c := webrtc.RTPCodecCapability{MimeType: codec, ClockRate: 90000}
	switch codec {
	case CodecVP8, CodecH264:
	case CodecOpus:
		c = webrtc.RTPCodecCapability{MimeType: codec, ClockRate: 48000, Channels: 2}
	default:
		return nil, fmt.Errorf("%w: codec %q", ErrBadSpec, codec)
	}
	if name == "" {
		name = "track"
	}
	return webrtc.NewTrackLocalStaticSample(c, name, name)
}

// PublishReader publishes one track whose media it reads from
// spec.Reader, paced in real time, until the reader ends, the client
// closes, the track is unpublished or ctx (which bounds the whole stream,
// not just the call) ends.
// LocalTrack.Done is closed then, and LocalTrack.Err says why (nil at the
// end of the stream). The stream's header is read before publishing, so a
// stream of the wrong format fails here.
func (c *Client) PublishReader(ctx context.Context, spec ReaderSpec) (*LocalTrack, error) {
	src, codec, err := openSource(spec)
	if err != nil {
		return nil, err
	}
	name := spec.Name
	if name == "" {
		name = fmt.Sprintf("%s-%d", spec.Format, c.nextID.Add(1))
	}
	track, err := NewSampleTrack(codec, name)
	if err != nil {
		return nil, err
	}
	lts, err := c.Publish(ctx, TrackSpec{Name: name, Source: spec.Source, Local: []webrtc.TrackLocal{track}})
	if err != nil {
		return nil, err
	}
	lt := lts[0]
	lt.ended = make(chan struct{})
	if !c.peer.goWorker(func() { lt.finish(pump(ctx, c.peer.stop, lt.stopped, src, track)) }) {
		lt.finish(ErrClosed)
	}
	return lt, nil
}

// source yields samples of one stream.
type source interface {
	next() (media.Sample, error)
}

func openSource(spec ReaderSpec) (source, string, error) {
	if spec.Reader == nil {
		return nil, "", fmt.Errorf("%w: no reader", ErrBadSpec)
	}
	switch spec.Format {
	case FormatIVF:
		r, h, err := ivfreader.NewWith(spec.Reader)
		if err != nil {
			return nil, "", fmt.Errorf("%w: IVF header: %w", ErrBadMedia, err)
		}
		if h.FourCC != "VP80" {
			return nil, "", fmt.Errorf("%w: IVF codec %q (want VP80)", ErrBadMedia, h.FourCC)
		}
		return &ivfSource{r: r, den: h.TimebaseDenominator, num: h.TimebaseNumerator}, CodecVP8, nil
	case FormatOgg:
		o := &oggSource{r: newOggReader(spec.Reader)}
		if err := o.readHeaders(); err != nil {
			return nil, "", err
		}
		return o, CodecOpus, nil
	case FormatH264:
		r, err := h264reader.NewReader(spec.Reader)
		if err != nil {
			return nil, "", fmt.Errorf("%w: H.264: %w", ErrBadMedia, err)
		}
		fps := spec.FPS
		if fps <= 0 {
			fps = 30
		}
		return &h264Source{r: r, frame: time.Second / time.Duration(fps)}, CodecH264, nil
	}
	return nil, "", fmt.Errorf("%w: format %q (want ivf, ogg or h264)", ErrBadSpec, spec.Format)
}

// pump writes the samples of src to track at their pace. It returns nil
// at the end of the stream.
func pump(ctx context.Context, stop, unpublished <-chan struct{}, src source, track *webrtc.TrackLocalStaticSample) error {
	start := time.Now()
	var elapsed time.Duration // media time written so far
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		s, err := src.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := track.WriteSample(s); err != nil && !errors.Is(err, io.ErrClosedPipe) {
			return fmt.Errorf("write sample: %w", err)
		}
		elapsed += s.Duration
		if wait := time.Until(start.Add(elapsed)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-stop:
				return ErrClosed
			case <-unpublished:
				return ErrUnpublished
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

type ivfSource struct {
	r        *ivfreader.IVFReader
	den, num uint32
	lastTS   uint64
	started  bool
}

func (s *ivfSource) next() (media.Sample, error) {
	frame, h, err := s.r.ParseNextFrame()
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return media.Sample{}, io.EOF
		}
		return media.Sample{}, fmt.Errorf("%w: IVF: %w", ErrBadMedia, err)
	}
	// Pion scales the frame's pts by the time base's denominator over its
	// numerator; undo that. A frame lasts until the next one; the first
	// one a time base unit.
	num, den := uint64(max(s.num, 1)), uint64(max(s.den, 1))
	pts := h.Timestamp * num / den
	ticks := uint64(1)
	if s.started && pts > s.lastTS {
		ticks = pts - s.lastTS
	}
	s.started, s.lastTS = true, pts
	d := time.Duration(ticks) * time.Second * time.Duration(num) / time.Duration(den)
	if d <= 0 || d > time.Second {
		d = time.Second / 30
	}
	return media.Sample{Data: frame, Duration: d}, nil
}

type h264Source struct {
	r       *h264reader.H264Reader
	frame   time.Duration
	pending *h264reader.NAL // read, not yet returned
	slice   bool            // the access unit of pending has a picture slice
}

// next returns one NAL unit. The last NAL unit of an access unit (a
// picture) carries the frame's duration, so the parameter sets and every
// slice of a picture share its timestamp; that needs one NAL of
// look-ahead.
func (s *h264Source) next() (media.Sample, error) {
	if s.pending == nil {
		nal, err := s.read()
		if err != nil {
			return media.Sample{}, err
		}
		s.pending, s.slice = nal, isSlice(nal)
	}
	cur := s.pending
	nal, err := s.read()
	if errors.Is(err, io.EOF) {
		s.pending = nil
		if cur == nil {
			return media.Sample{}, io.EOF
		}
		return media.Sample{Data: cur.Data, Duration: s.frame}, nil
	}
	if err != nil {
		return media.Sample{}, err
	}
	var d time.Duration
	if s.slice && startsAccessUnit(nal) {
		d, s.slice = s.frame, false
	}
	s.slice = s.slice || isSlice(nal)
	s.pending = nal
	return media.Sample{Data: cur.Data, Duration: d}, nil
}

func (s *h264Source) read() (*h264reader.NAL, error) {
	nal, err := s.r.NextNAL()
	if errors.Is(err, io.EOF) {
		return nil, io.EOF
	}
	if err != nil {
		return nil, fmt.Errorf("%w: H.264: %w", ErrBadMedia, err)
	}
	return nal, nil
}

func isSlice(n *h264reader.NAL) bool {
	return n.UnitType == h264reader.NalUnitTypeCodedSliceNonIdr || n.UnitType == h264reader.NalUnitTypeCodedSliceIdr
}

// startsAccessUnit: NAL units that begin a new picture once the current
// one has a slice (H.264 7.4.1.2.3), or the first slice of a picture
// (first_mb_in_slice, an Exp-Golomb code, is 0: its first bit is 1).
func startsAccessUnit(n *h264reader.NAL) bool {
	switch n.UnitType {
	case h264reader.NalUnitTypeAUD, h264reader.NalUnitTypeSPS, h264reader.NalUnitTypePPS, h264reader.NalUnitTypeSEI:
		return true
	}
	return isSlice(n) && len(n.Data) > 1 && n.Data[1]&0x80 != 0
}
