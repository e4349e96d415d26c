package browsertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
)

// recording installs a recorder of the room's reconnect events on a page.
const recordJS = `(() => { const r = window.rtcloudApp.room; window.__rec = {reconnecting: [], reconnected: [], states: []};
  r.on('reconnecting', (c) => window.__rec.reconnecting.push(c));
  r.on('reconnected', (i) => window.__rec.reconnected.push(i.how));
  r.on('stateChanged', (s) => window.__rec.states.push(s));
  r.on('mediaState', (s) => console.log('ice', s, r.peerConnection && r.peerConnection.connectionState)); })()`

type recorded struct {
	Reconnecting []string `json:"reconnecting"`
	Reconnected  []string `json:"reconnected"`
	States       []string `json:"states"`
}

// waitRecovered waits for the page to report "reconnected" with how.
func waitRecovered(t *testing.T, p *page, how string) recorded {
	t.Helper()
	var rec recorded
	eventually(t, 30*time.Second, p.name+" reconnects by "+how, func() error {
		if err := p.eval(`window.__rec`, &rec); err != nil {
			return err
		}
		if len(rec.Reconnected) == 0 || rec.Reconnected[len(rec.Reconnected)-1] != how {
			return fmt.Errorf("%+v", rec)
		}
		return nil
	})
	return rec
}

// tileFrames waits until the page's tile of name belongs to session and
// plays frames (the count of presented frames rises).
func tileFrames(t *testing.T, p *page, name, session string) {
	t.Helper()
	js := fmt.Sprintf(`(() => { const t = [...document.querySelectorAll('#grid .tile')].find((x) =>
		!x.classList.contains('local') && x.querySelector('.name').textContent === %q);
		return t ? {session: t.dataset.session, frames: t.querySelector('video').getVideoPlaybackQuality().totalVideoFrames} : null; })()`, name)
	type st struct {
		Session string `json:"session"`
		Frames  int    `json:"frames"`
	}
	first := -1
	eventually(t, 30*time.Second, p.name+" plays "+name+"'s video from session "+session, func() error {
		var s *st
		if err := p.eval(js, &s); err != nil {
			return err
		}
		if s == nil || s.Session != session {
			return fmt.Errorf("tile %+v", s)
		}
		if first < 0 {
			first = s.Frames
		}
		if s.Frames < first+10 {
			return fmt.Errorf("frames %d -> %d", first, s.Frames)
		}
		return nil
	})
}

func sessionOf(t *testing.T, p *page) string {
	t.Helper()
	var id string
	p.mustEval(`window.rtcloudApp.room.sessionId`, &id)
	return id
}

// TestReconnect drives the SDK's three ways back: an ICE restart, a resume
// of the session after the WebSocket drops, and a fresh session after the
// SFU ended the old one. After each, both pages see each other again.
func TestReconnect(t *testing.T) {
	const room = "reconnect"
	s, _, alice, bob := twoInRoom(t, room)
	alice.mustEval(recordJS, nil)
	session := sessionOf(t, alice)

	t.Run("ice-restart", func(t *testing.T) {
		alice.mustEval(`window.rtcloudApp.room._recovery.start('media')`, nil)
		waitRecovered(t, alice, "ice-restart")
		if got := sessionOf(t, alice); got != session {
			t.Fatalf("session changed from %s to %s", session, got)
		}
		tileFrames(t, bob, "Alice", session)
		tileFrames(t, alice, "Bob", sessionOf(t, bob))
	})

	t.Run("resume", func(t *testing.T) {
		// The WebSocket drops; media keeps flowing, so the session stays
		// and the page resumes it.
		alice.mustEval(`window.rtcloudApp.room.signal.ws.close()`, nil)
		rec := waitRecovered(t, alice, "resume")
		if rec.Reconnecting[len(rec.Reconnecting)-1] != "signal" {
			t.Errorf("reconnecting causes %v, want signal last", rec.Reconnecting)
		}
		if got := sessionOf(t, alice); got != session {
			t.Fatalf("session changed from %s to %s", session, got)
		}
		tileFrames(t, bob, "Alice", session)
		tileFrames(t, alice, "Bob", sessionOf(t, bob))
	})

	t.Run("rejoin", func(t *testing.T) {
		// The SFU ends the session (as after an ICE failure or a kick): the
		// page starts over in a new session and publishes again.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var reply bus.Reply
		if err := s.Bus.Request(ctx, bus.NodeCommand(s.NodeID, bus.CmdClose), bus.Close{SessionID: session, Reason: "test"}, &reply); err != nil {
			t.Fatalf("close session: %v", err)
		}
		if reply.Error != nil {
			t.Fatalf("close session: %v", reply.Error)
		}
		rec := waitRecovered(t, alice, "rejoin")
		// Alice's page learns from the SFU's participant_left about itself,
		// without waiting for ICE to time out.
		if c := rec.Reconnecting[len(rec.Reconnecting)-1]; c != "session" {
			t.Errorf("reconnecting causes %v, want session last", rec.Reconnecting)
		}
		fresh := sessionOf(t, alice)
		if fresh == session {
			t.Fatalf("still in session %s after the SFU closed it", session)
		}
		tileFrames(t, bob, "Alice", fresh)
		tileFrames(t, alice, "Bob", sessionOf(t, bob))
		var banner bool
		alice.mustEval(`document.getElementById('banner').hidden`, &banner)
		if !banner {
			t.Error("the reconnecting banner is still shown")
		}
	})
}
