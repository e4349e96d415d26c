package sip

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/testenv"
	"github.com/rtcloud/rtcloud/pkg/client"
)

func (g *gateway) roomOptions(t *testing.T, room, identity string, joined func(*client.Client)) roomOptions {
	return roomOptions{signalURL: g.stack.Signals[0].WS, token: testenv.Mint(t, "default", room, identity), name: identity,
		decoders: g.srv.decoders, media: media(), log: testenv.Logger(), joined: joined}
}

// A call kicked after it joined but before its track is published (the
// server then ends the WebSocket) fails its join with ErrRemoved and the
// server's reason, and does not join again.
func TestJoinRoomKickedBeforePublish(t *testing.T) {
	g := startGateway(t, nil)
	joins := 0
	kick := func(cl *client.Client) {
		joins++
		ctx := testenv.Context(t, 10*time.Second)
		if err := g.bus.Request(ctx, bus.NodeCommand(g.stack.Node.ID(), bus.CmdClose),
			bus.Close{SessionID: cl.SessionID(), Reason: bus.ReasonKicked}, nil); err != nil {
			t.Error(err)
			return
		}
		select {
		case <-cl.Done():
		case <-ctx.Done():
			t.Error("the kick did not end the WebSocket")
		}
	}
	ctx := testenv.Context(t, 20*time.Second)
	r, err := joinRoom(ctx, g.roomOptions(t, "kick", "sip-kicked", kick))
	if err == nil {
		r.close()
		t.Fatal("joined a room that kicked the call")
	}
	if !errors.Is(err, ErrRemoved) || !strings.Contains(err.Error(), bus.ReasonKicked) {
		t.Fatalf("err = %v, want ErrRemoved with the reason %q", err, bus.ReasonKicked)
	}
	if joins != 1 {
		t.Fatalf("joined %d times after a kick, want 1", joins)
	}
}

// A join whose connection ends before the publish, without the server
// ending the session, is tried once more and succeeds.
func TestJoinRoomRetriesALostConnection(t *testing.T) {
	g := startGateway(t, nil)
	joins := 0
	drop := func(cl *client.Client) {
		joins++
		if joins == 1 {
			cl.Close()
		}
	}
	ctx := testenv.Context(t, 30*time.Second)
	r, err := joinRoom(ctx, g.roomOptions(t, "retry", "sip-retry", drop))
	if err != nil {
		t.Fatalf("join after a lost connection: %v", err)
	}
	defer r.close()
	if joins != 2 {
		t.Fatalf("joined %d times, want 2", joins)
	}
	l := listen(t, g, "retry", "listener")
	testenv.WaitFor(t, 10*time.Second, "the call's track is in the room", func() bool {
		for _, tr := range l.c.Tracks() {
			if tr.SessionID == r.client.SessionID() && tr.Kind == bus.KindAudio {
				return true
			}
		}
		return false
	})
}
