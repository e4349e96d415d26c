package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
)

// runNATS is `rtcloud nats`: the embedded NATS server (with JetStream) as
// a process of its own, alone or clustered, for trying a cluster on one
// machine without installing NATS (scripts/failover.sh runs three). In
// production, run NATS from its official packages or chart.
func runNATS(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rtcloud nats", flag.ContinueOnError)
	fs.SetOutput(stderr)
	host := fs.String("host", "127.0.0.1", "listen address")
	port := fs.Int("port", 4222, "client port")
	name := fs.String("name", "", "server name (unique in a cluster)")
	cluster := fs.String("cluster", "rtcloud", "cluster name")
	clusterPort := fs.Int("cluster-port", 0, "route port; set it to cluster with --routes")
	routes := fs.String("routes", "", "the other servers' route URLs, comma-separated (nats://host:port)")
	store := fs.String("store", "", "JetStream directory (default: a temporary one)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	srv, err := bus.StartEmbedded(bus.EmbeddedOptions{Host: *host, Port: *port, StoreDir: *store, ServerName: *name,
		ClusterName: *cluster, ClusterPort: *clusterPort, Routes: config.SplitList(*routes)})
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	fmt.Fprintf(stdout, "NATS %s listening on %s\n", *name, srv.ClientURL())
	<-ctx.Done()
	return nil
}
