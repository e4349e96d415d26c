package icemux

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// TestQueuedConnDropsInsteadOfBlocking: writes to a peer that does not
// read never block; beyond the limit they are dropped and counted, and
// once the peer has read everything the recovery hook fires.
func TestQueuedConnDropsInsteadOfBlocking(t *testing.T) {
	var recovered atomic.Uint64
	m := &Mux{tcp: tcpConns{conns: map[*queuedConn]struct{}{}}}
	m.onRecovered = func(_ net.Addr, dropped uint64) { recovered.Store(dropped) }
	local, remote := net.Pipe() // a write blocks until the other end reads
	q := newQueuedConn(local, m, 10_000)
	if !m.track(q) {
		t.Fatal("not tracked")
	}
	pkt := make([]byte, 1000)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			if _, err := q.Write(pkt); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Write blocked on a peer that does not read")
	}
	dropped := m.TCPDropped()
	if dropped < 80 { // at most ~10 queued and 1 in the pipe
		t.Fatalf("dropped %d of 100, want most", dropped)
	}
	if recovered.Load() != 0 {
		t.Fatal("recovered before the peer read")
	}
	got := 0
	buf := make([]byte, 4096)
	deadline := time.Now().Add(5 * time.Second)
	for got < int(100-dropped)*len(pkt) {
		_ = remote.SetReadDeadline(deadline)
		n, err := remote.Read(buf)
		if err != nil {
			t.Fatalf("read %d bytes: %v", got, err)
		}
		got += n
	}
	for recovered.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no recovery after the peer caught up")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if recovered.Load() != dropped {
		t.Fatalf("recovered after %d drops, want %d", recovered.Load(), dropped)
	}
	m.closeTCP()
	if _, err := q.Write(pkt); err != io.ErrClosedPipe {
		t.Fatalf("write after close: %v", err)
	}
	_ = remote.Close()
}
