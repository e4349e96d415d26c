// Package testenv starts the real parts rtcloud's tests run against: an
// embedded NATS server, bus clients and SFU nodes on loopback. It also
// mints tokens, polls with a deadline, gives test loggers and builds the
// rtcloud binary. Only tests import it.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// Logger discards everything unless RTCLOUD_E2E_DEBUG is set; then it
// writes debug logs to stderr.
func Logger() *slog.Logger {
	if os.Getenv("RTCLOUD_E2E_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// StartNATS runs an embedded NATS server with JetStream on a random port
// until the test ends.
func StartNATS(t testing.TB) *bus.Embedded {
	t.Helper()
	e, err := bus.StartEmbedded(bus.EmbeddedOptions{})
	if err != nil {
		t.Fatalf("start NATS: %v", err)
	}
	t.Cleanup(e.Shutdown)
	return e
}

// Connect connects a bus client to url, closed when the test ends.
func Connect(t testing.TB, url string) *bus.Client {
	t.Helper()
	return ConnectWith(t, bus.Options{URLs: url})
}

// ConnectWith connects a bus client with o (Logger defaults to Logger()),
// closed when the test ends.
func ConnectWith(t testing.TB, o bus.Options) *bus.Client {
	t.Helper()
	if o.Logger == nil {
		o.Logger = Logger()
	}
	c, err := bus.Connect(o)
	if err != nil {
		t.Fatalf("connect %q to NATS: %v", o.Name, err)
	}
	t.Cleanup(c.Close)
	return c
}

// Mint is a dev-key token of identity for room of namespace with the
// publish and subscribe grants.
func Mint(t testing.TB, namespace, room, identity string) string {
	t.Helper()
	return MintWith(t, auth.TokenOptions{Key: auth.DevKey, Secret: auth.DevSecret, Identity: identity,
		Grant: auth.Grant{Namespace: namespace, Room: room, Publish: true, Subscribe: true}})
}

// MintWith mints a token with o.
func MintWith(t testing.TB, o auth.TokenOptions) string {
	t.Helper()
	tok, err := auth.Mint(o)
	if err != nil {
		t.Fatalf("mint: %v", err)
	}
	return tok
}

// Eventually and WaitFor check first after 10 ms, then ever less often,
// at least every 100 ms.
const (
	firstPoll = 10 * time.Millisecond
	maxPoll   = 100 * time.Millisecond
)

// Eventually polls check until it returns nil and returns how long that
// took; when within passes first, it fails the test with what and the
// last error.
func Eventually(t testing.TB, within time.Duration, what string, check func() error) time.Duration {
	t.Helper()
	start := time.Now()
	for pause := firstPoll; ; pause = min(2*pause, maxPoll) {
		err := check()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("not within %v: %s: %v", within, what, err)
		}
		time.Sleep(pause)
	}
}

// WaitFor is Eventually for a condition without an error to report.
func WaitFor(t testing.TB, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	return Eventually(t, within, what, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
}

var errNotYet = errors.New("still false")

// Context is a context that ends after d or with the test.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// FreePort returns a port that was free a moment ago for both TCP and
// UDP on ip.
func FreePort(t testing.TB, ip string) int {
	t.Helper()
	for range 20 {
		tl, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		port := tl.Addr().(*net.TCPAddr).Port
		ul, err := net.ListenPacket("udp", net.JoinHostPort(ip, fmt.Sprint(port)))
		_ = tl.Close()
		if err == nil {
			_ = ul.Close()
			return port
		}
	}
	t.Fatalf("no free UDP+TCP port on %s", ip)
	return 0
}
