package client

import (
	"encoding/binary"
	"github.com/rtcloud/rtcloud/internal/rtpbuf"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// LossFunc decides whether a received RTP packet is dropped before the
// NACK generator sees it, to inject loss on the receive side. It is called
// from the receive path of each stream, concurrently for different streams.
type LossFunc func(ssrc uint32, seq uint16) bool

// netFactory builds the interceptor nearest to the network: it applies a
// LossFunc to received packets and counts the NACKs sent. It must be
// registered before the NACK generator.
type netFactory struct {
	drop  LossFunc
	nacks *atomic.Uint64
}

func (f netFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &netInterceptor{drop: f.drop, nacks: f.nacks}, nil
}

type netInterceptor struct {
	interceptor.NoOp
	drop  LossFunc
	nacks *atomic.Uint64
}

func (l *netInterceptor) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	return interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, a interceptor.Attributes) (int, error) {
		for _, p := range pkts {
			if n, ok := p.(*rtcp.TransportLayerNack); ok {
				l.nacks.Add(uint64(rtpbuf.CountNACKed(n.Nacks)))
			}
		}
		return w.Write(pkts, a)
	})
}

func (l *netInterceptor) BindRemoteStream(info *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	if l.drop == nil {
		return r
	}
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			n, attr, err := r.Read(b, a)
			if err != nil || n < 12 {
				return n, attr, err
			}
			if !l.drop(binary.BigEndian.Uint32(b[8:]), binary.BigEndian.Uint16(b[2:])) {
				return n, attr, nil
			}
		}
	})
}

func configureNack(m *webrtc.MediaEngine, reg *interceptor.Registry, interval time.Duration) error {
	if interval <= 0 {
		interval = 50 * time.Millisecond
	}
	return webrtc.ConfigureNackWithOptions(m, reg, []nack.GeneratorOption{nack.GeneratorInterval(interval)})
}
