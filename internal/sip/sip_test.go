package sip

import (
	"encoding/binary"
	"fmt"
	"github.com/pion/webrtc/v4"
	"github.com/rtcloud/rtcloud/internal/config"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/testenv"
	"github.com/rtcloud/rtcloud/internal/transcode"
	"github.com/rtcloud/rtcloud/pkg/client"
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

// tonePublisher publishes an Opus track of a freq Hz tone into room.
func tonePublisher(t *testing.T, g *gateway, room, identity string, freq float64) {
	t.Helper()
	ctx := testenv.Context(t, 30*time.Second)
	c, err := client.Connect(ctx, g.stack.Signals[0].WS, testenv.Mint(t, "default", room, identity),
		client.Options{Media: media(), Logger: testenv.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "a", "tone")
	if err != nil {
		t.Fatal(err)
	}
	var seq uint16
	var ts uint32
	enc, err := transcode.NewEncoder(transcode.EncoderOptions{FFmpeg: need(t, "ffmpeg"), Kbps: 32, Input: transcode.Input{SampleRate: 48000, Channels: 1},
		OnPacket: func(pkt []byte, samples int) {
			seq++
			_ = track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts}, Payload: pkt})
			ts += uint32(samples)
		}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx, client.TrackSpec{Local: []webrtc.TrackLocal{track}, Source: bus.SourceMicrophone}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		n := 0
		frame := make([]byte, 2*960)
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for i := 0; i < 960; i++ {
				binary.LittleEndian.PutUint16(frame[2*i:], uint16(int16(10000*math.Sin(2*math.Pi*freq*float64(n)/48000))))
				n++
			}
			_ = enc.Write(frame)
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
		enc.Close()
	})
}

// A tone published by a WebRTC participant reaches the SIP side: the
// gateway sends the phone G.711 A-law whose spectrum peaks at the tone.
func TestRoomIsHeardByTheCaller(t *testing.T) {
	testRoomHeard(t, false)
}

// The same with a phone that offers only Opus: the gateway answers with
// Opus and sends the mix encoded as Opus.
func TestRoomIsHeardByAnOpusCaller(t *testing.T) {
	testRoomHeard(t, true)
}

func testRoomHeard(t *testing.T, opus bool) {
	g := startGateway(t, nil)
	tonePublisher(t, g, "phone", "speaker", 700)
	sock, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	var mu sync.Mutex
	var pcm []int16
	var pts = map[uint8]int{}
	dec, err := transcode.NewDecoder(transcode.DecoderOptions{FFmpeg: need(t, "ffmpeg"), SampleRate: 8000, Channels: 1,
		OnPCM: func(b []byte) {
			mu.Lock()
			pcm = append(pcm, transcode.S16(b)...)
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, err := sock.Read(buf)
			if err != nil {
				return
			}
			var p rtp.Packet
			if p.Unmarshal(buf[:n]) != nil {
				continue
			}
			if opus && p.PayloadType == 96 {
				_ = dec.Write(p.Payload) // outside mu: the decoder's output takes it
			}
			mu.Lock()
			pts[p.PayloadType]++
			if !opus && p.PayloadType == 8 {
				for _, b := range p.Payload {
					pcm = append(pcm, alawTable[b])
				}
			}
			mu.Unlock()
		}
	}()
	g.sipp(t, sippCall{service: "phone", recvPort: sock.LocalAddr().(*net.UDPAddr).Port, opus: opus})
	var peak float64
	testenv.Eventually(t, 30*time.Second, "the phone receives the room's tone", func() error {
		mu.Lock()
		defer mu.Unlock()
		var loud []int16
		for i := 0; i+160 <= len(pcm); i += 160 {
			if transcode.RMS(pcm[i:i+160]) > 1000 {
				loud = append(loud, pcm[i:i+160]...)
			}
		}
		if len(loud) < 8000 {
			return fmt.Errorf("%d loud samples of %d received (payload types %v)", len(loud), len(pcm), pts)
		}
		peak = transcode.PeakFrequency(loud, 8000)
		return nil
	})
	if math.Abs(peak-700) > 20 {
		t.Fatalf("the phone hears a peak at %.0f Hz, want 700", peak)
	}
}

// A dial rule with a PIN: the right PIN keyed in as RFC 4733 DTMF lets
// the caller in (this call over SIP/TCP), a wrong one ends the call
// before it joins the room; a number no rule knows is refused (404).
func TestSIPPIN(t *testing.T) {
	g := startGateway(t, func(c *config.SIP) {
		c.RoomFromURI = false
		c.Rules = []config.DialRule{{To: "5000", Room: "board", PIN: "4321"}}
	})
	l := listen(t, g, "board", "listener")
	wrong := g.callWithSIPp(t, "5000", "1111", 1000)
	select {
	case <-wrong.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the wrong-PIN call did not end")
	}
	if !strings.Contains(g.logs.String(), "wrong or missing PIN") {
		t.Fatal("no log line says the PIN was wrong")
	}
	for _, p := range l.c.Participants() {
		if strings.HasPrefix(p.Identity, "sip-") {
			t.Fatalf("%s joined with a wrong PIN", p.Identity)
		}
	}
	g.sipp(t, sippCall{service: "5000", pin: "4321", toneHz: 1000, tcp: true}) // and over TCP
	l.hear(t, "sip-")
	if f := l.tone(t, 1); math.Abs(f-1000) > 20 {
		t.Fatalf("peak at %.0f Hz", f)
	}
	if !strings.Contains(g.logs.String(), "keyed in the right PIN") {
		t.Fatal("no log line for the right PIN")
	}
	unknown := g.callWithSIPp(t, "6000", "", 1000)
	<-unknown.done
	if unknown.err == nil || !strings.Contains(g.logs.String(), "no dial rule") {
		t.Fatalf("a call to an unknown number: sipp %v", unknown.err)
	}
}

// A phone that sends no RTP is hung up after sip.rtp_timeout and leaves
// the room.
func TestRTPTimeout(t *testing.T) {
	g := startGateway(t, func(c *config.SIP) { c.RTPTimeout = 2 * time.Second })
	l := listen(t, g, "quiet", "listener")
	sock, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	g.sipp(t, sippCall{service: "quiet", recvPort: sock.LocalAddr().(*net.UDPAddr).Port})
	testenv.WaitFor(t, 30*time.Second, "the silent call ends and leaves the room", func() bool {
		for _, p := range l.c.Participants() {
			if strings.HasPrefix(p.Identity, "sip-") {
				return false
			}
		}
		return strings.Contains(g.logs.String(), "no RTP from the caller")
	})
}

// phone is a UDP socket a SIPp call asks for media on; it keeps the
// G.711 A-law it receives as PCM.
type phone struct {
	sock *net.UDPConn
	mu   sync.Mutex
	pcm  []int16
}

func newPhone(t *testing.T) *phone {
	t.Helper()
	sock, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ph := &phone{sock: sock}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, err := sock.Read(buf)
			if err != nil {
				return
			}
			var p rtp.Packet
			if p.Unmarshal(buf[:n]) != nil || p.PayloadType != 8 {
				continue
			}
			ph.mu.Lock()
			for _, b := range p.Payload {
				ph.pcm = append(ph.pcm, alawTable[b])
			}
			ph.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = sock.Close()
		<-done
	})
	return ph
}

func (ph *phone) port() int { return ph.sock.LocalAddr().(*net.UDPAddr).Port }

// heard is where the loud part of what arrived since reset peaks, once
// there is half a second of it.
func (ph *phone) heard() (float64, bool) {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	var loud []int16
	for i := 0; i+160 <= len(ph.pcm); i += 160 {
		if transcode.RMS(ph.pcm[i:i+160]) > 1000 {
			loud = append(loud, ph.pcm[i:i+160]...)
		}
	}
	if len(loud) < 4000 {
		return 0, false
	}
	return transcode.PeakFrequency(loud, 8000), true
}

func (ph *phone) reset() {
	ph.mu.Lock()
	ph.pcm = nil
	ph.mu.Unlock()
}

// Two phones in a room hear a WebRTC participant's tone through one
// shared decoder per room track (3 tracks: the tone and each phone's
// voice, so 3 decoders, not 4); when the call feeding a decoder leaves,
// the other phone keeps hearing.
func TestCallsShareDecoders(t *testing.T) {
	g := startGateway(t, nil)
	tonePublisher(t, g, "pair", "speaker", 700)
	a, b := newPhone(t), newPhone(t)
	g.sipp(t, sippCall{service: "pair", recvPort: a.port()})
	g.sipp(t, sippCall{service: "pair", recvPort: b.port()})
	for _, ph := range []*phone{a, b} {
		testenv.WaitFor(t, 30*time.Second, "a phone hears the tone", func() bool {
			f, ok := ph.heard()
			return ok && math.Abs(f-700) <= 20
		})
	}
	testenv.WaitFor(t, 10*time.Second, "3 decoders for 3 tracks", func() bool { return g.srv.decoders.active() == 3 })

	// Kick the call that feeds the tone's decoder: the other takes over.
	var feeder string
	g.srv.decoders.mu.Lock()
	for _, st := range g.srv.decoders.tracks {
		if len(st.outs) == 2 {
			feeder = st.feeder.Load().client.SessionID()
		}
	}
	g.srv.decoders.mu.Unlock()
	if feeder == "" {
		t.Fatal("no track is heard by both phones")
	}
	ctx := testenv.Context(t, 10*time.Second)
	if err := g.bus.Request(ctx, bus.NodeCommand(g.stack.Node.ID(), bus.CmdClose),
		bus.Close{SessionID: feeder, Reason: bus.ReasonKicked}, nil); err != nil {
		t.Fatal(err)
	}
	// Left: the tone, heard by the remaining phone (the phones' voices are
	// no longer heard by anyone).
	testenv.WaitFor(t, 15*time.Second, "1 decoder once a call left", func() bool { return g.srv.decoders.active() == 1 })
	for _, ph := range []*phone{a, b} {
		ph.reset()
	}
	testenv.WaitFor(t, 20*time.Second, "the remaining phone still hears the tone", func() bool {
		fa, okA := a.heard()
		fb, okB := b.heard()
		return (okA && math.Abs(fa-700) <= 20) != (okB && math.Abs(fb-700) <= 20)
	})
}
