package browsertest

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
	"github.com/rtcloud/rtcloud/internal/testenv"
	"github.com/rtcloud/rtcloud/internal/teststack"
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
}

func startStack(t *testing.T) *stack {
	t.Helper()
	ip := testIP(t)
	logs := &testenv.LogBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log (last lines):\n%s", logs.Tail(150))
		}
	})
	// The same wiring as cmd/rtcloud: the pages, and everything else to
	// the signaling server (/ws, /whip/, /whep/, /dev/token).
	st := teststack.Start(t, teststack.Options{
		Node:    testenv.NodeOptions{NodeID: "browsertest", IP: ip, MediaPort: testenv.FreePort(t, ip)},
		Handler: web.HandlerWith,
		Logger:  log,
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("SFU metrics at the failure:\n%s", nodeMetrics(st.Node.MetricsHandler()))
		}
	})
	b := testenv.ConnectWith(t, bus.Options{URLs: st.NATS.ClientURL(), Name: "browsertest-client", Logger: log})
	return &stack{URL: st.Signals[0].URL, IP: ip, NodeID: st.Node.ID(), Bus: b}
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

// eventually polls check until it returns nil or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, check func() error) {
	t.Helper()
	testenv.Eventually(t, d, what, check)
}

// nodeMetrics returns the node's rtcloud_ series that are not zero, the
// counters that tell where packets, NACKs and keyframe requests went.
func nodeMetrics(h http.Handler) string {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	var out strings.Builder
	for line := range strings.Lines(rec.Body.String()) {
		if strings.HasPrefix(line, "rtcloud_") && !strings.HasSuffix(line, " 0\n") && !strings.Contains(line, "_bucket{") {
			out.WriteString(line)
		}
	}
	return out.String()
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
