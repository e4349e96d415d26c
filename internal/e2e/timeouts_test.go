package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/protocol"
	"github.com/rtcloud/rtcloud/internal/testenv"
)

// Every HTTP server (signaling, controller, SFU metrics) closes a
// connection whose request body never arrives and an idle keep-alive
// connection; a joined WebSocket outlives those timeouts.
func TestHTTPTimeouts(t *testing.T) {
	nats, err := bus.StartEmbedded(bus.EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nats.Shutdown)
	cfg := filepath.Join(t.TempDir(), "rtcloud.yaml")
	yaml := "dev_keys: true\nhttp:\n  read_header_timeout: 500ms\n  read_timeout: 1s\n  write_timeout: 2s\n  idle_timeout: 1s\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	sigPort, ctlPort, metPort := testenv.FreePort(t, "127.0.0.1"), testenv.FreePort(t, "127.0.0.1"), testenv.FreePort(t, "127.0.0.1")
	startChild(t, "sfu", "--config", cfg, "--nats", nats.ClientURL(), "--media-port", "0", "--advertise-ip", "127.0.0.1",
		"--metrics-addr", fmt.Sprintf("127.0.0.1:%d", metPort))
	startChild(t, "controller", "--config", cfg, "--nats", nats.ClientURL(), "--http", fmt.Sprintf("127.0.0.1:%d", ctlPort))
	startChild(t, "signal", "--config", cfg, "--nats", nats.ClientURL(), "--http", fmt.Sprintf("127.0.0.1:%d", sigPort))
	waitHealthy(t, fmt.Sprintf("http://127.0.0.1:%d", sigPort))

	for name, port := range map[string]int{"signal": sigPort, "controller": ctlPort, "metrics": metPort} {
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if err := closedWhenIdle(addr); err != nil {
			t.Errorf("%s: idle keep-alive connection: %v", name, err)
		}
		if err := closedWithoutBody(addr); err != nil {
			t.Errorf("%s: request without its body: %v", name, err)
		}
	}

	// The dashboard's event stream lives on past the write timeout: the
	// second history event comes 5 s after the first.
	if err := streamOutlives(t, fmt.Sprintf("http://127.0.0.1:%d/dashboard/api/stream", ctlPort)); err != nil {
		t.Errorf("dashboard event stream: %v", err)
	}

	// A joined WebSocket lives on past the read and idle timeouts.
	ctx := testenv.Context(t, 30*time.Second)
	ws, _, err := websocket.Dial(ctx, fmt.Sprintf("ws://127.0.0.1:%d/ws", sigPort), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	roundTrip := func(m protocol.Message, want string) error {
		data, _ := json.Marshal(m)
		if err := ws.Write(ctx, websocket.MessageText, data); err != nil {
			return err
		}
		for {
			_, data, err := ws.Read(ctx)
			if err != nil {
				return err
			}
			var got protocol.Message
			if json.Unmarshal(data, &got) == nil && got.Type == want {
				return nil
			}
		}
	}
	if err := roundTrip(protocol.Message{Type: protocol.TypeJoin, Token: testenv.Mint(t, "default", "t", "alice")}, protocol.TypeJoined); err != nil {
		t.Fatalf("join: %v", err)
	}
	start := time.Now()
	for time.Since(start) < 3*time.Second { // three read timeouts
		if err := roundTrip(protocol.Message{Type: protocol.TypePing}, protocol.TypePong); err != nil {
			t.Fatalf("WebSocket cut after %v: %v", time.Since(start), err)
		}
		time.Sleep(200 * time.Millisecond) // pace the pings; nothing is timed
	}
}

// closedWhenIdle sends one complete request and expects the server to
// close the kept-alive connection afterwards.
func closedWhenIdle(addr string) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return err
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return fmt.Errorf("no response: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return expectEOF(br)
}

// closedWithoutBody sends headers announcing a body that never comes.
func closedWithoutBody(addr string) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	req := "POST /whip/r HTTP/1.1\r\nHost: x\r\nContent-Type: application/sdp\r\nContent-Length: 1000\r\n\r\nv=0\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		return err
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	return expectEOF(bufio.NewReader(c))
}

// expectEOF reads (and drops any response) until the server closes.
func expectEOF(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errors.New("the server kept the connection open")
	}
	return nil
}

// streamOutlives reads a server-sent event stream with an operator token
// until it has two "history" events.
func streamOutlives(t *testing.T, url string) error {
	ctx := testenv.Context(t, 20*time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+testenv.MintWith(t, auth.TokenOptions{Key: auth.DevKey, Secret: auth.DevSecret,
		Identity: "ops", Grant: auth.Grant{Namespace: auth.DefaultNamespace, Room: "*", Admin: true}}))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	histories := 0
	for sc.Scan() {
		if sc.Text() == "event: history" {
			if histories++; histories == 2 {
				return nil
			}
		}
	}
	return fmt.Errorf("the stream ended after %d history events: %v", histories, sc.Err())
}
