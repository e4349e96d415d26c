package client

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// ReadQueue is how many received packets a RemoteTrack holds for ReadRTP;
// when the application falls further behind, packets are dropped and
// counted (RecvStats.ReadDrops).
const ReadQueue = 512

// rtpQueue hands received packets from the track's read loop to ReadRTP
// without ever blocking the read loop.
type rtpQueue struct {
	ch      chan []byte
	dropped atomic.Uint64
}

// push copies b and queues it; a full queue drops it.
func (q *rtpQueue) push(b []byte) {
	select {
	case q.ch <- append([]byte(nil), b...):
	default:
		q.dropped.Add(1)
	}
}

// ReadRTP returns the next RTP packet of the track. Buffering starts with
// the first call, so call it in a loop as soon as the track is subscribed.
// It returns io.EOF once the subscription ended (Unsubscribe, or the
// client closed) and every buffered packet was read, and ctx's error when
// ctx ends first. Payloads are the codec's RTP payload: write them to a
// file with Pion's ivfwriter (VP8), oggwriter (Opus) or h264writer, or
// feed a depacketizer. One goroutine should read a track.
func (t *RemoteTrack) ReadRTP(ctx context.Context) (*rtp.Packet, error) {
	q := t.queue()
	var b []byte
	select {
	case b = <-q.ch:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.ended:
		select { // what arrived before the end
		case b = <-q.ch:
		default:
			return nil, io.EOF
		}
	}
	pkt := &rtp.Packet{}
	if err := pkt.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadPacket, err)
	}
	return pkt, nil
}

func (t *RemoteTrack) queue() *rtpQueue {
	if q := t.reader.Load(); q != nil {
		return q
	}
	t.readMu.Lock()
	defer t.readMu.Unlock()
	if q := t.reader.Load(); q != nil {
		return q
	}
	q := &rtpQueue{ch: make(chan []byte, ReadQueue)}
	t.reader.Store(q)
	return q
}

// Done is closed when the subscription ends: Unsubscribe, another
// subscription took its transceiver, or the client closed.
func (t *RemoteTrack) Done() <-chan struct{} { return t.ended }

func (t *RemoteTrack) end() { t.endOnce.Do(func() { close(t.ended) }) }

// RequestKeyframe asks the sender for a keyframe (an RTCP PLI), for
// example before recording starts. It fails with ErrNoMedia before the
// first packet arrived (the SFU sends a keyframe to a new subscriber by
// itself).
func (t *RemoteTrack) RequestKeyframe() error {
	ssrc := t.ssrc.Load()
	if ssrc == 0 || t.peer == nil {
		return ErrNoMedia
	}
	return t.peer.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
}

// MimeType is the codec of the received media ("video/VP8", ...), known
// once the first packet arrived.
func (t *RemoteTrack) MimeType() string {
	if m := t.mime.Load(); m != nil {
		return *m
	}
	return ""
}

func (t *RemoteTrack) readDrops() uint64 {
	if q := t.reader.Load(); q != nil {
		return q.dropped.Load()
	}
	return 0
}
