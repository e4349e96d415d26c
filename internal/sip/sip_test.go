package sip

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/client"
	"github.com/rtcloud/rtcloud/internal/testenv"
	"github.com/rtcloud/rtcloud/internal/transcode"
)

// listener is a room participant that decodes one audio track to 8 kHz PCM.
type listener struct {
	c   *client.Client
	mu  sync.Mutex
	pcm []int16
	dec *transcode.Decoder
}

func listen(t *testing.T, g *gateway, room, identity string) *listener {
	t.Helper()
	ctx := testenv.Context(t, 30*time.Second)
	c, err := client.Connect(ctx, g.stack.Signals[0].WS, testenv.Mint(t, "default", room, identity),
		client.Options{Media: media(), Logger: testenv.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	l := &listener{c: c}
	l.dec, err = transcode.NewDecoder(transcode.DecoderOptions{FFmpeg: need(t, "ffmpeg"), SampleRate: 8000, Channels: 1,
		OnPCM: func(b []byte) {
			l.mu.Lock()
			l.pcm = append(l.pcm, transcode.S16(b)...)
			l.mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.dec.Close)
	return l
}

// hear subscribes to the first audio track whose publisher's identity
// starts with prefix.
func (l *listener) hear(t *testing.T, prefix string) bus.TrackInfo {
	t.Helper()
	ctx := testenv.Context(t, 30*time.Second)
	tis, err := l.c.WaitTracks(ctx, 1, func(ti bus.TrackInfo) bool {
		return ti.Kind == bus.KindAudio && strings.HasPrefix(ti.Identity, prefix)
	})
	if err != nil {
		t.Fatalf("no audio track from %s*: %v", prefix, err)
	}
	rt, err := l.c.Subscribe(ctx, tis[0].ID, "")
	if err != nil {
		t.Fatal(err)
	}
	rt.OnRTP(func(b []byte) {
		var p rtp.Packet
		if p.Unmarshal(b) == nil && len(p.Payload) > 0 {
			_ = l.dec.Write(p.Payload)
		}
	})
	return tis[0]
}

// tone waits for secs seconds of loud audio and returns where its
// spectrum peaks.
func (l *listener) tone(t *testing.T, secs float64) float64 {
	t.Helper()
	var peak float64
	testenv.Eventually(t, 30*time.Second, "a tone", func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		var loud []int16
		for i := 0; i+160 <= len(l.pcm); i += 160 {
			if transcode.RMS(l.pcm[i:i+160]) > 1000 {
				loud = append(loud, l.pcm[i:i+160]...)
			}
		}
		if float64(len(loud)) < secs*8000 {
			return fmt.Errorf("%d loud samples of %d", len(loud), len(l.pcm))
		}
		peak = transcode.PeakFrequency(loud, 8000)
		return nil
	})
	return peak
}

// A SIPp caller dials sip:phone@gateway and plays a 1 kHz tone: a room
// participant hears Opus whose spectrum peaks at 1 kHz; the caller's BYE
// makes the participant leave the room.
func TestSIPCallerIsHeardInTheRoom(t *testing.T) {
	g := startGateway(t, nil)
	l := listen(t, g, "phone", "listener")
	call := g.callWithSIPp(t, "phone", "", 1000)
	ti := l.hear(t, "sip-+15550100-")
	if f := l.tone(t, 1); math.Abs(f-1000) > 20 {
		t.Fatalf("the caller's audio peaks at %.0f Hz, want 1000", f)
	}
	select {
	case <-call.done:
		if call.err != nil {
			t.Fatalf("sipp: %v", call.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("sipp did not finish")
	}
	testenv.WaitFor(t, 15*time.Second, "the caller leaves the room", func() bool {
		for _, p := range l.c.Participants() {
			if p.Identity == ti.Identity {
				return false
			}
		}
		return strings.Contains(g.logs.String(), "the phone hung up (BYE)")
	})
}
