package icemux

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"golang.org/x/net/ipv4"
)

// batchSize is the most packets one sendmmsg carries.
const batchSize = 64

// batchConn is the UDP socket as Pion's UDP mux sees it. Outside a batch
// every write is one sendto. Between BeginBatch and EndBatch (one fan-out
// of a packet to its subscribers), writes are copied into preallocated
// slots and sent with one sendmmsg when the last open batch ends or the
// slots are full: the syscall cost is paid once per batch instead of once
// per packet. Writes of other goroutines that come while a batch is open
// join it; they wait at most one fan-out.
type batchConn struct {
	*net.UDPConn
	pc *ipv4.PacketConn

	mu    sync.Mutex
	open  int // batches in progress
	n     int // queued packets
	msgs  []ipv4.Message
	bufs  [batchSize][1500]byte
	addrs [batchSize]net.UDPAddr
	ips   [batchSize][16]byte

	batches, packets, errors atomic.Uint64
}

func newBatchConn(c *net.UDPConn) *batchConn {
	b := &batchConn{UDPConn: c, pc: ipv4.NewPacketConn(c), msgs: make([]ipv4.Message, batchSize)}
	for i := range b.msgs {
		b.msgs[i].Buffers = [][]byte{nil}
		b.msgs[i].Addr = &b.addrs[i]
	}
	return b
}

// ReadFromAddrPort and WriteToAddrPort make Pion use the allocation-free
// netip paths (ice.AddrPortReaderWriter).
func (b *batchConn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	return b.UDPConn.ReadFromUDPAddrPort(p)
}

func (b *batchConn) WriteToAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	b.mu.Lock()
	if b.open == 0 || len(p) > len(b.bufs[0]) {
		b.mu.Unlock()
		return b.UDPConn.WriteToUDPAddrPort(p, addr)
	}
	i := b.n
	b.msgs[i].Buffers[0] = b.bufs[i][:copy(b.bufs[i][:], p)]
	a := &b.addrs[i]
	ip := addr.Addr().Unmap()
	a.Port = int(addr.Port())
	if ip.Is4() {
		v4 := ip.As4()
		a.IP = b.ips[i][:copy(b.ips[i][:], v4[:])]
	} else {
		v6 := ip.As16()
		a.IP = b.ips[i][:copy(b.ips[i][:], v6[:])]
	}
	b.n++
	if b.n == batchSize {
		b.flush()
	}
	b.mu.Unlock()
	return len(p), nil
}

// WriteTo is the net.PacketConn write Pion uses for addresses that are not
// netip (rare); it bypasses batching.
func (b *batchConn) WriteTo(p []byte, addr net.Addr) (int, error) { return b.UDPConn.WriteTo(p, addr) }

// BeginBatch opens a batch; every BeginBatch needs one EndBatch.
func (b *batchConn) BeginBatch() {
	b.mu.Lock()
	b.open++
	b.mu.Unlock()
}

// EndBatch closes a batch and sends what is queued when no batch is open
// any more.
func (b *batchConn) EndBatch() {
	b.mu.Lock()
	b.open--
	if b.open == 0 {
		b.flush()
	}
	b.mu.Unlock()
}

// flush sends the queued packets; b.mu is held. A failed packet is
// dropped (counted), as a failed sendto would be.
func (b *batchConn) flush() {
	for sent := 0; sent < b.n; {
		k, err := b.pc.WriteBatch(b.msgs[sent:b.n], 0)
		if err != nil {
			b.errors.Add(1)
			k = max(k, 1) // skip the packet that failed
		}
		sent += k
	}
	if b.n > 0 {
		b.batches.Add(1)
		b.packets.Add(uint64(b.n))
	}
	b.n = 0
}
