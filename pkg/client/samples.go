package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"
)

// SampleReader reassembles the packets of a RemoteTrack into media
// samples: whole VP8 or H.264 (Annex B) frames, or Opus packets, each
// with its duration. It reads the track with ReadRTP, so a track is read
// either with a SampleReader or with ReadRTP, not both.
type SampleReader struct {
	t  *RemoteTrack
	sb *samplebuilder.SampleBuilder // made with the first packet's codec
}

// NewSampleReader returns a SampleReader of t.
func NewSampleReader(t *RemoteTrack) *SampleReader { return &SampleReader{t: t} }

// maxLate is how many packets a frame may wait for a late one.
const maxLate = 128

// Read returns the next sample; io.EOF once the subscription ended.
// Frames with lost packets are skipped.
func (r *SampleReader) Read(ctx context.Context) (media.Sample, error) {
	for {
		if r.sb != nil {
			if s := r.sb.Pop(); s != nil {
				return *s, nil
			}
		}
		pkt, err := r.t.ReadRTP(ctx)
		if errors.Is(err, io.EOF) && r.sb != nil {
			r.sb.Flush()
			if s := r.sb.Pop(); s != nil {
				return *s, nil
			}
		}
		if err != nil {
			return media.Sample{}, err
		}
		if r.sb == nil {
			if r.sb, err = newSampleBuilder(r.t.MimeType()); err != nil {
				return media.Sample{}, err
			}
		}
		r.sb.Push(pkt)
	}
}

func newSampleBuilder(mime string) (*samplebuilder.SampleBuilder, error) {
	var d rtp.Depacketizer
	rate := uint32(90000)
	switch strings.ToLower(mime) {
	case strings.ToLower(CodecVP8):
		d = &codecs.VP8Packet{}
	case strings.ToLower(CodecH264):
		d = &codecs.H264Packet{}
	case strings.ToLower(CodecOpus):
		d, rate = &codecs.OpusPacket{}, 48000
	default:
		return nil, fmt.Errorf("%w: no depacketizer for %q", ErrBadSpec, mime)
	}
	return samplebuilder.New(maxLate, d, rate), nil
}
