package client

import (
	"fmt"

	"github.com/pion/rtcp"
)

// Sink receives every raw RTP packet of a subscription, on the track's
// read goroutine, after the counters saw it. The slice is reused for the
// next packet: copy what must be kept. A sink must not block for long.
type Sink func(pkt []byte)

// SetSink makes fn receive the track's raw RTP packets (nil stops it).
func (t *RemoteTrack) SetSink(fn Sink) {
	if fn == nil {
		t.sink.Store(nil)
		return
	}
	t.sink.Store(&fn)
}

// RequestKeyframe sends a PLI for a received video track; it fails before
// the track's first packet (its SSRC is not known yet).
func (c *Client) RequestKeyframe(t *RemoteTrack) error {
	ssrc := t.ssrc.Load()
	if ssrc == 0 {
		return fmt.Errorf("keyframe request: %w: no packet received yet", ErrNotFound)
	}
	return c.peer.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
}
