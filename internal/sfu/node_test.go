package sfu

import (
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/rtcloud/rtcloud/internal/bus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestForwardTwoPublishersFiveSubscribers: every subscriber receives every
// packet of every track (VP8 and Opus from two publishers).
func TestForwardTwoPublishersFiveSubscribers(t *testing.T) {
	env := newEnv(t)
	const room, packets = "fwd", 150
	var senders []*sender
	var pubs []*testPeer
	for _, id := range []string{"pubA", "pubB"} {
		p := env.newPeer(id, peerOpts{})
		v := p.addSend(webrtc.MimeTypeVP8)[0]
		a := p.addSend(webrtc.MimeTypeOpus)[0]
		if err := p.join(room, nil); err != nil {
			t.Fatal(err)
		}
		senders = append(senders, &sender{track: v, video: true}, &sender{track: a})
		pubs = append(pubs, p)
	}
	tracks := env.roomTracks(room)
	if len(tracks) != 4 {
		t.Fatalf("room has %d tracks, want 4: %+v", len(tracks), tracks)
	}
	var subs []*testPeer
	mids := map[*testPeer][]string{}
	for i := range 5 {
		p := env.newPeer("sub"+string(rune('0'+i)), peerOpts{})
		var tcs []*webrtc.RTPTransceiver
		for _, tr := range tracks {
			tcs = append(tcs, p.addRecv(webrtc.NewRTPCodecType(tr.Kind)))
		}
		err := p.join(room, func() []bus.Subscription {
			var s []bus.Subscription
			for j, tr := range tracks {
				s = append(s, bus.Subscription{MID: tcs[j].Mid(), TrackID: tr.ID})
				mids[p] = append(mids[p], tcs[j].Mid())
			}
			return s
		})
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, p)
	}
	waitFor(t, 10*time.Second, "all peers connected", func() bool {
		for _, p := range append(append([]*testPeer{}, pubs...), subs...) {
			if !p.connected() {
				return false
			}
		}
		return true
	})
	for c := uint32(0); c < packets; c++ {
		for _, s := range senders {
			if err := s.send(c, c%50 == 0); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	for _, p := range subs {
		for j, mid := range mids[p] {
			waitFor(t, 10*time.Second, "all packets on "+p.id+" mid "+mid, func() bool {
				return len(p.stream(mid).counters) == packets
			})
			s := p.stream(mid)
			for c := uint32(0); c < packets; c++ {
				if !s.counters[c] {
					t.Fatalf("%s track %d: packet %d missing", p.id, j, c)
				}
			}
		}
		// Each track's sender reports come from the node's counters: the
		// last one counts every packet and payload byte the subscriber got,
		// and its RTP time continues the stream's timestamps.
		for _, mid := range mids[p] {
			waitFor(t, 5*time.Second, "a complete sender report on "+p.id+" mid "+mid, func() bool {
				s := p.stream(mid)
				n := len(s.reports)
				return n > 0 && s.reports[n-1].PacketCount == uint32(len(s.seqs))
			})
			s := p.stream(mid)
			sr := s.reports[len(s.reports)-1]
			if sr.SSRC != s.ssrc || sr.OctetCount != uint32(s.octets) {
				t.Fatalf("%s mid %s: sender report %+v, stream ssrc %d with %d payload bytes", p.id, mid, sr, s.ssrc, s.octets)
			}
			if ahead := sr.RTPTime - s.lastTS; ahead > 5*90000 {
				t.Fatalf("%s mid %s: report's RTP time %d is %d ticks after the last packet's %d", p.id, mid, sr.RTPTime, ahead, s.lastTS)
			}
		}
		// Every packet the node sent this subscriber, on all four tracks,
		// carries the next transport-wide sequence number (TWCC).
		seen, received := map[uint16]bool{}, 0
		for _, mid := range mids[p] {
			for _, n := range p.stream(mid).twcc {
				seen[n] = true
			}
			received += len(p.stream(mid).seqs)
		}
		if len(seen) != received {
			t.Fatalf("%s: %d distinct transport-wide sequence numbers on %d packets", p.id, len(seen), received)
		}
		for n := range uint16(received) {
			if !seen[n] {
				t.Fatalf("%s: transport-wide sequence number %d missing of 0..%d", p.id, n, received-1)
			}
		}
	}
}
