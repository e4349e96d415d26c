package sfu

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/controller"
	"github.com/rtcloud/rtcloud/internal/netsim"
)

// startController runs a controller on the cluster's NATS server, with
// relay routing every interval, and waits until it leads.
func startController(t *testing.T, e *testEnv, interval time.Duration) *controller.Controller {
	t.Helper()
	b, err := bus.Connect(bus.Options{URLs: e.bus.Conn().ConnectedUrl(), Name: "test-controller", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ccfg := config.DefaultController()
	ccfg.LeaseTTL = 600 * time.Millisecond
	rcfg := config.DefaultRelay()
	rcfg.RouteInterval = interval
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	logs := &lockedBuffer{}
	ctl, err := controller.New(ctx, controller.Options{Config: ccfg, Bus: b, Verifier: auth.NewVerifier(config.DevKeys()),
		Logger: slog.New(slog.NewTextHandler(logs, nil)), ID: "ctl-test", Relay: rcfg, RoomsSpanNodes: true})
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctl.Close()
		b.Close()
		if t.Failed() {
			t.Logf("controller log:\n%s", logs.String())
		}
	})
	waitFor(t, 10*time.Second, "controller leads", ctl.IsLeader)
	return ctl
}

// throughProxy puts the relay link between a and b through a netsim
// proxy that delays what a sends to b by delay, and returns the proxy.
func throughProxy(t *testing.T, a, b *testEnv, delay time.Duration) *netsim.Proxy {
	t.Helper()
	proxy, err := netsim.Listen(netsim.Options{Upstream: net.UDPAddrFromAddrPort(a.node.relay.t.Addr()), Delay: delay, Seed: 15})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	// b first, so that the proxy knows its client before a's first packet
	// reaches it (nothing is lost in the move).
	b.node.relay.t.SetPeer(a.node.ID(), proxy.Addr().AddrPort())
	waitFor(t, 5*time.Second, "through the proxy", func() bool { return proxy.Stats().Up > 0 })
	a.node.relay.t.SetPeer(b.node.ID(), proxy.UpstreamAddr().AddrPort())
	waitFor(t, 5*time.Second, "link through the proxy", func() bool {
		return proxy.Stats().Down > 5 && a.link(b.node.ID()).Up && b.link(a.node.ID()).Up
	})
	return proxy
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// routeTo is the next hop of e's routing table towards dest ("" if none).
func routeTo(e *testEnv, dest string) string {
	if rt := e.node.relay.routes.Load(); rt != nil {
		return rt.Routes[dest].NextHop
	}
	return ""
}

// TestRelayDelayReroutes: three nodes and a real controller that routes
// from the nodes' link reports: eu -> ap goes direct. eu <-> ap is then
// moved through netsim, still clean. While media flows eu ->
// ap, the link gets 150 ms of delay on eu -> ap: the measured RTT rises,
// the controller publishes eu -> us -> ap (after its hysteresis), the
// nodes switch make-before-break, and from the moment of the switch no
// packet is lost at the Pion subscriber on ap.
func TestRelayDelayReroutes(t *testing.T) {
	envs := newCluster(t, "eu", "us", "ap")
	eu, us, ap := envs[0], envs[1], envs[2]
	startController(t, eu, 500*time.Millisecond)
	waitFor(t, 15*time.Second, "direct routes from the controller", func() bool {
		for _, e := range envs {
			if e.node.relay.routesVersion() == 0 {
				return false
			}
		}
		return eu.node.relay.nextHop("sfu-ap") == "sfu-ap"
	})
	proxy := throughProxy(t, eu, ap, 0)
	const room = "reroute"
	senders, infos := publishAV(t, eu, "pub", room)
	stop := pump(senders)
	defer stop()
	sub, mids := subscribeAll(t, ap, "sub-ap", room, infos)
	waitFor(t, 15*time.Second, "media at ap", received(sub, 30, mids...))
	transit0 := testutilCounter(us.node.relay.forwarded)

	proxy.SetDelay(150*time.Millisecond, 0)
	delayed := time.Now()
	t.Cleanup(func() {
		if t.Failed() {
			for _, e := range envs {
				if rt := e.node.relay.routes.Load(); rt != nil {
					t.Logf("%s v%d %+v", e.node.ID(), rt.Version, rt.Routes)
				}
			}
		}
	})
	waitFor(t, 15*time.Second, "eu routes to ap through us", func() bool { return routeTo(eu, "sfu-ap") == "sfu-us" })
	rt := eu.node.relay.routes.Load()
	switched := maxCounter(sub, mids[0])
	t.Logf("%v after the delay, routes version %d: eu -> ap via %s (cost %.1f, %s); eu -> ap link RTT %v",
		time.Since(delayed).Round(10*time.Millisecond), rt.Version, rt.Routes["sfu-ap"].NextHop, rt.Routes["sfu-ap"].Cost, rt.Routes["sfu-ap"].Reason, eu.link("sfu-ap").RTT.Round(time.Millisecond))
	waitFor(t, 10*time.Second, "media through us", func() bool {
		return testutilCounter(us.node.relay.forwarded) > transit0+100 && maxCounter(sub, mids[0]) > switched+150
	})
	// Every audio packet sent from the switch on arrives (the last few may
	// still be on their way when the check starts).
	end := maxCounter(sub, mids[0]) - 5
	var missing []uint32
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got := sub.stream(mids[0]).counters
		missing = missing[:0]
		for c := switched; c <= end; c++ {
			if !got[c] {
				missing = append(missing, c)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d audio packets of %d..%d lost after the switch: %v", len(missing), switched, end, missing)
		}
	}
	t.Logf("audio packets %d..%d after the switch all received", switched, end)
}

// maxCounter is the highest payload counter p received on mid.
func maxCounter(p *testPeer, mid string) uint32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var m uint32
	if s := p.streams[mid]; s != nil {
		for _, c := range s.arrivals {
			m = max(m, c)
		}
	}
	return m
}
