package sfu

import (
	"sync"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// dropFactory builds an interceptor that drops chosen incoming RTP
// packets the first time they arrive, to inject loss on a client.
type dropFactory struct{ drop func(seq uint16) bool }

func (f *dropFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &dropInterceptor{drop: f.drop, seen: map[uint32]map[uint16]bool{}}, nil
}

type dropInterceptor struct {
	interceptor.NoOp
	drop func(seq uint16) bool
	mu   sync.Mutex
	seen map[uint32]map[uint16]bool
}

func (d *dropInterceptor) BindRemoteStream(info *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	if info.MimeType == "" || info.MimeType[0] != 'v' {
		return r
	}
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			n, attr, err := r.Read(b, a)
			if err != nil {
				return n, attr, err
			}
			var h rtp.Header
			if _, err := h.Unmarshal(b[:n]); err != nil {
				return n, attr, nil
			}
			d.mu.Lock()
			seen := d.seen[h.SSRC]
			if seen == nil {
				seen = map[uint16]bool{}
				d.seen[h.SSRC] = seen
			}
			first := !seen[h.SequenceNumber]
			seen[h.SequenceNumber] = true
			d.mu.Unlock()
			if first && d.drop(h.SequenceNumber) {
				continue
			}
			return n, attr, nil
		}
	})
}
