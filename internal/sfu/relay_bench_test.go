package sfu

import (
	"log/slog"
	"net/netip"
	"testing"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/metrics"
	"github.com/rtcloud/rtcloud/internal/relay"
)

// countingTransport counts what the node sends.
type countingTransport struct{ sent int }

func (c *countingTransport) Send(string, *relay.Packet) error { c.sent++; return nil }
func (c *countingTransport) SetPeer(string, netip.AddrPort)   {}
func (c *countingTransport) RemovePeer(string)                {}
func (c *countingTransport) Links() []relay.LinkStats         { return nil }
func (c *countingTransport) Addr() netip.AddrPort             { return netip.AddrPort{} }
func (c *countingTransport) Close() error                     { return nil }

// benchRelayNode is a node with a relay on a counting transport.
func benchRelayNode(id string) (*Node, *countingTransport) {
	n := &Node{id: id, log: slog.New(slog.DiscardHandler), metrics: metrics.NewSFU(id), tracks: map[string]*upTrack{}}
	ct := &countingTransport{}
	n.relay = newRelayNode(n, ct)
	return n, ct
}

// BenchmarkRelayIngress is BenchmarkForward's packet arriving over the
// relay instead of from a local publisher: the relay handler taps it for
// an ingress track with the same 10 subscribers. The target is that it
// costs no more than a locally published packet; allocs/op must stay 0.
func BenchmarkRelayIngress(b *testing.B) {
	n, _ := benchRelayNode("sfu-b")
	up, ws := benchTrack(10)
	up.owner = bus.Participant{Namespace: "ns", Room: "r"}
	up.ingress = true
	in := &relayIn{r: n.relay, up: up, origin: "sfu-a"}
	origin := "sfu-a"
	in.from.Store(&origin)
	n.relay.ins.Store(&map[string]*relayIn{up.id: in})
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SSRC: 42, Timestamp: 1000}, Payload: make([]byte, 1100)}
	pkt.Payload[0] = 0x10
	raw, _ := pkt.Marshal()
	p := &relay.Packet{Type: relay.TypeMedia, Namespace: "ns", Room: "r", Stream: relay.StreamID{Track: up.id},
		Origin: "sfu-a", Dests: []string{"sfu-b"}, Payload: raw}
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		raw[2], raw[3] = byte(i>>8), byte(i)
		n.relay.HandleRelay("sfu-a", p)
	}
	b.StopTimer()
	if ws[0].n == 0 {
		b.Fatal("nothing forwarded")
	}
}

// BenchmarkRelayTransit is a hop with no subscriber of its own passing a
// packet for three destinations on, split over two next hops.
func BenchmarkRelayTransit(b *testing.B) {
	n, ct := benchRelayNode("sfu-us")
	n.relay.setRoutes(bus.NodeRoutes{Version: 1, Node: "sfu-us", Routes: map[string]bus.Route{
		"sfu-ap": {NextHop: "sfu-ap"}, "sfu-sa": {NextHop: "sfu-ap"}, "sfu-af": {NextHop: "sfu-af"}}})
	p := &relay.Packet{Type: relay.TypeMedia, Namespace: "ns", Room: "r", Stream: relay.StreamID{Track: "TR_x"},
		Origin: "sfu-eu", Dests: []string{"sfu-ap", "sfu-sa", "sfu-af"}, Payload: make([]byte, 1100)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n.relay.HandleRelay("sfu-eu", p)
	}
	b.StopTimer()
	if ct.sent != 2*b.N {
		b.Fatalf("%d sends for %d packets, want 2 each", ct.sent, b.N)
	}
}

// TestRelayAlternateNextHop: while the link to a route's next hop is
// down, the node uses the route's alternate, without the controller.
func TestRelayAlternateNextHop(t *testing.T) {
	n, _ := benchRelayNode("sfu-eu")
	n.relay.setRoutes(bus.NodeRoutes{Version: 1, Node: "sfu-eu", Routes: map[string]bus.Route{
		"sfu-ap": {NextHop: "sfu-us", Alternate: "sfu-ap"}, "sfu-us": {NextHop: "sfu-us"}}})
	if got := n.relay.nextHop("sfu-ap"); got != "sfu-us" {
		t.Fatalf("next hop to ap %s, want us", got)
	}
	n.relay.linkState("sfu-us", false)
	if got := n.relay.nextHop("sfu-ap"); got != "sfu-ap" {
		t.Fatalf("next hop to ap with us down %s, want the alternate ap", got)
	}
	if got := n.relay.nextHop("sfu-us"); got != "sfu-us" {
		t.Fatalf("next hop to us %s", got)
	}
	n.relay.linkState("sfu-us", true)
	if got := n.relay.nextHop("sfu-ap"); got != "sfu-us" {
		t.Fatalf("next hop to ap once us is back %s, want us", got)
	}
}

// TestRelayTransitKeyframeThrottle: a hop passes on one keyframe request
// per stream and layer per keyframeMinGap; demand always passes.
func TestRelayTransitKeyframeThrottle(t *testing.T) {
	n, ct := benchRelayNode("sfu-us")
	pli, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: 1}})
	p := &relay.Packet{Type: relay.TypeFeedback, Namespace: "ns", Room: "r", Stream: relay.StreamID{Track: "TR_x", Layer: 2},
		Origin: "sfu-eu", Dests: []string{"sfu-ap"}, Payload: pli}
	for range 3 {
		n.relay.HandleRelay("sfu-ap", p)
	}
	if ct.sent != 1 {
		t.Fatalf("%d keyframe requests passed on, want 1", ct.sent)
	}
	var b [demandPktSize]byte
	p.Payload = demandPacket(&b, 1)
	for range 3 {
		n.relay.HandleRelay("sfu-ap", p)
	}
	if ct.sent != 4 {
		t.Fatalf("%d packets passed on, want every demand", ct.sent)
	}
}
