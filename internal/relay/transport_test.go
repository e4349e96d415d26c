package relay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rtcloud/rtcloud/internal/netsim"
)

func TestTwoTransports(t *testing.T) {
	reg := prometheus.NewRegistry()
	sa, sb := newSink(), newSink()
	a := listen(t, "a", sa, func(c *Config) { c.Registerer = reg })
	b := listen(t, "b", sb, nil)
	link(a, b)
	waitUp(t, a, b)

	want := media(7, "b", "c")
	if err := a.Send("b", want); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "media at b", 2*time.Second, func() bool { return sb.distinct() == 1 })
	got := sb.lastPacket()
	if got.Type != TypeMedia || got.Namespace != "ns" || got.Room != "room" || got.Stream != want.Stream ||
		got.Origin != "a" || !slices.Equal(got.Dests, []string{"b", "c"}) || got.Hops != 1 ||
		!bytes.Equal(got.Payload, want.Payload) {
		t.Fatalf("b got %+v", got)
	}
	fb := &Packet{Type: TypeFeedback, Namespace: "ns", Room: "room", Stream: want.Stream, Origin: "a",
		Dests: []string{"a"}, Payload: []byte{0, 0, 0, 9, 0x81, 206}}
	if err := b.Send("a", fb); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "feedback at a", 2*time.Second, func() bool { return sa.distinct() == 1 })
	if got := sa.lastPacket(); got.Type != TypeFeedback || !bytes.Equal(got.Payload, fb.Payload) {
		t.Fatalf("a got %+v", got)
	}
	waitFor(t, "an RTT sample", 2*time.Second, func() bool { return link1(a, "b").RTT > 0 })

	// Refused sends.
	for _, c := range []struct {
		to   string
		p    *Packet
		want error
	}{
		{"nobody", media(1, "b"), ErrUnknownPeer},
		{"b", &Packet{Type: TypeProbe, Origin: "a", Dests: []string{"b"}}, ErrPacketType},
		{"b", &Packet{Type: TypeMedia, Origin: "a", Dests: []string{"b"}, Hops: DefaultMaxHops}, ErrHopLimit},
		{"b", &Packet{Type: TypeMedia, Origin: "a", Payload: make([]byte, 10)}, ErrTooLarge},
		{"b", &Packet{Type: TypeMedia, Origin: "a", Dests: []string{"b"}, Payload: make([]byte, MaxPayload+1)}, ErrTooLarge},
	} {
		if err := a.Send(c.to, c.p); !errors.Is(err, c.want) {
			t.Errorf("Send(%s, %+v) = %v, want %v", c.to, c.p.Type, err, c.want)
		}
	}
	if n := testutil.ToFloat64(collectorFor(t, reg, "rtcloud_relay_packets_total", "peer", "b", "direction", "out")); n < 2 {
		t.Fatalf("rtcloud_relay_packets_total{peer=b,direction=out} = %v", n)
	}
}

// collectorFor finds one series of a gathered metric family by label
// name/value pairs.
func collectorFor(t *testing.T, reg *prometheus.Registry, name string, labels ...string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue metric
				}
			}
			g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"})
			g.Set(m.GetCounter().GetValue() + m.GetGauge().GetValue())
			return g
		}
	}
	t.Fatalf("no %s%v", name, labels)
	return nil
}

// A three-node chain: b forwards what is for c; a loss on b -> c is
// repaired by b, the hop that lost it, not by the origin.
func TestThreeTransportsPerHopNACK(t *testing.T) {
	sa, sb, sc := newSink(), newSink(), newSink()
	a := listen(t, "a", sa, func(c *Config) { c.FEC = FECOff })
	b := listen(t, "b", sb, func(c *Config) { c.FEC = FECOff })
	c := listen(t, "c", sc, nil)
	sb.forward = func(p *Packet) {
		if slices.Contains(p.Dests, "c") {
			if err := b.Send("c", p); err != nil {
				t.Errorf("forward: %v", err)
			}
		}
	}
	link(a, b)
	impaired(t, b, c, netsim.Options{Loss: 0.05, Seed: 3})
	waitUp(t, a, b)
	waitUp(t, b, c)

	const n = 1000
	sendPaced(t, a, "b", n, 5, "b", "c")
	waitFor(t, "all packets at c", 10*time.Second, func() bool { return sc.distinct() == n })
	if got := sc.lastPacket(); got.Hops != 2 || got.Origin != "a" {
		t.Fatalf("c got hops %d origin %q", got.Hops, got.Origin)
	}
	if sb.distinct() != n {
		t.Fatalf("b (a destination on the path) got %d of %d", sb.distinct(), n)
	}
	bc, ab := link1(b, "c"), link1(a, "b")
	if bc.Retransmits == 0 || ab.Retransmits != 0 {
		t.Fatalf("retransmissions: b->c %d, a->b %d; want the lossy hop only", bc.Retransmits, ab.Retransmits)
	}
	t.Logf("b->c: %d retransmissions, c asked %d", bc.Retransmits, link1(c, "b").NACKsSent)
}

// deliveryUnderLoss sends through a lossy link and checks the share
// delivered.
func deliveryUnderLoss(t *testing.T, loss float64, fec FECMode) (LinkStats, LinkStats) {
	sb := newSink()
	a := listen(t, "a", newSink(), func(c *Config) { c.FEC = fec })
	b := listen(t, "b", sb, nil)
	px := impaired(t, a, b, netsim.Options{Loss: loss, Seed: 11})
	waitUp(t, a, b)
	const n = 3000
	sendPaced(t, a, "b", n, 5, "b")
	// Wait for everything; what is still missing after the deadline is
	// judged against the 99.9 % bar below.
	poll(10*time.Second, func() bool { return sb.distinct() == n })
	got := sb.distinct()
	ab, ba := link1(a, "b"), link1(b, "a")
	t.Logf("loss %.0f%%: delivered %d/%d; proxy dropped %d; NACKed %d, retransmitted %d, parity %d, FEC rebuilt %d, lost %d",
		loss*100, got, n, px.Stats().DroppedLoss, ba.NACKsSent, ab.Retransmits, ab.FECSent, ba.FECRecovered, ba.Lost)
	if got*1000 < n*999 {
		t.Fatalf("delivered %d of %d (< 99.9%%)", got, n)
	}
	return ab, ba
}

func TestNACKRecoversFivePercent(t *testing.T) {
	ab, _ := deliveryUnderLoss(t, 0.05, FECOff)
	if ab.Retransmits == 0 || ab.FECSent != 0 {
		t.Fatalf("retransmits %d, parity %d", ab.Retransmits, ab.FECSent)
	}
}

func TestFECAndNACKTenPercent(t *testing.T) {
	ab, ba := deliveryUnderLoss(t, 0.10, FECAuto)
	if ab.FECSent == 0 || ba.FECRecovered == 0 || ab.FECParity == 0 {
		t.Fatalf("parity sent %d, rebuilt %d, parity per group %d", ab.FECSent, ba.FECRecovered, ab.FECParity)
	}
	if ab.LossOut < 0.05 || ab.LossOut > 0.2 {
		t.Fatalf("a's measured loss to b %.3f, want about 0.10", ab.LossOut)
	}
}

func TestCleanLinkSendsNoParity(t *testing.T) {
	sb := newSink()
	a := listen(t, "a", newSink(), nil)
	b := listen(t, "b", sb, nil)
	link(a, b)
	waitUp(t, a, b)
	sendPaced(t, a, "b", 500, 5, "b")
	waitFor(t, "delivery", 5*time.Second, func() bool { return sb.distinct() == 500 })
	if l := link1(a, "b"); l.FECSent != 0 || l.Retransmits != 0 || l.LossOut != 0 {
		t.Fatalf("clean link: %+v", l)
	}
}

func TestProbesMeasureDelay(t *testing.T) {
	const delay = 40 * time.Millisecond
	a := listen(t, "a", newSink(), func(c *Config) { c.ProbeInterval = 50 * time.Millisecond })
	b := listen(t, "b", newSink(), func(c *Config) { c.ProbeInterval = 50 * time.Millisecond })
	impaired(t, a, b, netsim.Options{Delay: delay, Jitter: 5 * time.Millisecond, Seed: 5})
	waitUp(t, a, b)
	// Each side's probes cross the delayed direction once per round trip.
	waitFor(t, "RTT samples", 5*time.Second, func() bool {
		return link1(a, "b").RTT >= delay-5*time.Millisecond && link1(b, "a").RTT >= delay-5*time.Millisecond
	})
	for _, l := range []LinkStats{link1(a, "b"), link1(b, "a")} {
		if l.RTT > delay+time.Second {
			t.Fatalf("%s: RTT %v with %v of delay", l.Peer, l.RTT, delay)
		}
		t.Logf("%s: RTT %v jitter %v", l.Peer, l.RTT, l.Jitter)
	}
}

func TestLinkDownAfterPeerCloses(t *testing.T) {
	var downAt atomic.Int64
	a := listen(t, "a", newSink(), func(c *Config) {
		c.OnLinkState = func(peer string, up bool) {
			if peer == "b" && !up {
				downAt.Store(time.Now().UnixNano())
			}
		}
	})
	b := listen(t, "b", newSink(), nil)
	link(a, b)
	waitUp(t, a, b)
	closed := time.Now()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "link down", 5*time.Second, func() bool { return downAt.Load() != 0 })
	after := time.Unix(0, downAt.Load()).Sub(closed)
	t.Logf("link down %v after the peer closed", after)
	// DownAfter is 1 s; the last probe heard may be up to one probe
	// interval before Close; the bound is generous for a loaded machine.
	if after > 3*time.Second {
		t.Fatalf("link down %v after the peer closed", after)
	}
	if link1(a, "b").Up {
		t.Fatal("Links still says up")
	}
}

// tap sits between a and b: it forwards what a sends to b (while target
// is set) and keeps the large datagrams (media).
type tap struct {
	conn   *net.UDPConn
	target atomic.Pointer[net.UDPAddr]
	media  chan []byte
	done   chan struct{}
}

func newTap(t *testing.T) *tap {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	tp := &tap{conn: c, media: make(chan []byte, 16), done: make(chan struct{})}
	go func() {
		defer close(tp.done)
		buf := make([]byte, maxDatagram)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if n > 1000 {
				select {
				case tp.media <- append([]byte(nil), buf[:n]...):
				default:
				}
			}
			if to := tp.target.Load(); to != nil {
				_, _ = c.WriteToUDP(buf[:n], to)
			}
		}
	}()
	t.Cleanup(func() { _ = c.Close(); <-tp.done })
	return tp
}

func (tp *tap) addr() netip.AddrPort { return tp.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (tp *tap) send(t *testing.T, d []byte, to netip.AddrPort) {
	t.Helper()
	if _, err := tp.conn.WriteToUDP(d, net.UDPAddrFromAddrPort(to)); err != nil {
		t.Fatal(err)
	}
}

// Datagrams that are forged, replayed, under a wrong key, from an unknown
// node or past the hop limit are dropped and counted, never delivered.
func TestRefusedDatagrams(t *testing.T) {
	sb := newSink()
	b := listen(t, "b", sb, nil)
	tp := newTap(t)
	tp.target.Store(net.UDPAddrFromAddrPort(b.Addr()))
	a := listen(t, "a", newSink(), nil)
	a.SetPeer("b", tp.addr())
	b.SetPeer("a", a.Addr())
	waitUp(t, a, b)
	if err := a.Send("b", media(1, "b")); err != nil {
		t.Fatal(err)
	}
	dg := <-tp.media
	waitFor(t, "the genuine datagram", 2*time.Second, func() bool { return sb.distinct() == 1 })
	expect := func(tr *Transport, reason string, n uint64) {
		t.Helper()
		waitFor(t, reason+" drops", 2*time.Second, func() bool { return tr.Drops()[reason] >= n })
	}
	tp.send(t, dg, b.Addr())
	expect(b, "replay", 1)
	// Altered copies carry a fresh counter, else they are replays.
	o, _ := parseOuter(dg)
	alter := func(counter uint64, at int) []byte {
		f := slices.Clone(dg)
		binary.BigEndian.PutUint64(f[o.hdrLen-8:], counter)
		if at != 0 {
			f[at] ^= 1
		}
		return f
	}
	tp.send(t, alter(o.counter+1000, 0), b.Addr()) // the counter is authenticated
	expect(b, "auth", 1)
	tp.send(t, alter(o.counter+1001, len(dg)-20), b.Addr()) // ciphertext
	expect(b, "auth", 2)
	tp.send(t, alter(o.counter+1002, len(dg)-1), b.Addr()) // tag
	expect(b, "auth", 3)
	tp.send(t, dg[:10], b.Addr())
	expect(b, "malformed", 1)

	// The right name under another key.
	wrong := listen(t, "a", newSink(), func(c *Config) { c.Secret = []byte("another secret, 32 bytes long...") })
	wrong.SetPeer("b", b.Addr())
	if err := wrong.Send("b", media(2, "b")); err != nil {
		t.Fatal(err)
	}
	expect(b, "auth", 4)
	// A node b does not know.
	stranger := listen(t, "x", newSink(), nil)
	stranger.SetPeer("b", b.Addr())
	if err := stranger.Send("b", media(3, "b")); err != nil {
		t.Fatal(err)
	}
	expect(b, "unknown_peer", 1)
	// A peer whose limit is higher than b's.
	far := listen(t, "far", newSink(), func(c *Config) { c.MaxHops = 40 })
	far.SetPeer("b", b.Addr())
	b.SetPeer("far", far.Addr())
	waitUp(t, far, b)
	p := media(4, "b")
	p.Hops = 20
	if err := far.Send("b", p); err != nil {
		t.Fatal(err)
	}
	expect(b, "hop_limit", 1)
	if sb.distinct() != 1 {
		t.Fatalf("b delivered %d packets, want only the genuine one", sb.distinct())
	}

	// b restarts and so forgets its replay window: a recorded datagram of
	// a's current epoch is still refused, and does not make the link up,
	// until a probe round trip with the live a proves the epoch.
	tp.target.Store(nil)
	_ = b.Close()
	sb2 := newSink()
	b2 := listen(t, "b", sb2, nil)
	b2.SetPeer("a", a.Addr())
	tp.send(t, dg, b2.Addr())
	expect(b2, "unverified", 1)
	tp.send(t, dg, b2.Addr())
	expect(b2, "replay", 1)
	if sb2.distinct() != 0 || link1(b2, "a").Up {
		t.Fatalf("a replay reached the restarted node: %d delivered, %+v", sb2.distinct(), link1(b2, "a"))
	}
}

func TestPeerRestartIsAccepted(t *testing.T) {
	sb := newSink()
	b := listen(t, "b", sb, nil)
	a1 := listen(t, "a", newSink(), nil)
	link(a1, b)
	waitUp(t, a1, b)
	if err := a1.Send("b", media(1, "b")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "first life", 2*time.Second, func() bool { return sb.distinct() == 1 })
	_ = a1.Close()
	a2 := listen(t, "a", newSink(), nil)
	link(a2, b)
	if err := a2.Send("b", media(2, "b")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "second life", 2*time.Second, func() bool { return sb.distinct() == 2 })
}

func TestListenRefusesBadConfig(t *testing.T) {
	for _, c := range []Config{
		{NodeID: "", Secret: testSecret, ListenAddr: "127.0.0.1:0"},
		{NodeID: "a", Secret: []byte("short"), ListenAddr: "127.0.0.1:0"},
		{NodeID: "a", Secret: testSecret, ListenAddr: "nope:x"},
	} {
		if _, err := Listen(c, newSink()); !errors.Is(err, ErrBadConfig) {
			t.Errorf("Listen(%+v) = %v", c, err)
		}
	}
}
