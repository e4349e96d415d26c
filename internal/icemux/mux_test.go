package icemux

import (
	"strconv"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestCandidatesAdvertiseOnePort: an answerer using the mux offers exactly
// one UDP and one TCP host candidate per advertise address, on the port.
func TestCandidatesAdvertiseOnePort(t *testing.T) {
	m, err := Listen(Options{BindIP: "127.0.0.1", AdvertiseIPs: []string{"127.0.0.1", "198.51.100.7"}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	se := webrtc.SettingEngine{}
	if err := m.Configure(&se); err != nil {
		t.Fatal(err)
	}
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.CreateDataChannel("x", nil); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	g := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-g
	var cands []string
	for _, l := range strings.Split(pc.LocalDescription().SDP, "\n") {
		// Pion repeats each candidate for component 2; count component 1.
		if f := strings.Fields(l); len(f) > 1 && strings.HasPrefix(l, "a=candidate:") && f[1] == "1" {
			cands = append(cands, strings.TrimSpace(l))
		}
	}
	if len(cands) != 4 {
		t.Fatalf("got %d candidates, want 4: %v", len(cands), cands)
	}
	port := " " + strconv.Itoa(m.Port()) + " typ host"
	for _, c := range cands {
		if !strings.Contains(c, port) {
			t.Fatalf("candidate %q not on port %d", c, m.Port())
		}
	}
}

func TestBadAddresses(t *testing.T) {
	if _, err := Listen(Options{BindIP: "nope"}); err == nil {
		t.Fatal("bad bind address accepted")
	}
	if _, err := Listen(Options{AdvertiseIPs: []string{"x.y"}}); err == nil {
		t.Fatal("bad advertise address accepted")
	}
}
