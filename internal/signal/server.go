// Package signal is the client-facing, stateless signaling tier: the
// WebSocket room protocol and WHIP/WHEP. It never touches media; it talks
// to SFU nodes only over the bus. Sessions live on SFU nodes and in the
// directory, so any signaling server can serve any session.
package signal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/directory"
	"github.com/rtcloud/rtcloud/internal/placement"
)

// Defaults of the tunable limits.
const (
	DefaultIdleTimeout = 30 * time.Second
	DefaultJoinTimeout = 10 * time.Second
	// DefaultSlowClientGrace is Options.SlowClientGrace's default.
	DefaultSlowClientGrace = 2 * time.Second
	DefaultSendQueue       = 256
)

// Options configure a Server.
type Options struct {
	Config   config.Signal
	Bus      *bus.Client
	Verifier *auth.Verifier
	// Keys mint tokens for GET /dev/token when Config.DevTokens is set.
	Keys   map[string]string
	Logger *slog.Logger
	// IdleTimeout closes WebSocket connections that send no frame for
	// that long (default DefaultIdleTimeout).
	IdleTimeout time.Duration
	// JoinTimeout closes WebSocket connections that have not joined that
	// long after connecting, whatever they send (default
	// DefaultJoinTimeout).
	JoinTimeout time.Duration
	// SendQueue is how many messages may wait for a slow WebSocket client
	// before it is disconnected (default DefaultSendQueue).
	SendQueue int
	// SlowClientGrace is how long a message may wait for room in a full
	// send queue before the client is disconnected as too slow (default
	// DefaultSlowClientGrace): bursts do not cut off clients that read.
	SlowClientGrace time.Duration
	// Limits bound what one client may send (defaults in limits.go).
	Limits Limits
	// Metrics, when set, registers the server's counters of refused
	// requests and dropped events.
	Metrics prometheus.Registerer
	// Placement is the controllers' placement configuration; the server
	// places with the same policies (internal/placement) when no
	// controller answers. RoomsSpanNodes: the nodes run the relay.
	Placement      config.Controller
	RoomsSpanNodes bool
}

// Server is one signaling server.
type Server struct {
	opts Options
	log  *slog.Logger
	dir  *directory.Directory
	// migrations follows drains with migration (bus.NodeMigrations).
	migrations *nats.Subscription
	place      placer
	client     clientAddr
	mux        *http.ServeMux
	met        *metrics

	ctx    context.Context // ends when the server closes
	cancel context.CancelFunc

	mu     sync.Mutex // guards conns and closed
	conns  map[*conn]struct{}
	closed bool
	wg     sync.WaitGroup // WebSocket connections being served
}

// NewServer returns a server; ctx bounds its setup (opening KV buckets).
func NewServer(ctx context.Context, o Options) (*Server, error) {
	if o.Bus == nil || o.Verifier == nil {
		return nil, errors.New("signal: Bus and Verifier are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.JoinTimeout <= 0 {
		o.JoinTimeout = DefaultJoinTimeout
	}
	if o.SendQueue <= 0 {
		o.SendQueue = DefaultSendQueue
	}
	if o.SlowClientGrace <= 0 {
		o.SlowClientGrace = DefaultSlowClientGrace
	}
	o.Limits.defaults()
	log := o.Logger.With("component", "signal")
	client, err := newClientAddr(o.Config.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("signal: %w", err)
	}
	dir, err := directory.Open(ctx, directory.Options{Bus: o.Bus, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts: o,
		log:  log,
		dir:  dir,
		place: controllerPlacer{bus: o.Bus, fallback: directory.SameNode{
			Dir: dir, Policies: placement.Build(o.Placement, o.RoomsSpanNodes),
			PolicyName: func(ns string) string { return placement.PolicyName(o.Placement, ns) },
		}},
		client: client,
		conns:  map[*conn]struct{}{},
		met:    newMetrics(o.Metrics),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mux = s.routes()
	dir.OnNodeDown(func(id, _ string) { s.moveOffNode(id, ReasonNodeFailed) })
	s.migrations, err = o.Bus.Subscribe(bus.NodeMigrations, s.onMigrate)
	if err != nil {
		dir.Close()
		return nil, fmt.Errorf("signal: follow node migrations: %w", err)
	}
	return s, nil
}

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", s.serveWS)
	mux.HandleFunc("OPTIONS /whip/", s.preflight)
	mux.HandleFunc("OPTIONS /whep/", s.preflight)
	mux.HandleFunc("POST /whip/{room}", s.cors(s.serveWHIP))
	mux.HandleFunc("POST /whep/{room}", s.cors(s.serveWHEP))
	mux.HandleFunc("POST /whep/{room}/{identity}", s.cors(s.serveWHEP))
	for _, kind := range []string{"whip", "whep"} {
		mux.HandleFunc("PATCH /"+kind+"/{room}/{session}", s.cors(s.patchResource))
		mux.HandleFunc("DELETE /"+kind+"/{room}/{session}", s.cors(s.deleteResource))
	}
	mux.HandleFunc("GET /dev/token", s.cors(s.serveDevToken))
	mux.HandleFunc("OPTIONS /dev/token", s.preflight)
	return mux
}

// Handler serves /ws, /whip/, /whep/ (and /dev/token in dev mode).
func (s *Server) Handler() http.Handler { return s.mux }

// Ready reports whether the server can serve joins: it is connected to
// the bus and has seen a live media node.
func (s *Server) Ready() bool {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	// A server that knows no live media node cannot place a join yet; it
	// learns of nodes from their heartbeats within a second of starting.
	return !closed && s.opts.Bus.Connected() && len(s.dir.LiveNodes()) > 0
}

// Close ends every client connection with a reason and stops the server.
// Sessions stay on their nodes: clients resume through another server.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.closeWith(websocket.StatusGoingAway, "server shutting down", true)
	}
	_ = s.migrations.Unsubscribe()
	s.wg.Wait()
	s.cancel()
	s.dir.Close()
}

// track registers a connection; false when the server is closing.
func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}
