package relay

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/netsim"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var testSecret = []byte("relay test secret 0123456789abcdef")

// sink records what a transport delivers: packets by the sequence number
// in their payload's first 4 bytes.
type sink struct {
	mu      sync.Mutex
	got     map[uint32]int
	first   map[uint32]time.Time
	via     map[uint32]via
	last    Packet // a deep copy of the last packet
	forward func(p *Packet)
}

func newSink() *sink {
	return &sink{got: map[uint32]int{}, first: map[uint32]time.Time{}, via: map[uint32]via{}}
}

func (s *sink) HandleRelay(_ string, p *Packet) {
	s.mu.Lock()
	if len(p.Payload) >= 4 {
		n := binary.BigEndian.Uint32(p.Payload)
		if s.got[n] == 0 {
			s.first[n] = time.Now()
			s.via[n] = p.via
		}
		s.got[n]++
	}
	s.last = *p
	s.last.Dests = append([]string(nil), p.Dests...)
	s.last.Payload = append([]byte(nil), p.Payload...)
	fw := s.forward
	s.mu.Unlock()
	if fw != nil {
		fw(p)
	}
}

// distinct is the number of different packets delivered.
func (s *sink) distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

func (s *sink) lastPacket() Packet {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// listen starts a transport on loopback, closed at the end of the test.
func listen(t testing.TB, id string, h Handler, mod func(*Config)) *Transport {
	t.Helper()
	cfg := Config{NodeID: id, ListenAddr: "127.0.0.1:0", Secret: testSecret, ProbeInterval: 100 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	tr, err := Listen(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// link makes a and b peers over loopback.
func link(a, b *Transport) {
	a.SetPeer(b.cfg.NodeID, b.Addr())
	b.SetPeer(a.cfg.NodeID, a.Addr())
}

// impaired makes a and b peers with a -> b through a netsim proxy (b
// -> a is direct in effect: the proxy forwards it untouched).
func impaired(t testing.TB, a, b *Transport, o netsim.Options) *netsim.Proxy {
	t.Helper()
	o.Upstream = netUDP(a.Addr())
	px, err := netsim.Listen(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = px.Close() })
	b.SetPeer(a.cfg.NodeID, px.Addr().AddrPort())
	a.SetPeer(b.cfg.NodeID, px.UpstreamAddr().AddrPort())
	return px
}

// waitUp waits until each transport hears the other.
func waitUp(t testing.TB, a, b *Transport) {
	t.Helper()
	waitFor(t, "links up", 5*time.Second, func() bool {
		return link1(a, b.cfg.NodeID).Up && link1(b, a.cfg.NodeID).Up
	})
}

// link1 returns tr's stats of its link to peer.
func link1(tr *Transport, peer string) LinkStats {
	for _, l := range tr.Links() {
		if l.Peer == peer {
			return l
		}
	}
	return LinkStats{}
}

func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	if !poll(timeout, cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// poll reports whether cond became true before timeout.
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}

// media is a media packet numbered n with a 1000-byte payload.
func media(n uint32, dests ...string) *Packet {
	p := &Packet{Type: TypeMedia, Namespace: "ns", Room: "room", Stream: StreamID{Track: "TR_video", Layer: 2},
		Origin: "a", Dests: dests, Payload: make([]byte, 1000)}
	binary.BigEndian.PutUint32(p.Payload, n)
	for i := 4; i < len(p.Payload); i++ {
		p.Payload[i] = byte(n) + byte(i)
	}
	return p
}

// sendPaced sends n media packets numbered from 0, about perMs a
// millisecond, so the link's cache always covers the NACK delay.
func sendPaced(t testing.TB, tr *Transport, to string, n, perMs int, dests ...string) {
	t.Helper()
	tk := time.NewTicker(time.Millisecond)
	defer tk.Stop()
	p := media(0, dests...)
	for i := 0; i < n; {
		for j := 0; j < perMs && i < n; j++ {
			binary.BigEndian.PutUint32(p.Payload, uint32(i))
			if err := tr.Send(to, p); err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
			i++
		}
		<-tk.C
	}
}

func netUDP(a netip.AddrPort) *net.UDPAddr { return net.UDPAddrFromAddrPort(a) }

var netipZero netip.AddrPort

// assumeVerified sets tr's link from peer to epoch as if its probe round
// trip had been made, so hand-sealed datagrams reach the parsers.
func assumeVerified(t testing.TB, tr *Transport, peer string, epoch uint64) {
	t.Helper()
	p := (*tr.peers.Load())[peer]
	aead, err := linkAEAD(tr.cfg.Secret, peer, tr.cfg.NodeID, epoch)
	if err != nil {
		t.Fatal(err)
	}
	p.epoch, p.verified, p.recvAEAD = epoch, true, aead
}
