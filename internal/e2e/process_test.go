package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/testenv"
	"github.com/rtcloud/rtcloud/pkg/client"
)

// child is a running rtcloud process; its output is kept for failures.
type child struct {
	cmd *exec.Cmd
	out testenv.LogBuffer // written by the process while the test reads it
}

// startChild runs rtcloud with args and stops it (SIGTERM, then SIGKILL)
// when the test ends.
func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(testenv.Binary(t), args...)}
	c.cmd.Stdout = &c.out
	c.cmd.Stderr = &c.out
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { // owned by the cleanup below, which waits for it
		_ = c.cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = c.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("rtcloud %s output:\n%s", strings.Join(args, " "), c.out.String())
		}
	})
	return c
}

func waitHealthy(t *testing.T, base string) {
	t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second}
	testenv.Eventually(t, 60*time.Second, base+"/healthz", func() error {
		resp, err := hc.Get(base + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	hc.CloseIdleConnections()
}

// Signal and SFU run as separate processes connected only by an external
// NATS server; two clients exchange media through them.
func TestSeparateProcesses(t *testing.T) {
	nats, err := bus.StartEmbedded(bus.EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nats.Shutdown)
	port := testenv.FreePort(t, "127.0.0.1")
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	// Cleanups run last-in first-out: signal stops before the SFU, and
	// both before NATS.
	startChild(t, "sfu", "--nats", nats.ClientURL(), "--media-port", "0", "--advertise-ip", "127.0.0.1")
	startChild(t, "signal", "--dev-keys", "--nats", nats.ClientURL(), "--http", fmt.Sprintf("127.0.0.1:%d", port))
	waitHealthy(t, base)
	wsURL := "ws://" + strings.TrimPrefix(base, "http://") + "/ws"

	var pub *client.Client
	testenv.Eventually(t, 30*time.Second, "a join succeeds (the SFU node registered)", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := client.Connect(ctx, wsURL, testenv.Mint(t, "default", "split", "pub"), client.Options{Media: mediaOptions()})
		if err != nil {
			return err
		}
		pub = c
		return nil
	})
	t.Cleanup(pub.Close)
	tracks := publish(t, pub, video(), audio())
	sub := join(t, wsURL, "default", "split", "sub")
	ctx := testenv.Context(t, 30*time.Second)
	var rts []*client.RemoteTrack
	for _, lt := range tracks {
		rt, err := sub.Subscribe(ctx, lt.ID(), "")
		if err != nil {
			t.Fatalf("subscribe %s: %v", lt.ID(), err)
		}
		rts = append(rts, rt)
	}
	testenv.Eventually(t, 30*time.Second, "media through separate processes", func() error {
		for _, rt := range rts {
			if err := receiving(rt, 60); err != nil {
				return err
			}
		}
		return nil
	})
}

// `rtcloud token` prints one verifiable JWT on stdout and nothing else.
func TestTokenCommand(t *testing.T) {
	cmd := exec.Command(testenv.Binary(t), "token", "--room", "demo", "--identity", "alice", "--namespace", "acme", "--publish=false")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("rtcloud token: %v: %s", err, stderr.String())
	}
	out := stdout.String()
	if !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
		t.Fatalf("stdout is not exactly one line: %q", out)
	}
	claims, err := auth.NewVerifier(map[string]string{auth.DevKey: auth.DevSecret}).Verify(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("printed token does not verify: %v (%q)", err, out)
	}
	g := claims.Grant
	if claims.Identity() != "alice" || g.Room != "demo" || g.Namespace != "acme" || g.Publish || !g.Subscribe {
		t.Fatalf("claims %+v", claims)
	}
	if _, err := auth.NewVerifier(map[string]string{auth.DevKey: "other"}).Verify(strings.TrimSpace(out)); err == nil {
		t.Fatal("token verifies with a wrong secret")
	}
}

// `rtcloud dev` starts everything and answers /healthz with 200.
func TestDevCommand(t *testing.T) {
	port := testenv.FreePort(t, "127.0.0.1")
	startChild(t, "dev", "--http", fmt.Sprintf("127.0.0.1:%d", port), "--media-port", "0", "--advertise-ip", "127.0.0.1")
	waitHealthy(t, fmt.Sprintf("http://127.0.0.1:%d", port))
}
