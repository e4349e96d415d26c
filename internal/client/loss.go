package client

import (
	"encoding/binary"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/webrtc/v4"
)

// LossFunc decides whether a received RTP packet is dropped before the
// NACK generator sees it, to inject loss on the receive side. It is called
// from the receive path of each stream, concurrently for different streams.
type LossFunc func(ssrc uint32, seq uint16) bool

// lossFactory builds the interceptor that applies a LossFunc. It must be
// registered before the NACK generator so it sits closer to the network.
type lossFactory struct{ drop LossFunc }

func (f lossFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &lossInterceptor{drop: f.drop}, nil
}

type lossInterceptor struct {
	interceptor.NoOp
	drop LossFunc
}

func (l *lossInterceptor) BindRemoteStream(info *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
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
