// Package teststack runs what `rtcloud dev` runs inside a test process:
// an embedded NATS server, one SFU node and signaling servers behind
// httptest servers, each component on its own bus connection. Only tests
// import it.
package teststack

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/sfu"
	"github.com/rtcloud/rtcloud/internal/signal"
	"github.com/rtcloud/rtcloud/internal/testenv"
)

// Options configures a stack; the zero value is one node on 127.0.0.1
// and one signaling server.
type Options struct {
	// Signals is how many signaling servers run (default 1).
	Signals int
	// Node configures the SFU node; its Logger defaults to Logger.
	Node testenv.NodeOptions
	// Handler, when set, wraps each signaling server's handler (the
	// browser tests serve the web pages in front of it).
	Handler func(http.Handler) http.Handler
	Logger  *slog.Logger // default testenv.Logger()
}

// Stack is a running stack; it stops when the test ends.
type Stack struct {
	NATS    *bus.Embedded
	Node    *sfu.Node
	Signals []*Signal
}

// Signal is one signaling server and its HTTP server.
type Signal struct {
	*signal.Server
	HTTP *httptest.Server
	URL  string // http://127.0.0.1:port
	WS   string // ws://127.0.0.1:port/ws
}

// Kill drops every client connection at once and stops the server.
func (s *Signal) Kill() {
	s.HTTP.CloseClientConnections()
	s.HTTP.Close()
	s.Server.Close()
}

// Start runs a stack and waits until the node and every signaling server
// are ready (a ready signaling server has seen the node's heartbeat).
func Start(t testing.TB, o Options) *Stack {
	t.Helper()
	if o.Logger == nil {
		o.Logger = testenv.Logger()
	}
	if o.Node.Logger == nil {
		o.Node.Logger = o.Logger
	}
	if o.Signals == 0 {
		o.Signals = 1
	}
	st := &Stack{NATS: testenv.StartNATS(t)}
	st.Node = testenv.StartNode(t, st.NATS.ClientURL(), o.Node)
	for range o.Signals {
		st.Signals = append(st.Signals, startSignal(t, st.NATS.ClientURL(), o))
	}
	testenv.Eventually(t, 15*time.Second, "signaling servers ready", func() error {
		for i, s := range st.Signals {
			if !s.Ready() {
				return fmt.Errorf("signaling server %d not ready", i)
			}
		}
		return nil
	})
	return st
}

func startSignal(t testing.TB, natsURL string, o Options) *Signal {
	t.Helper()
	c := config.Default()
	c.Signal.DevTokens = true
	log := o.Logger
	b := testenv.ConnectWith(t, bus.Options{URLs: natsURL, Name: "test-signal", Logger: log})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	sig, err := signal.NewServer(ctx, signal.Options{Config: c.Signal, Bus: b,
		Verifier: auth.NewVerifier(config.DevKeys()), Keys: config.DevKeys(), Logger: log})
	if err != nil {
		t.Fatalf("signal.NewServer: %v", err)
	}
	h := sig.Handler()
	if o.Handler != nil {
		h = o.Handler(h)
	}
	srv := httptest.NewServer(h)
	s := &Signal{Server: sig, HTTP: srv, URL: srv.URL, WS: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"}
	t.Cleanup(s.Kill)
	return s
}
