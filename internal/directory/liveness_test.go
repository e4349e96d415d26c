package directory

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/testenv"
)

// fakeNode beats and answers pings like an SFU node, on its own NATS
// connection.
type fakeNode struct {
	b    *bus.Client
	stop chan struct{}
	wg   sync.WaitGroup
}

func startFakeNode(t *testing.T, url, id string) *fakeNode {
	t.Helper()
	b, err := bus.Connect(bus.Options{URLs: url, Name: id, KVReplicas: 1, Logger: testenv.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bus.Handle(b, bus.NodeCommand(id, bus.CmdPing), func(context.Context, bus.Ping) (any, error) { return bus.Reply{}, nil }); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(bus.NodeHeartbeats, bus.NodeInfo{ID: id, SentAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	n := &fakeNode{b: b, stop: make(chan struct{})}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for {
			_ = b.Publish(bus.NodeAlive(id), nil)
			select {
			case <-n.stop:
				return
			case <-tk.C:
			}
		}
	}()
	t.Cleanup(func() { n.stopBeating(); b.Close() })
	return n
}

// stopBeating stops the liveness beats; the node still answers pings.
func (n *fakeNode) stopBeating() {
	select {
	case <-n.stop:
	default:
		close(n.stop)
	}
	n.wg.Wait()
}

// TestDeadNodeKnownFromNoResponders: a node whose NATS connection is gone
// (its process died) is declared dead long before DeadAfter, from pings
// NATS answers with "no responders"; a silent node that still answers
// pings is not.
func TestDeadNodeKnownFromNoResponders(t *testing.T) {
	url := testenv.StartNATS(t).ClientURL()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// DeadAfter far away: only the ping path can declare a death here.
	d, err := Open(ctx, Options{Bus: testenv.Connect(t, url), Logger: testenv.Logger(), DeadAfter: time.Minute, SuspectAfter: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	down := make(chan string, 4)
	d.OnNodeDown(func(id, reason string) { down <- id })

	killed := startFakeNode(t, url, "killed")
	stalled := startFakeNode(t, url, "stalled")
	testenv.WaitFor(t, 5*time.Second, "both nodes live", func() bool {
		_, a := d.Node("killed")
		_, b := d.Node("stalled")
		return a && b
	})

	stalled.stopBeating() // alive, answering pings, but silent
	killed.stopBeating()
	killed.b.Close() // the process died: nobody serves its commands

	select {
	case id := <-down:
		if id != "killed" {
			t.Fatalf("node %q declared dead; it still answers pings", id)
		}
	case <-ctx.Done():
		t.Fatal("the killed node was never declared dead")
	}
	if _, ok := d.Node("killed"); ok {
		t.Error("Node(killed) still reports it alive")
	}
	for _, n := range d.LiveNodes() {
		if n.ID == "killed" {
			t.Error("LiveNodes still lists the killed node")
		}
	}
	// The stalled node has been pinged several times by now and stays.
	testenv.WaitFor(t, 5*time.Second, "pings of the stalled node", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return time.Since(d.live["stalled"].pingedAt) < time.Second && time.Since(d.live["stalled"].seen) > time.Second
	})
	if _, ok := d.Node("stalled"); !ok {
		t.Error("the stalled node, which answers pings, was declared dead")
	}
	select {
	case id := <-down:
		t.Errorf("node %q declared dead too", id)
	default:
	}
}
