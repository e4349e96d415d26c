package signal

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/rtcloud/rtcloud/internal/testenv"
)

func newPionPeer(t *testing.T) *webrtc.PeerConnection {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(0)
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	return pc
}

// httpOffer makes a complete offer (candidates gathered).
func httpOffer(t *testing.T, pc *webrtc.PeerConnection) string {
	t.Helper()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	return pc.LocalDescription().SDP
}

func TestWHIPToWHEPThroughRealSFU(t *testing.T) {
	h := newHarness(t, nil)
	testenv.StartNode(t, h.nats, testenv.NodeOptions{NodeID: "sfu1"})
	h.waitNode(h.srv, "sfu1")
	h.node.Stop() // only the real node takes rooms from here on

	pubTok := testenv.Mint(t, "ns", "live", "camera")
	res, stopPub := startWHIPPublisher(t, h, pubTok)
	defer stopPub()

	// Another namespace's viewer of a room with the same name sees nothing.
	if res := do(t, "POST", h.web.URL+"/whep/live", testenv.Mint(t, "other", "live", "spy"), typeSDP, testViewOffer); res.status != http.StatusConflict {
		t.Fatalf("WHEP from another namespace = %d, want 409", res.status)
	}

	// A WHEP viewer receives the publisher's video.
	view := newPionPeer(t)
	defer view.Close()
	if _, err := view.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	var got atomic.Int64
	var rwg sync.WaitGroup
	view.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for {
				if _, _, err := tr.ReadRTP(); err != nil {
					return
				}
				got.Add(1)
			}
		}()
	})
	viewOffer := httpOffer(t, view)
	var vres httpResult
	waitFor(t, "the WHIP track to be published", func() bool {
		vres = do(t, "POST", h.web.URL+"/whep/live/camera", testenv.Mint(t, "ns", "live", "viewer"), typeSDP, viewOffer)
		return vres.status != http.StatusConflict
	})
	if vres.status != http.StatusCreated {
		t.Fatalf("WHEP = %d %q", vres.status, vres.body)
	}
	if err := view.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: vres.body}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "viewer receives video", func() bool { return got.Load() >= 20 })

	// Leave through DELETE; the node forgets the sessions.
	for _, r := range []httpResult{res, vres} {
		tok := pubTok
		if strings.HasPrefix(r.header.Get("Location"), "/whep/") {
			tok = testenv.Mint(t, "ns", "live", "viewer")
		}
		if d := do(t, "DELETE", h.web.URL+r.header.Get("Location"), tok, "", ""); d.status != http.StatusOK {
			t.Fatalf("DELETE %s = %d %q", r.header.Get("Location"), d.status, d.body)
		}
	}
	waitFor(t, "room empty on the node", func() bool {
		parts, err := h.srv.roomState(t.Context(), "sfu1", "ns", "live")
		return err == nil && len(parts) == 0
	})
	_ = view.Close()
	rwg.Wait()
}

// startWHIPPublisher publishes a VP8 stream over WHIP until stopped.
func startWHIPPublisher(t *testing.T, h *harness, token string) (httpResult, func()) {
	t.Helper()
	// A WHIP publisher sending VP8.
	pub := newPionPeer(t)
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "whip")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "room placed on sfu1", func() bool {
		_, ok := h.srv.dir.Node("node1")
		return !ok
	})
	res := do(t, "POST", h.web.URL+"/whip/live", token, typeSDP, httpOffer(t, pub))
	if res.status != http.StatusCreated {
		t.Fatalf("WHIP = %d %q", res.status, res.body)
	}
	if err := pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: res.body}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // a fake VP8 keyframe stream
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for seq := uint16(0); ; seq++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, Marker: true},
				Payload: []byte{0x10, 0x00, 0x9d, 0x01, 0x2a, 0x10, 0x00, 0x10, 0x00}}
			_ = track.WriteRTP(pkt)
		}
	}()
	return res, func() { close(stop); wg.Wait(); _ = pub.Close() }

}
