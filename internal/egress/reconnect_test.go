package egress

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/testenv"
	"github.com/rtcloud/rtcloud/internal/teststack"
)

// switcher is a TCP proxy standing for a load balancer in front of the
// signaling servers: it forwards to one backend; cut drops every
// connection and sends new ones to another backend.
type switcher struct {
	ln      net.Listener
	backend atomic.Pointer[string]
	mu      sync.Mutex
	conns   []net.Conn
	wg      sync.WaitGroup
}

func newSwitcher(t *testing.T, backend string) *switcher {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &switcher{ln: ln}
	s.backend.Store(&backend)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", *s.backend.Load())
			if err != nil {
				_ = c.Close()
				continue
			}
			s.mu.Lock()
			s.conns = append(s.conns, c, b)
			s.mu.Unlock()
			s.wg.Add(2)
			go func() { defer s.wg.Done(); _, _ = io.Copy(b, c); _ = b.Close() }()
			go func() { defer s.wg.Done(); _, _ = io.Copy(c, b); _ = c.Close() }()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		s.cut("")
		s.wg.Wait()
	})
	return s
}

func (s *switcher) cut(next string) {
	if next != "" {
		s.backend.Store(&next)
	}
	s.mu.Lock()
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.conns = nil
	s.mu.Unlock()
}

// The recorder's WebSocket drops (its signaling server died): it attaches
// its session again through another server, the composite goes on and
// still follows the room.
func TestCompositeSurvivesASignalingServerLoss(t *testing.T) {
	e := newEnvWith(t, teststack.Options{Signals: 2})
	hostOf := func(u string) string { return strings.TrimPrefix(u, "http://") }
	sw := newSwitcher(t, hostOf(e.st.Signals[0].URL))
	w, _ := e.worker(func(c *config.Egress) { c.SignalURL = "ws://" + sw.ln.Addr().String() + "/ws" })
	e.publish("lb", "alice", true, false)
	info := e.start(bus.EgressRequest{Room: "lb", Type: bus.EgressTypeRoom, Outputs: []bus.EgressOutput{{File: "lb.mp4"}}})
	e.waitStatus(info.EgressID, bus.EgressActive, 10*time.Second)
	w.mu.Lock()
	p := w.jobs[info.EgressID].pipe.(*compositePipeline)
	w.mu.Unlock()
	parts := func() int {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.parts)
	}
	testenv.WaitFor(t, 10*time.Second, "alice in the layout", func() bool { return parts() == 1 })

	sw.cut(hostOf(e.st.Signals[1].URL))
	// bob joins through the other server after the cut: the recorder,
	// attached again, sees him.
	e.publish("lb", "bob", true, false)
	testenv.WaitFor(t, 15*time.Second, "bob in the layout", func() bool { return parts() == 2 })
	if st := e.status(info.EgressID); st.Status != bus.EgressActive {
		t.Fatalf("egress %s: %s", st.Status, st.Reason)
	}
	if end := e.stop(info.EgressID); end.Status != bus.EgressComplete {
		t.Fatalf("ended %s: %s", end.Status, end.Reason)
	}
}

// A recorder whose session the node closed fails its egress with the
// reason, rather than staying active with no media.
func TestRecorderSessionClosedFailsTheEgress(t *testing.T) {
	e := newEnv(t)
	w, _ := e.worker(nil)
	p := e.publish("closing", "alice", false, true)
	info := e.start(bus.EgressRequest{Room: "closing", Type: bus.EgressTypeTrack, TrackID: p.trackID(bus.KindAudio),
		Outputs: []bus.EgressOutput{{File: "closing.ogg"}}})
	e.waitStatus(info.EgressID, bus.EgressActive, 10*time.Second)
	w.mu.Lock()
	sid := w.jobs[info.EgressID].src.c.SessionID()
	w.mu.Unlock()
	b := testenv.Connect(t, e.st.NATS.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Request(ctx, bus.NodeCommand(e.st.Node.ID(), bus.CmdClose), bus.Close{SessionID: sid, Reason: bus.ReasonKicked}, nil); err != nil {
		t.Fatal(err)
	}
	end := e.waitStatus(info.EgressID, bus.EgressFailed, 15*time.Second)
	if !strings.Contains(end.Reason, "recorder session") {
		t.Fatalf("reason %q", end.Reason)
	}
}
