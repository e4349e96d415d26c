package browsertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/sfu"
	"github.com/rtcloud/rtcloud/internal/signal"
	"github.com/rtcloud/rtcloud/web"
)

// stack is what `rtcloud dev` runs, in the test process: an embedded NATS
// server, one SFU node on the test address, one signaling server and the
// web pages, all behind one HTTP server on 127.0.0.1 (a secure context,
// so pages may use the camera).
type stack struct {
	URL    string // http://127.0.0.1:port
	IP     string // the SFU's media address
	NodeID string
	Bus    *bus.Client
	logs   *logBuffer
}

func startStack(t *testing.T) *stack {
	t.Helper()
	ip := testIP(t)
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log (last lines):\n%s", logs.tail(150))
		}
	})

	nats, err := bus.StartEmbedded(bus.EmbeddedOptions{})
	if err != nil {
		t.Fatalf("start NATS: %v", err)
	}
	t.Cleanup(nats.Shutdown)

	c := config.Default()
	c.NATS.URL = nats.ClientURL()
	c.SFU.NodeID = "browsertest"
	c.SFU.BindIP = ip
	c.SFU.AdvertiseIPs = []string{ip}
	c.SFU.MediaPort = freePort(t, ip)
	c.SFU.HeartbeatInterval = 500 * time.Millisecond
	c.Signal.DevTokens = true
	if err := c.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}

	connect := func(name string) *bus.Client {
		b, err := bus.Connect(bus.Options{URLs: c.NATS.URL, Name: name, Logger: log})
		if err != nil {
			t.Fatalf("connect %s to NATS: %v", name, err)
		}
		t.Cleanup(b.Close)
		return b
	}
	node, err := sfu.NewNode(sfu.Options{Config: c.SFU, Bus: connect("browsertest-sfu"), Logger: log.With("component", "sfu")})
	if err != nil {
		t.Fatalf("sfu.NewNode: %v", err)
	}
	nodeCtx, stopNode := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := node.Run(nodeCtx); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("sfu node stopped", "err", err)
		}
	}()
	t.Cleanup(func() { stopNode(); wg.Wait() })

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	sig, err := signal.NewServer(ctx, signal.Options{
		Config:   c.Signal,
		Bus:      connect("browsertest-signal"),
		Verifier: auth.NewVerifier(c.Keys),
		Keys:     c.Keys,
		Logger:   log.With("component", "signal"),
	})
	if err != nil {
		t.Fatalf("signal.NewServer: %v", err)
	}
	t.Cleanup(sig.Close)

	// The same wiring as cmd/rtcloud: the pages, and everything else to
	// the signaling server (/ws, /whip/, /whep/, /dev/token).
	mux := http.NewServeMux()
	mux.Handle("/", web.HandlerWith(sig.Handler()))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		shut, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
		_ = srv.Close() // hijacked WebSocket connections are ended by sig.Close
		<-served
	})

	s := &stack{URL: "http://" + ln.Addr().String(), IP: ip, NodeID: c.SFU.NodeID, Bus: connect("browsertest-client"), logs: logs}
	eventually(t, 15*time.Second, "the SFU node and the signaling server are ready", func() error {
		if !node.Ready() || !sig.Ready() {
			return fmt.Errorf("node ready %v, signal ready %v", node.Ready(), sig.Ready())
		}
		return nil
	})
	return s
}

// roomState asks the SFU node who is in a room and what they publish.
func (s *stack) roomState(room string) ([]bus.ParticipantInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var st bus.RoomState
	err := s.Bus.Request(ctx, bus.NodeCommand(s.NodeID, bus.CmdRoomState),
		bus.RoomStateRequest{Namespace: auth.DefaultNamespace, Room: room}, &st)
	if err != nil {
		return nil, err
	}
	if st.Error != nil {
		return nil, st.Error
	}
	return st.Participants, nil
}

// freePort finds a port free for both UDP and TCP on ip.
func freePort(t *testing.T, ip string) int {
	t.Helper()
	for range 20 {
		tl, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		port := tl.Addr().(*net.TCPAddr).Port
		ul, err := net.ListenPacket("udp", fmt.Sprintf("%s:%d", ip, port))
		_ = tl.Close()
		if err == nil {
			_ = ul.Close()
			return port
		}
	}
	t.Fatal("no free UDP+TCP port")
	return 0
}

// eventually polls check until it returns nil or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, still not true that %s: %v", d, what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// logBuffer collects server logs; tests print its tail when they fail.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf.Len() > 4<<20 {
		l.buf.Reset()
	}
	return l.buf.Write(p)
}

func (l *logBuffer) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := strings.Split(strings.TrimRight(l.buf.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
