package netsim

import (
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pair is a server socket behind a proxy and a client socket in front.
func pair(t *testing.T, o Options) (*Proxy, *net.UDPConn, *net.UDPConn, *net.UDPAddr) {
	t.Helper()
	srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	o.Upstream = srv.LocalAddr().(*net.UDPAddr)
	p, err := Listen(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	cli, err := net.DialUDP("udp", nil, p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	_ = cli.SetReadBuffer(4 << 20) // bursts of 100 datagrams must fit
	t.Cleanup(func() { _ = cli.Close() })
	if _, err := cli.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	_ = srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := srv.ReadFromUDP(buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("server got %q, %v", buf[:n], err)
	}
	return p, srv, cli, from
}

// count sends n datagrams of size from the server and counts what the
// client receives.
func count(t *testing.T, srv, cli *net.UDPConn, to *net.UDPAddr, n, size int) int {
	t.Helper()
	msg := make([]byte, size)
	for range n {
		if _, err := srv.WriteToUDP(msg, to); err != nil {
			t.Fatal(err)
		}
	}
	got := 0
	buf := make([]byte, 2048)
	for {
		_ = cli.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := cli.Read(buf); err != nil {
			return got
		}
		got++
	}
}

func TestRateLimit(t *testing.T) {
	p, srv, cli, from := pair(t, Options{Rate: 80_000, Burst: 10_000})
	// A burst of 100 KB at once: the bucket lets about 10 KB through.
	if got := count(t, srv, cli, from, 100, 1000); got < 8 || got > 20 {
		t.Fatalf("rate-limited burst: %d of 100 datagrams arrived, want about 10", got)
	}
	p.SetRate(0)
	if got := count(t, srv, cli, from, 100, 1000); got < 95 {
		t.Fatalf("unlimited: %d of 100 datagrams arrived", got)
	}
	if s := p.Stats(); s.DroppedRate < 80 || s.Up != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestSeededLoss(t *testing.T) {
	run := func() uint64 {
		p, srv, cli, from := pair(t, Options{Loss: 0.3, Seed: 42})
		got := count(t, srv, cli, from, 200, 100)
		s := p.Stats()
		if uint64(got) != s.Down || s.Down+s.DroppedLoss != 200 {
			t.Fatalf("received %d, stats %+v", got, s)
		}
		return s.DroppedLoss
	}
	a, b := run(), run()
	if a != b || a < 30 || a > 90 {
		t.Fatalf("drops %d and %d with one seed, want equal and about 60", a, b)
	}
}
