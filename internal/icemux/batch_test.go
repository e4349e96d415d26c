package icemux

import (
	"net"
	"testing"
	"time"
)

// TestBatchConn: writes inside a batch are held until the batch ends (or
// the slots fill) and then all arrive; writes outside a batch go at once.
func TestBatchConn(t *testing.T) {
	recv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	send, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	b := newBatchConn(send)
	defer b.Close()
	to := recv.LocalAddr().(*net.UDPAddr).AddrPort()
	read := func(timeout time.Duration) (byte, bool) {
		buf := make([]byte, 1500)
		_ = recv.SetReadDeadline(time.Now().Add(timeout))
		n, err := recv.Read(buf)
		if err != nil || n != 100 {
			return 0, false
		}
		return buf[0], true
	}
	pkt := func(i int) []byte { p := make([]byte, 100); p[0] = byte(i); return p }

	if _, err := b.WriteToAddrPort(pkt(1), to); err != nil {
		t.Fatal(err)
	}
	if v, ok := read(time.Second); !ok || v != 1 {
		t.Fatalf("unbatched write: got %d %v", v, ok)
	}

	b.BeginBatch()
	b.BeginBatch() // nested: the outer end flushes
	for i := range 3 {
		if n, err := b.WriteToAddrPort(pkt(10+i), to); err != nil || n != 100 {
			t.Fatalf("write %d: %d %v", i, n, err)
		}
	}
	b.EndBatch()
	if _, ok := read(50 * time.Millisecond); ok {
		t.Fatal("packet sent before the batch ended")
	}
	b.EndBatch()
	for i := range 3 {
		if v, ok := read(time.Second); !ok || v != byte(10+i) {
			t.Fatalf("batched packet %d: got %d %v", i, v, ok)
		}
	}

	b.BeginBatch()
	for i := range batchSize + 1 {
		_, _ = b.WriteToAddrPort(pkt(i), to)
	}
	for i := range batchSize { // a full batch goes without waiting for the end
		if v, ok := read(time.Second); !ok || v != byte(i) {
			t.Fatalf("full batch packet %d: got %d %v", i, v, ok)
		}
	}
	b.EndBatch()
	if v, ok := read(time.Second); !ok || v != byte(batchSize) {
		t.Fatalf("last packet: got %d %v", v, ok)
	}
	if b.errors.Load() != 0 {
		t.Fatalf("%d send errors", b.errors.Load())
	}
}

// benchSockets returns a sender and the address of a receiver that is
// drained in the background, so the kernel delivers every packet.
func benchSockets(b *testing.B) (*net.UDPConn, *net.UDPAddr) {
	recv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	send, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			if _, err := recv.Read(buf); err != nil {
				return
			}
		}
	}()
	b.Cleanup(func() { _ = recv.Close(); _ = send.Close(); <-done })
	return send, recv.LocalAddr().(*net.UDPAddr)
}

// BenchmarkSendto is the cost of one 1,100-byte loopback packet sent with
// its own sendto: the floor of a forwarder that writes per packet.
func BenchmarkSendto(b *testing.B) {
	send, to := benchSockets(b)
	p := make([]byte, 1100)
	ap := to.AddrPort()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = send.WriteToUDPAddrPort(p, ap)
	}
}

// BenchmarkSendmmsg is the cost per packet of the same packets sent in
// batches of 64 through batchConn.
func BenchmarkSendmmsg(b *testing.B) {
	send, to := benchSockets(b)
	c := newBatchConn(send)
	p := make([]byte, 1100)
	ap := to.AddrPort()
	b.ReportAllocs()
	c.BeginBatch()
	for b.Loop() {
		_, _ = c.WriteToAddrPort(p, ap)
	}
	c.EndBatch()
}
