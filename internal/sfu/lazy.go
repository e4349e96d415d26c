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

	mu      sync.Mutex
	inner   interceptor.Interceptor
	writer  interceptor.RTCPWriter
	reader  interceptor.RTCPReader // the chain below this interceptor
	wrapped interceptor.RTCPReader // inner's reader over it, once inner exists
	closed  bool
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
	if l.reader != nil {
		l.wrapped = in.BindRTCPReader(l.reader)
	}
	l.inner = in
	return in
}

func (l *lazyInterceptor) BindRTCPReader(r interceptor.RTCPReader) interceptor.RTCPReader {
	l.mu.Lock()
	l.reader = r
	l.mu.Unlock()
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		l.mu.Lock()
		w := l.wrapped
		l.mu.Unlock()
		if w != nil {
			return w.Read(b, a)
		}
		return r.Read(b, a)
	})
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
