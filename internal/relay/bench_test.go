package relay

import (
	"errors"
	"net"
	"net/netip"
	"testing"
)

// discard is a UDP socket nobody reads: the kernel drops what overflows.
func discard(b *testing.B) *net.UDPConn {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// BenchmarkSend is one media packet through Send: encode, cache, seal,
// one UDP write (the syscall dominates).
func BenchmarkSend(b *testing.B) { benchSend(b, 0) }

// BenchmarkSendFEC adds parity: 3 per group of 10 (the 10 % loss shape).
func BenchmarkSendFEC(b *testing.B) { benchSend(b, 3) }

func benchSend(b *testing.B, parity int) {
	tr := listen(b, "a", newSink(), nil)
	tr.SetPeer("b", discard(b).LocalAddr().(*net.UDPAddr).AddrPort())
	pe := (*tr.peers.Load())["b"]
	pe.sendMu.Lock()
	pe.fecTx.m = parity
	pe.sendMu.Unlock()
	p := media(1, "b", "c")
	b.SetBytes(int64(len(p.Payload)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := tr.Send("b", p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReceive is one authentic media datagram through the receive
// path without the socket: authenticate, decrypt, replay window, link
// window, decode, deliver.
func BenchmarkReceive(b *testing.B) {
	var delivered int
	tr := listen(b, "b", HandlerFunc(func(string, *Packet) { delivered++ }), nil)
	tr.SetPeer("a", discard(b).LocalAddr().(*net.UDPAddr).AddrPort())
	assumeVerified(b, tr, "a", 1)
	aead, err := linkAEAD(testSecret, "a", "b", 1)
	if err != nil {
		b.Fatal(err)
	}
	const batch = 1024
	dgs := make([][]byte, batch)
	for i := range dgs {
		dgs[i] = make([]byte, maxDatagram)
	}
	p := media(1, "b", "c")
	var counter uint64
	var nonce [nonceSize]byte
	inner := make([]byte, maxInner)
	seal := func() {
		for i := range dgs {
			counter++
			n := putOuter(dgs[i], "a", 1, counter)
			m := putData(inner, p, 1, uint32(counter), 0)
			putNonce(&nonce, counter)
			ct := aead.Seal(dgs[i][n:n], nonce[:], inner[:m], dgs[i][:n])
			dgs[i] = dgs[i][:n+len(ct)]
		}
	}
	b.SetBytes(int64(len(p.Payload)))
	b.ReportAllocs()
	i := batch
	for b.Loop() {
		if i == batch {
			b.StopTimer()
			for j := range dgs {
				dgs[j] = dgs[j][:cap(dgs[j])]
			}
			seal()
			i = 0
			b.StartTimer()
		}
		tr.receive(dgs[i], netipZero)
		i++
	}
	if delivered == 0 {
		b.Fatal("nothing delivered")
	}
}

// BenchmarkSendCPU is Send without the UDP write (the peer has no
// address): framing, cache, FEC bookkeeping and sealing only.
func BenchmarkSendCPU(b *testing.B) { benchSendCPU(b, 0) }

// BenchmarkSendCPUFEC adds 3 parity packets per 10 (encoding and sealing
// them).
func BenchmarkSendCPUFEC(b *testing.B) { benchSendCPU(b, 3) }

func benchSendCPU(b *testing.B, parity int) {
	tr := listen(b, "a", newSink(), nil)
	tr.SetPeer("b", netip.AddrPort{})
	pe := (*tr.peers.Load())["b"]
	pe.sendMu.Lock()
	pe.fecTx.m = parity
	pe.sendMu.Unlock()
	p := media(1, "b", "c")
	b.SetBytes(int64(len(p.Payload)))
	b.ReportAllocs()
	for b.Loop() {
		if err := tr.Send("b", p); !errors.Is(err, ErrUnknownPeer) {
			b.Fatal(err)
		}
	}
}
