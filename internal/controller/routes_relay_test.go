package controller

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/sfu"
	"github.com/rtcloud/rtcloud/internal/testenv"
)

// startRelayNode runs a real SFU node with its relay in region.
func startRelayNode(t *testing.T, url, region string) (stop func()) {
	t.Helper()
	b := connect(t, url, 1)
	node, err := sfu.NewNode(sfu.Options{
		Config: config.SFU{
			NodeID: "sfu-" + region, Region: region, BindIP: "127.0.0.1", AdvertiseIPs: []string{"127.0.0.1"},
			HeartbeatInterval: 200 * time.Millisecond,
		},
		Bus: b, Logger: testenv.Logger(), RelaySecret: []byte("routing test relay secret 32 b.."),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = node.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	testenv.WaitFor(t, 15*time.Second, "node ready", node.Ready)
	return stop
}

// TestRoutesWithRelayNodes runs the controller with real relay nodes: their
// probes become link reports, the links measured up, the routes follow the
// allowed links, and every node reports that it runs the published
// version.
func TestRoutesWithRelayNodes(t *testing.T) {
	url := startNATS(t)
	relay := relayConfig()
	relay.Links = [][]string{{"eu", "us"}, {"us", "ap"}}
	c := startRouting(t, url, relay)
	stops := map[string]func(){}
	for _, r := range []string{"eu", "us", "ap"} {
		stops[r] = startRelayNode(t, url, r)
	}
	op := token(t, auth.Grant{Namespace: "default", Room: "*", Admin: true})
	testenv.Eventually(t, 15*time.Second, "links measured and routes taken", func() error {
		var links LinksStatus
		call(t, "GET", c.url+"/v1/admin/links", op, &links)
		if len(links.Nodes) != 3 {
			return fmt.Errorf("nodes %+v", links.Nodes)
		}
		for _, l := range links.Links {
			euap := (l.From == "sfu-eu" && l.To == "sfu-ap") || (l.From == "sfu-ap" && l.To == "sfu-eu")
			if (euap && l.State != LinkNotAllowed) || (!euap && (l.State != LinkUp || l.RTTMs <= 0)) {
				return fmt.Errorf("link %+v", l)
			}
		}
		var st RoutesStatus
		call(t, "GET", c.url+"/v1/admin/routes", op, &st)
		if st.Tables["sfu-eu"]["sfu-ap"] != "sfu-us" || st.Tables["sfu-ap"]["sfu-eu"] != "sfu-us" {
			return fmt.Errorf("tables %+v", st.Tables)
		}
		for _, n := range links.Nodes {
			if !n.Probing || n.RoutesVersion != st.Version {
				return fmt.Errorf("node %+v, published version %d", n, st.Version)
			}
		}
		return nil
	})

	// us dies: eu and ap have no path left to each other.
	stops["us"]()
	testenv.Eventually(t, 10*time.Second, "routes without us", func() error {
		var st RoutesStatus
		call(t, "GET", c.url+"/v1/admin/routes", op, &st)
		if _, ok := st.Tables["sfu-eu"]["sfu-ap"]; ok || len(st.Reasons["sfu-eu"]) != 1 {
			return fmt.Errorf("tables %+v reasons %+v", st.Tables, st.Reasons)
		}
		return nil
	})
}
