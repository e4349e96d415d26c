package sfu

import (
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// TestMuteStopsForwarding: while a publisher's tracks are muted the node
// forwards none of their packets, though the publisher keeps sending.
// Unmuted, each subscriber's streams continue without a sequence gap, and
// video resumes on a keyframe.
func TestMuteStopsForwarding(t *testing.T) {
	env := newEnv(t)
	const room, keyEvery = "mute", 25
	pub := env.newPeer("pub", peerOpts{})
	senders := []*sender{
		{track: pub.addSend(webrtc.MimeTypeOpus)[0]},
		{track: pub.addSend(webrtc.MimeTypeVP8)[0], video: true},
	}
	if err := pub.join(room, nil); err != nil {
		t.Fatal(err)
	}
	tracks := env.roomTracks(room)
	if len(tracks) != 2 {
		t.Fatalf("room tracks %+v", tracks)
	}
	sub := env.newPeer("sub", peerOpts{})
	var tcs []*webrtc.RTPTransceiver
	for _, tr := range tracks {
		tcs = append(tcs, sub.addRecv(webrtc.NewRTPCodecType(tr.Kind)))
	}
	var mids []string
	if err := sub.join(room, func() []bus.Subscription {
		var subs []bus.Subscription
		for i, tr := range tracks {
			mids = append(mids, tcs[i].Mid())
			subs = append(subs, bus.Subscription{MID: tcs[i].Mid(), TrackID: tr.ID})
		}
		return subs
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "peers connected", func() bool { return pub.connected() && sub.connected() })

	// The publisher sends all along, muted or not.
	stop := every(5*time.Millisecond, func(c uint32) {
		for _, s := range senders {
			_ = s.send(c, c%keyEvery == 0)
		}
	})
	defer stop()
	received := func(mid string) int { return len(sub.stream(mid).seqs) }
	for _, mid := range mids {
		waitFor(t, 5*time.Second, "media flowing on mid "+mid, func() bool { return received(mid) > 20 })
	}

	mute := func(muted bool) {
		t.Helper()
		for _, tr := range tracks {
			if err := env.request(bus.CmdMute, bus.Mute{SessionID: pub.sessionID(), TrackID: tr.ID, Muted: muted}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	env.node.mu.Lock()
	up := env.node.tracks[tracks[0].ID]
	env.node.mu.Unlock()
	mute(true)
	// Packets forwarded before the mute may still be on their way: they
	// have landed by the time the node has read 20 more.
	inAtMute := up.packetsIn.Load()
	waitFor(t, 5*time.Second, "the node reads 20 packets after the mute", func() bool {
		return up.packetsIn.Load() >= inAtMute+20
	})
	atMute := map[string]int{}
	for _, mid := range mids {
		atMute[mid] = received(mid)
	}
	inAtMute = up.packetsIn.Load()
	waitFor(t, 5*time.Second, "the node reads 100 more packets from the publisher", func() bool {
		return up.packetsIn.Load() >= inAtMute+100
	})
	for _, mid := range mids {
		if got := received(mid); got != atMute[mid] {
			t.Fatalf("muted: mid %s received %d more packets", mid, got-atMute[mid])
		}
	}

	mute(false)
	for i, mid := range mids {
		waitFor(t, 5*time.Second, "media flowing again on mid "+mid, func() bool { return received(mid) > atMute[mid]+20 })
		s := sub.stream(mid)
		for j := 1; j < len(s.seqs); j++ {
			if s.seqs[j] != s.seqs[j-1]+1 {
				t.Fatalf("mid %s: sequence numbers jump from %d to %d at packet %d (muted after %d)", mid, s.seqs[j-1], s.seqs[j], j, atMute[mid])
			}
		}
		if tracks[i].Kind == bus.KindVideo {
			if first := s.arrivals[atMute[mid]]; first%keyEvery != 0 {
				t.Fatalf("video resumed on packet %d, not on a keyframe", first)
			}
		}
	}
}
