package bus

import (
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedOptions configure an in-process NATS server.
type EmbeddedOptions struct {
	Host string // default 127.0.0.1
	Port int    // 0 picks a free port
	// StoreDir holds JetStream data; empty means a new temporary directory
	// removed on Shutdown.
	StoreDir string
	// Cluster, when ClusterPort is set, joins a NATS cluster: ServerName
	// must be unique, Routes lists the other servers' route URLs.
	ServerName  string
	ClusterName string
	ClusterPort int
	Routes      []string
}

// Embedded is an in-process NATS server with JetStream.
type Embedded struct {
	srv     *server.Server
	tempDir string
}

// StartEmbedded starts a NATS server inside this process and waits until it
// accepts connections.
func StartEmbedded(o EmbeddedOptions) (*Embedded, error) {
	e := &Embedded{}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Port == 0 {
		o.Port = server.RANDOM_PORT
	}
	if o.StoreDir == "" {
		dir, err := os.MkdirTemp("", "rtcloud-nats-")
		if err != nil {
			return nil, err
		}
		o.StoreDir, e.tempDir = dir, dir
	}
	opts := &server.Options{
		ServerName: o.ServerName,
		Host:       o.Host,
		Port:       o.Port,
		JetStream:  true,
		StoreDir:   o.StoreDir,
		NoSigs:     true,
		NoLog:      true,
		MaxPayload: MaxMessageBytes * 2,
	}
	if o.ClusterPort != 0 {
		opts.Cluster = server.ClusterOpts{Name: o.ClusterName, Host: o.Host, Port: o.ClusterPort}
		for _, r := range o.Routes {
			u := server.RoutesFromStr(r)
			if len(u) == 0 {
				return nil, fmt.Errorf("route %q: not a valid URL", r)
			}
			opts.Routes = append(opts.Routes, u...)
		}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		e.cleanup()
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	e.srv = srv
	go srv.Start() // owned by srv: Shutdown stops it
	if !srv.ReadyForConnections(10 * time.Second) {
		e.Shutdown()
		return nil, fmt.Errorf("embedded NATS did not start on %s:%d", o.Host, o.Port)
	}
	return e, nil
}

// ClientURL is the URL clients connect to.
func (e *Embedded) ClientURL() string { return e.srv.ClientURL() }

// Server returns the underlying server.
func (e *Embedded) Server() *server.Server { return e.srv }

// Shutdown stops the server and removes its temporary store.
func (e *Embedded) Shutdown() {
	if e.srv != nil {
		e.srv.Shutdown()
		e.srv.WaitForShutdown()
	}
	e.cleanup()
}

func (e *Embedded) cleanup() {
	if e.tempDir != "" {
		_ = os.RemoveAll(e.tempDir)
	}
}
