package e2e

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/testenv"
	"github.com/rtcloud/rtcloud/pkg/client"
)

func closeSession(t *testing.T, s *client.HTTPSession) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("close %s: %v", s.Location(), err)
		}
	})
}

// A WHIP publisher is watched by a WHEP viewer and by a WebSocket
// subscriber; both receive its video and audio without gaps.
func TestWHIPPublisherWatchedByWHEPAndWebSocket(t *testing.T) {
	c := startCluster(t)
	ctx := testenv.Context(t, 60*time.Second)
	whip, err := client.PublishWHIP(ctx, c.httpURL+"/whip/stage", testenv.Mint(t, "default", "stage", "caster"), mediaOptions(), video(), audio())
	if err != nil {
		t.Fatalf("WHIP: %v", err)
	}
	closeSession(t, whip)

	whep, err := client.WatchWHEP(ctx, c.httpURL+"/whep/stage/caster", testenv.Mint(t, "default", "stage", "viewer"), mediaOptions())
	if err != nil {
		t.Fatalf("WHEP: %v", err)
	}
	closeSession(t, whep)

	ws := join(t, c.wsURL, "default", "stage", "ws-viewer")
	tis, err := ws.WaitTracks(ctx, 2, func(ti bus.TrackInfo) bool { return ti.Identity == "caster" })
	if err != nil {
		t.Fatalf("WebSocket client sees the WHIP tracks: %v", err)
	}
	var rts []*client.RemoteTrack
	for _, ti := range tis {
		rt, err := ws.Subscribe(ctx, ti.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		rts = append(rts, rt)
	}
	testenv.Eventually(t, 30*time.Second, "WHEP and WebSocket viewers receive", func() error {
		for _, kind := range []string{bus.KindVideo, bus.KindAudio} {
			rt := whep.RemoteTrack(kind)
			if rt == nil {
				return fmt.Errorf("WHEP viewer has no %s track", kind)
			}
			if err := receiving(rt, 60); err != nil {
				return fmt.Errorf("WHEP %s: %w", kind, err)
			}
		}
		for _, rt := range rts {
			if err := receiving(rt, 60); err != nil {
				return fmt.Errorf("WebSocket: %w", err)
			}
		}
		return nil
	})
}

// A WHEP viewer watches a WebSocket publisher; before it publishes, WHEP
// answers 409.
func TestWHEPWatchesWebSocketPublisher(t *testing.T) {
	c := startCluster(t)
	pub := join(t, c.wsURL, "default", "talk", "speaker")
	short, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	_, err := client.WatchWHEP(short, c.httpURL+"/whep/talk/speaker", testenv.Mint(t, "default", "talk", "early"), mediaOptions())
	cancel()
	if !errors.Is(err, client.ErrHTTPStatus) {
		t.Fatalf("WHEP before anything is published: %v, want a 409", err)
	}
	publish(t, pub, video(), audio())
	ctx := testenv.Context(t, 30*time.Second)
	whep, err := client.WatchWHEP(ctx, c.httpURL+"/whep/talk/speaker", testenv.Mint(t, "default", "talk", "viewer"), mediaOptions())
	if err != nil {
		t.Fatalf("WHEP: %v", err)
	}
	closeSession(t, whep)
	testenv.Eventually(t, 30*time.Second, "WHEP viewer receives", func() error {
		for _, kind := range []string{bus.KindVideo, bus.KindAudio} {
			rt := whep.RemoteTrack(kind)
			if rt == nil {
				return fmt.Errorf("no %s track", kind)
			}
			if err := receiving(rt, 60); err != nil {
				return fmt.Errorf("%s: %w", kind, err)
			}
		}
		return nil
	})
}
