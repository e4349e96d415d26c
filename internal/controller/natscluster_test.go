package controller

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/testenv"
)

// startNATSCluster starts three clustered NATS servers with JetStream.
func startNATSCluster(t *testing.T) []*bus.Embedded {
	t.Helper()
	ports := []int{testenv.FreePort(t, "127.0.0.1"), testenv.FreePort(t, "127.0.0.1"), testenv.FreePort(t, "127.0.0.1")}
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	servers := make([]*bus.Embedded, 3)
	errs := make(chan error, 3)
	for i := range servers {
		go func() {
			e, err := bus.StartEmbedded(bus.EmbeddedOptions{ServerName: fmt.Sprintf("n%d", i), ClusterName: "rtcloud-test",
				ClusterPort: ports[i], Routes: routes})
			servers[i] = e
			errs <- err
		}()
	}
	for range servers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, s := range servers {
			s.Shutdown()
		}
	})
	return servers
}

func TestSurvivesNATSServerLoss(t *testing.T) {
	servers := startNATSCluster(t)
	var urls []string
	for _, s := range servers {
		urls = append(urls, s.ClientURL())
	}
	all := strings.Join(urls, ",")
	// Wait for the JetStream meta leader of the cluster: it is the server
	// that dies.
	victim := -1
	testenv.WaitFor(t, 15*time.Second, "JetStream cluster ready", func() bool {
		for i, s := range servers {
			if s.Server().JetStreamIsLeader() {
				victim = i
				return true
			}
		}
		return false
	})
	c1 := startController(t, all, testConfig(), 3)
	// The second controller's preferred server is the one that dies.
	c2 := startController(t, urls[victim]+","+all, testConfig(), 3)
	startNode(t, all, bus.NodeInfo{ID: "eu-1", Region: "eu"})
	startNode(t, all, bus.NodeInfo{ID: "us-1", Region: "us"})
	waitNodes(t, c1, 2)
	waitNodes(t, c2, 2)
	if a, code := allocate(t, c2.url, "default", "before", "10.1.0.1"); code != http.StatusOK || a.Node.ID != "eu-1" {
		t.Fatalf("before: %d %+v", code, a)
	}

	servers[victim].Shutdown()

	// Placement still answers, the room record written before is still
	// read (same node), and new rooms are still written.
	testenv.WaitFor(t, 10*time.Second, "allocate answers after losing a NATS server", func() bool {
		for _, c := range []*instance{c1, c2} {
			a, code := allocate(t, c.url, "default", "before", "10.2.0.1")
			if code != http.StatusOK || a.Node.ID != "eu-1" {
				return false
			}
		}
		return true
	})
	a, code := allocate(t, c2.url, "default", "after", "10.2.0.1")
	if code != http.StatusOK || a.Node.ID != "us-1" {
		t.Fatalf("after: %d %+v", code, a)
	}
	rec, rev, err := c1.rooms.get(context.Background(), bus.RoomKey("default", "after"))
	if err != nil || rev == 0 || rec.NodeID != "us-1" {
		t.Fatalf("room record after the loss: %+v %d %v", rec, rev, err)
	}
	// The bus path (what signaling servers use) answers too.
	var viaBus bus.Allocation
	if err := connect(t, urls[(victim+1)%3], 3).Request(context.Background(), bus.ControllerAllocate,
		bus.AllocateRequest{Namespace: "default", Room: "after"}, &viaBus); err != nil || viaBus.Node.ID != "us-1" {
		t.Fatalf("bus allocate: %+v %v", viaBus, err)
	}
	// Leadership survives too: exactly one leader within the lease time.
	testenv.WaitFor(t, 5*time.Second, "one leader", func() bool { return c1.IsLeader() != c2.IsLeader() })
}
