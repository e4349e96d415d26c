package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/sfu"
)

// devCredentials picks the key the banner's token is signed with: the dev
// key when accepted, else the first configured key, whose secret is not
// printed.
func devCredentials(c config.Config) (key, secret, shown string) {
	keys := c.APIKeys()
	if c.DevKeyActive() {
		return auth.DevKey, auth.DevSecret, auth.DevSecret
	}
	key = slices.Min(slices.Collect(maps.Keys(keys)))
	return key, keys[key], "(configured)"
}

// runDev runs an embedded NATS server, one SFU node and one signaling
// server in this process. Each component has its own bus connection, as
// if it ran on its own.
func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rtcloud dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f commonFlags
	f.register(fs, true, true)
	nodes := fs.Int("nodes", 1, "SFU nodes; more than 1 runs a local cluster of child processes (2 signaling servers, 2 controllers)")
	regions := fs.String("regions", "", "regions of the cluster's SFU nodes, comma-separated (with --nodes)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *nodes > 1 {
		return runCluster(ctx, f, *nodes, config.SplitList(*regions), stdout, stderr)
	}
	c, err := f.load()
	if err != nil {
		return err
	}
	c.Signal.DevTokens = true
	if len(c.Keys) == 0 {
		// Nothing configured: dev mode asks for the public dev key.
		c.DevKeys = true
	}
	log := newLogger(c.Log.Level, c.Log.Format, stderr)
	logKeys(log, c)

	natsURL := c.NATS.URL
	if natsURL == "" {
		nats, err := bus.StartEmbedded(bus.EmbeddedOptions{})
		if err != nil {
			return err
		}
		defer nats.Shutdown()
		natsURL = nats.ClientURL()
		c.NATS.URL = natsURL
	}

	sfuBus, err := connectBus(c, "rtcloud-dev-sfu", log)
	if err != nil {
		return err
	}
	defer sfuBus.Close()
	node, err := sfu.NewNode(sfu.Options{Config: c.SFU, Bus: sfuBus, Logger: log, Forwarder: f.forwarder, NoBatchSend: f.noBatch})
	if err != nil {
		return err
	}
	nodeCtx, stopNode := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := node.Run(nodeCtx); err != nil {
			log.Error("sfu node stopped", "err", err)
		}
	}()
	// Stop the node after the signaling server so clients are told first.
	defer func() { stopNode(); wg.Wait() }()

	ctlSvc, stopController, err := startDevController(ctx, c, log)
	if err != nil {
		return err
	}
	defer stopController()

	sigBus, err := connectBus(c, "rtcloud-dev-signal", log)
	if err != nil {
		return err
	}
	defer sigBus.Close()
	sig, err := startSignal(ctx, c, sigBus, log)
	if err != nil {
		return err
	}
	defer sig.Close()

	ln, err := net.Listen("tcp", c.Signal.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", c.Signal.HTTPAddr, err)
	}
	base := httpBase(ln.Addr().String())
	mux := http.NewServeMux()
	gwBus, err := connectBus(c, "rtcloud-dev-gateways", log)
	if err != nil {
		return err
	}
	defer gwBus.Close()
	gw := startDevGateways(ctx, c, gwBus, ln.Addr().String(), mux, log)
	defer gw.stop()
	key, secret, shown := devCredentials(c)
	token, err := auth.Mint(auth.TokenOptions{Key: key, Secret: secret, Identity: "dev-user",
		Grant: auth.Grant{Namespace: auth.DefaultNamespace, Room: "demo", Publish: true, Subscribe: true}})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, `rtcloud dev is running
  conference page:  %[1]s/
  WebSocket:        %[2]s/ws
  WHIP publish:     %[1]s/whip/{room}
  WHEP watch:       %[1]s/whep/{room}
  health:           %[1]s/healthz
  dashboard:        %[1]s/dashboard/
  egress API:       %[1]s/v1/egress
  NATS:             %[3]s
  media:            UDP and TCP port %[4]d
  API key/secret:   %[5]s / %[6]s
%[8]s  token (room "demo", identity "dev-user"):
%[7]s
`, base, "ws"+base[len("http"):], natsURL, c.SFU.MediaPort, key, shown, token, gw.banner())
	// /metrics serves the SFU node's registry (it includes the process
	// collectors); /debug/pprof only with --pprof.
	egressAPI, stopEgress, err := devEgress(ctx, c, "ws"+base[len("http"):]+"/ws", log)
	if err != nil {
		return err
	}
	defer stopEgress()
	mux.Handle("/", withEgressAPI(ctlSvc.handler(httpHandler(sig, []func() bool{node.Ready, sigBus.Connected, sfuBus.Connected})), egressAPI))
	mux.Handle("/metrics", node.MetricsHandler())
	mux.Handle("/metrics/signal", metricsHandler()) // the signaling server's counters (refused requests, dropped events)
	if f.pprof {
		mountPprof(mux)
	}
	err = serveListener(ctx, ln, mux, c.HTTP, log)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
