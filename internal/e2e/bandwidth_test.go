package e2e

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/netsim"
	"github.com/rtcloud/rtcloud/internal/testenv"
	"github.com/rtcloud/rtcloud/internal/teststack"
	"github.com/rtcloud/rtcloud/pkg/client"
)

// netsimSeed is RTCLOUD_NETSIM_SEED when set (to replay a run), else a
// fresh seed; the test logs it.
func netsimSeed(t *testing.T) uint64 {
	t.Helper()
	if s := os.Getenv("RTCLOUD_NETSIM_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("RTCLOUD_NETSIM_SEED: %v", err)
		}
		return v
	}
	return uint64(time.Now().UnixNano())
}

// Automatic layer selection through the real path: a three-layer VP8
// simulcast publisher (150/500/1500 kbit/s) and two auto subscribers, one
// direct and one behind a proxy that limits what the node sends it to
// 350 kbit/s. The direct one settles on the high layer, the constrained
// one on the low layer (packets and layer_changed agree) and stays there;
// once the limit is lifted it climbs back to the high layer. Replay a
// run's impairment with RTCLOUD_NETSIM_SEED.
func TestAutoLayerFollowsBandwidth(t *testing.T) {
	st := teststack.Start(t, teststack.Options{})
	ws := st.Signals[0].WS
	seed := netsimSeed(t)
	t.Logf("netsim seed %d (RTCLOUD_NETSIM_SEED replays it)", seed)
	proxy, err := netsim.Listen(netsim.Options{Upstream: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: st.Node.MediaPort()},
		Rate: 350_000, Seed: seed, Logger: testenv.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })

	const room = "bwe"
	pub := join(t, ws, "default", room, "pub")
	lt := publish(t, pub, client.TrackSpec{Codec: client.CodecVP8, Simulcast: true})[0]
	direct := join(t, ws, "default", room, "direct")
	mo := mediaOptions()
	mo.Via = proxy.Addr()
	slow := joinWith(t, ws, "default", room, "slow", mo)
	ctx := testenv.Context(t, 30*time.Second)
	var rts []*client.RemoteTrack
	for _, c := range []*client.Client{direct, slow} {
		rts = append(rts, subscribeTo(t, ctx, c, lt.ID(), bus.LayerAuto))
	}
	fast, slowRT := rts[0], rts[1]

	settled(t, "direct subscriber", fast, 2, bus.LayerHigh)
	settled(t, "constrained subscriber", slowRT, 0, bus.LayerLow)
	stays(t, "constrained subscriber", slowRT, 0, 2*time.Second)
	if s := proxy.Stats(); s.DroppedRate == 0 {
		t.Fatalf("the proxy dropped nothing: %+v", s)
	}

	proxy.SetRate(0)
	took := testenv.Eventually(t, 15*time.Second, "constrained subscriber climbs to high after the limit is lifted", func() error {
		if s := slowRT.Stats(); s.Layer != 2 || s.ServerLayer != bus.LayerHigh {
			return fmt.Errorf("layer marker %d, server says %q", s.Layer, s.ServerLayer)
		}
		return nil
	})
	t.Logf("back on the high layer %v after the limit was lifted", took.Round(time.Millisecond))
	t.Logf("proxy %+v; direct %+v; constrained %+v", proxy.Stats(), fast.Stats(), slowRT.Stats())
}

// settled waits until rt has received layer idx for a second without a
// switch, and the last layer_changed event names it.
func settled(t *testing.T, who string, rt *client.RemoteTrack, idx int, name string) {
	t.Helper()
	var since time.Time
	var switches uint64
	took := testenv.Eventually(t, 12*time.Second, who+" settles on layer "+name, func() error {
		s := rt.Stats()
		if s.Layer != idx || s.ServerLayer != name {
			since = time.Time{}
			return fmt.Errorf("layer marker %d, server says %q after %d packets", s.Layer, s.ServerLayer, s.Packets)
		}
		if since.IsZero() || s.LayerSwitches != switches {
			since, switches = time.Now(), s.LayerSwitches
		}
		if time.Since(since) < time.Second {
			return fmt.Errorf("on layer %d for %v only", idx, time.Since(since).Round(time.Millisecond))
		}
		return nil
	})
	t.Logf("%s settled on layer %s in %v", who, name, took.Round(time.Millisecond))
}

// stays checks that rt keeps receiving layer idx, without a switch, for d.
func stays(t *testing.T, who string, rt *client.RemoteTrack, idx int, d time.Duration) {
	t.Helper()
	start := rt.Stats()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if s := rt.Stats(); s.Layer != idx || s.LayerSwitches != start.LayerSwitches {
			t.Fatalf("%s left layer %d: marker %d, %d switches (was %d), server says %q",
				who, idx, s.Layer, s.LayerSwitches, start.LayerSwitches, s.ServerLayer)
		}
	}
	if s := rt.Stats(); s.Packets < start.Packets+20 {
		t.Fatalf("%s: %d packets in %v", who, s.Packets-start.Packets, d)
	}
}
