package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rtcloud/rtcloud/internal/cluster"
)

// runCluster is `rtcloud dev --nodes N`: a local cluster of child
// processes of this binary on one embedded NATS.
func runCluster(ctx context.Context, f commonFlags, nodes int, regions []string, stdout, stderr io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the rtcloud binary: %w", err)
	}
	c, err := f.load()
	if err != nil {
		return err
	}
	host, signalPort := "127.0.0.1", 7800
	if f.httpAddr != "" {
		h, p, ok := strings.Cut(f.httpAddr, ":")
		if n, err := fmt.Sscanf(p, "%d", &signalPort); !ok || err != nil || n != 1 {
			return fmt.Errorf("--http %q: want host:port", f.httpAddr)
		}
		if h != "" {
			host = h
		}
	}
	// With --http every port follows it, so two clusters can run side by
	// side: controllers at +100, node metrics at +120.
	controllerPort := 0
	if f.httpAddr != "" {
		controllerPort = signalPort + 100
	}
	log := newLogger(c.Log.Level, c.Log.Format, stderr)
	return cluster.Run(ctx, cluster.Options{
		Exe: exe, Nodes: nodes, Regions: regions, Host: host, SignalPort: signalPort, ControllerPort: controllerPort,
		AdvertiseIP: f.advertiseIP, NATSURL: f.nats, LogLevel: f.logLevel,
		// A local cluster believes X-Forwarded-For from this machine, so
		// `rtcloud bench --subscriber-ips` can place clients in regions.
		TrustedProxies: []string{"127.0.0.0/8"},
		// relay.links of --config go to the controllers, which route by them.
		RelayLinks: c.Relay.Links,
		// Dev mode asks for the public dev key only when no key is configured.
		Keys: c.Keys, DevKeys: c.DevKeys, DevTokens: len(c.Keys) == 0 || c.DevKeys,
		Out: stderr, Info: stdout, Logger: log,
	})
}
