package sfu

import (
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// stallProxy relays TCP connections to target; while stalled it stops
// reading what target sends, as a subscriber that stops reading would.
type stallProxy struct {
	ln     net.Listener
	target string
	hold   sync.Mutex // held while stalled
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *stallProxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *stallProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			// A small receive window, so a stall backs up into the node fast.
			return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		}}
		up, err := d.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { defer p.wg.Done(); _, _ = io.Copy(up, c) }()
		go func() { defer p.wg.Done(); p.copyDown(c, up) }()
	}
}

// copyDown relays target -> client, waiting while stalled.
func (p *stallProxy) copyDown(dst, src net.Conn) {
	buf := make([]byte, 2048)
	for {
		p.hold.Lock()
		p.hold.Unlock() //nolint:staticcheck // a gate: wait while stalled
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

func (p *stallProxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// TestSlowTCPSubscriber: an ICE-TCP subscriber that stops reading fills
// its bounded queue; the node then drops its packets (counted) instead of
// blocking, a UDP subscriber of the same track still gets every packet,
// and once the slow one reads again it gets media from a keyframe on.
func TestSlowTCPSubscriber(t *testing.T) {
	env := newEnvWith(t, func(o *Options) { o.Config.TCPWriteBufferBytes = 32 << 10 })
	pub := env.newPeer("spub", peerOpts{})
	v := pub.addSend(webrtc.MimeTypeVP8)[0]
	if err := pub.join("slow", nil); err != nil {
		t.Fatal(err)
	}
	infos := env.roomTracks("slow")
	proxy := newStallProxy(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(env.node.MediaPort())))
	candidate := " 127.0.0.1 " + strconv.Itoa(env.node.MediaPort()) + " typ host tcptype passive"
	slow := env.newPeer("slowsub", peerOpts{tcpOnly: true})
	slow.rewriteAnswer = func(sdp string) string {
		return strings.ReplaceAll(sdp, candidate, " 127.0.0.1 "+strconv.Itoa(proxy.port())+" typ host tcptype passive")
	}
	fast := env.newPeer("fastsub", peerOpts{})
	var mids []string
	for _, p := range []*testPeer{slow, fast} {
		tc := p.addRecv(webrtc.RTPCodecTypeVideo)
		if err := p.join("slow", func() []bus.Subscription {
			return []bus.Subscription{{MID: tc.Mid(), TrackID: infos[0].ID}}
		}); err != nil {
			t.Fatal(err)
		}
		mids = append(mids, tc.Mid())
	}
	waitFor(t, 10*time.Second, "connected", func() bool { return pub.connected() && slow.connected() && fast.connected() })
	s := &sender{track: v, video: true, big: true}
	send := func(from, to uint32) {
		for c := from; c < to; c++ {
			if err := s.send(c, c%200 == 0); err != nil {
				t.Fatal(err)
			}
			if c%4 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}
	send(0, 50)
	waitFor(t, 10*time.Second, "slow subscriber receives before the stall", func() bool { return len(slow.stream(mids[0]).counters) > 0 })

	proxy.hold.Lock()
	const stalled = 3000
	send(50, stalled)
	refused := env.node.mux.TCPDropped()
	plisBefore := testutil.ToFloat64(env.node.metrics.PLIs)
	proxy.hold.Unlock()
	if refused == 0 {
		t.Fatal("the stalled ICE-TCP subscriber's queue never filled; the test did not stall it")
	}
	send(stalled, stalled+1000)
	waitFor(t, 15*time.Second, "every packet on the UDP subscriber", func() bool {
		got := fast.stream(mids[1]).counters
		for c := uint32(0); c < stalled+980; c++ {
			if !got[c] {
				return false
			}
		}
		return true
	})
	waitFor(t, 15*time.Second, "the slow subscriber gets media again", func() bool {
		for c := range slow.stream(mids[0]).counters {
			if c >= stalled {
				return true
			}
		}
		return false
	})
	plis := testutil.ToFloat64(env.node.metrics.PLIs)
	t.Logf("ICE-TCP packets dropped %d, PLIs %v -> %v", refused, plisBefore, plis)
	if plis <= plisBefore {
		t.Fatal("no keyframe requested when the slow subscriber caught up")
	}
	if got, err := testutil.GatherAndCount(env.node.metrics.Registry, "rtcloud_sfu_tcp_dropped_packets_total"); err != nil || got != 1 {
		t.Fatalf("tcp drop metric: %d series, %v", got, err)
	}
}
