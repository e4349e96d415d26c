package sfu

import (
	"net"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/rtcloud/rtcloud/internal/netsim"
	"github.com/rtcloud/rtcloud/internal/relay"
)

// TestRelayLossTenPercent: the eu -> us relay link between two real nodes
// loses 10 % of its datagrams at random (netsim). With FEC (following the
// measured loss) and per-hop NACK, a real Pion subscriber on us still
// receives at least 99.9 % of the publisher's packets, counted by the
// counters the publisher writes in each payload.
func TestRelayLossTenPercent(t *testing.T) {
	const packets = 2000
	r := runRelayLoss(t, relay.FECAuto, 0.10, 10, "lossy10", packets)
	st, l, m := r.proxy, r.link, r.missing
	t.Logf("10 %% loss: proxy dropped %d of %d datagrams eu -> us; link: FEC recovered %d, NACKs sent %d, lost %d; subscriber missing %d of %d (delivery %.2f %%)",
		st.DroppedLoss, st.Down+st.DroppedLoss, l.FECRecovered, l.NACKsSent, l.Lost, m, packets, 100*float64(packets-m)/packets)
	if float64(st.DroppedLoss) < 0.05*float64(st.Down+st.DroppedLoss) {
		t.Fatalf("the proxy dropped only %d of %d datagrams", st.DroppedLoss, st.Down+st.DroppedLoss)
	}
	if l.FECRecovered == 0 && l.NACKsSent == 0 {
		t.Fatal("neither FEC nor NACK recovered anything on the link")
	}
	if m > packets/1000 {
		t.Fatalf("%d of %d packets never reached the subscriber (delivery %.2f %%, want >= 99.9 %%)", m, packets, 100*float64(packets-m)/packets)
	}
}

// relayLossRun is what runRelayLoss measured.
type relayLossRun struct {
	proxy   netsim.Stats    // the lossy proxy on the eu -> us link
	link    relay.LinkStats // us's link from eu
	missing int             // counters the subscriber on us never got
}

// runRelayLoss starts an eu and a us node (relay FEC mode fec) whose
// eu -> us link loses the share loss of its datagrams (netsim, seeded),
// publishes video in room on eu, subscribes to it on us, sends packets
// numbered packets and gives retransmissions up to 5 s to land.
func runRelayLoss(t *testing.T, fec relay.FECMode, loss float64, seed uint64, room string, packets uint32) relayLossRun {
	t.Helper()
	envs := newClusterWith(t, func(o *Options) { o.RelayFEC = fec }, "eu", "us")
	eu, us := envs[0], envs[1]
	proxy, err := netsim.Listen(netsim.Options{Upstream: net.UDPAddrFromAddrPort(eu.node.relay.t.Addr()), Loss: loss, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	// us reaches eu through the proxy; eu answers to the proxy's far end,
	// and what eu sends to us is what the proxy loses.
	us.node.relay.t.SetPeer("sfu-eu", proxy.Addr().AddrPort())
	eu.node.relay.t.SetPeer("sfu-us", proxy.UpstreamAddr().AddrPort())
	waitFor(t, 5*time.Second, "link through the proxy", func() bool {
		return proxy.Stats().Down > 5 && eu.link("sfu-us").Up && us.link("sfu-eu").Up
	})
	pub := eu.newPeer(room+"-pub", peerOpts{})
	v := pub.addSend(webrtc.MimeTypeVP8)[0]
	if err := pub.join(room, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "publisher connected", pub.connected)
	sub, mids := subscribeAll(t, us, room+"-sub", room, eu.roomTracks(room))
	s := &sender{track: v, video: true}
	for c := uint32(0); arrivalCount(sub, mids[0]) == 0; c++ { // until the first keyframe arrives
		if c > 500 {
			t.Fatal("nothing reaches the subscriber")
		}
		_ = s.send(1_000_000+c, true)
		time.Sleep(5 * time.Millisecond)
	}
	for c := uint32(0); c < packets+20; c++ {
		if err := s.send(c, c%100 == 0); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // pacing, about 500 packets/s
	}
	missing := func() int {
		got := sub.stream(mids[0]).counters
		n := 0
		for c := uint32(0); c < packets; c++ {
			if !got[c] {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(5 * time.Second) // let the last retransmissions land
	for missing() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	return relayLossRun{proxy: proxy.Stats(), link: us.link("sfu-eu"), missing: missing()}
}
