package sfu

import (
	"sync"

	"github.com/pion/interceptor"
)

// lazyFactory wraps the factory of an interceptor that only works on
// streams the client sends (NACK generation, receiver reports, TWCC
// feedback). Pion binds every interceptor to every PeerConnection and those
// start a goroutine and their state when bound; most sessions only
// receive, so the wrapper creates the real interceptor on the first
// remote stream instead. It must only wrap interceptors whose
// BindRTCPWriter returns its writer unchanged and that ignore local
// streams.
type lazyFactory struct{ f interceptor.Factory }

func (l lazyFactory) NewInterceptor(id string) (interceptor.Interceptor, error) {
	return &lazyInterceptor{f: l.f, id: id}, nil
}

type lazyInterceptor struct {
	f  interceptor.Factory
	id string

	mu     sync.Mutex
	inner  interceptor.Interceptor
	writer interceptor.RTCPWriter
	closed bool
}

// get returns the real interceptor, creating and binding it on first use;
// nil once closed or when it cannot be created.
func (l *lazyInterceptor) get() interceptor.Interceptor {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inner != nil || l.closed {
		return l.inner
	}
	in, err := l.f.NewInterceptor(l.id)
	if err != nil {
		return nil
	}
	if l.writer != nil {
		in.BindRTCPWriter(l.writer)
	}
	l.inner = in
	return in
}

// BindRTCPReader is called once for every RTP sender and receiver of the
// PeerConnection, each with the reader of its own RTCP stream. Each
// returned reader reads its own stream: directly until the real
// interceptor exists, then through the real interceptor bound to that
// same stream.
func (l *lazyInterceptor) BindRTCPReader(r interceptor.RTCPReader) interceptor.RTCPReader {
	lr := &lazyReader{l: l, below: r}
	return lr
}

// lazyReader is the RTCP reader of one stream.
type lazyReader struct {
	l     *lazyInterceptor
	below interceptor.RTCPReader // this stream's chain below the interceptor

	mu      sync.Mutex
	wrapped interceptor.RTCPReader // the real interceptor over below, once it exists
}

func (lr *lazyReader) Read(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
	return lr.reader().Read(b, a)
}

// reader returns what a read goes through now.
func (lr *lazyReader) reader() interceptor.RTCPReader {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	if lr.wrapped != nil {
		return lr.wrapped
	}
	lr.l.mu.Lock()
	in := lr.l.inner
	lr.l.mu.Unlock()
	if in == nil {
		return lr.below
	}
	lr.wrapped = in.BindRTCPReader(lr.below)
	return lr.wrapped
}

func (l *lazyInterceptor) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	l.mu.Lock()
	l.writer = w
	l.mu.Unlock()
	return w
}

func (l *lazyInterceptor) BindLocalStream(_ *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	return w
}

func (l *lazyInterceptor) UnbindLocalStream(*interceptor.StreamInfo) {}

func (l *lazyInterceptor) BindRemoteStream(info *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	if in := l.get(); in != nil {
		return in.BindRemoteStream(info, r)
	}
	return r
}

func (l *lazyInterceptor) UnbindRemoteStream(info *interceptor.StreamInfo) {
	l.mu.Lock()
	in := l.inner
	l.mu.Unlock()
	if in != nil {
		in.UnbindRemoteStream(info)
	}
}

func (l *lazyInterceptor) Close() error {
	l.mu.Lock()
	in := l.inner
	l.closed = true
	l.mu.Unlock()
	if in != nil {
		return in.Close()
	}
	return nil
}
