// Package rtpbuf keeps recent RTP packets of a stream by sequence number
// (to answer NACKs), unwraps 16-bit sequence numbers and 32-bit timestamps
// into monotonic 64-bit counters, and expands NACK feedback into sequence
// numbers. Nothing here allocates per packet: the cache is a ring of
// preallocated slots.
package rtpbuf

import (
	"math/bits"
	"sync"

	"github.com/pion/rtcp"
)

// SlotSize is the largest packet a cache slot holds.
const SlotSize = 1500

// Cache holds the last Size packets of one stream, indexed by sequence
// number. It is safe for one writer and any number of readers.
type Cache struct {
	mu    sync.Mutex
	slots []slot // allocated by the first Store
	size  int
	mask  uint16
}

type slot struct {
	seq   uint16
	n     int
	valid bool
	at    int64 // when it was stored, as the caller counts time (StoreAt)
	buf   [SlotSize]byte
}

// NewCache returns a cache of size packets, rounded up to a power of two
// between 16 and 32768.
func NewCache(size int) *Cache {
	n := 16
	for n < size && n < 1<<15 {
		n <<= 1
	}
	return &Cache{size: n, mask: uint16(n - 1)}
}

// Size is the number of packets the cache holds.
func (c *Cache) Size() int { return c.size }

// Store copies pkt, the packet with sequence number seq, into the cache,
// replacing whatever was stored Size packets earlier.
func (c *Cache) Store(seq uint16, pkt []byte) error { return c.StoreAt(seq, pkt, 0) }

// StoreAt is Store that also records at, the packet's arrival time in the
// caller's unit (GetAt returns it, to judge a packet's age).
func (c *Cache) StoreAt(seq uint16, pkt []byte, at int64) error {
	if len(pkt) > SlotSize {
		return ErrTooLarge
	}
	c.mu.Lock()
	if c.slots == nil {
		c.slots = make([]slot, c.size) // a stream that never sends costs nothing
	}
	s := &c.slots[seq&c.mask]
	s.seq, s.n, s.valid, s.at = seq, copy(s.buf[:], pkt), true, at
	c.mu.Unlock()
	return nil
}

// Get copies the packet with sequence number seq into dst and returns its
// length; ok is false when the packet is not (or no longer) cached or dst
// is too small.
func (c *Cache) Get(seq uint16, dst []byte) (n int, ok bool) {
	n, _, ok = c.GetAt(seq, dst)
	return n, ok
}

// At returns the arrival time StoreAt recorded for seq; ok is false when
// seq is not cached. It copies nothing.
func (c *Cache) At(seq uint16) (at int64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.slots == nil {
		return 0, false
	}
	s := &c.slots[seq&c.mask]
	if !s.valid || s.seq != seq {
		return 0, false
	}
	return s.at, true
}

// GetAt is Get that also returns the arrival time StoreAt recorded.
func (c *Cache) GetAt(seq uint16, dst []byte) (n int, at int64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.slots == nil {
		return 0, 0, false
	}
	s := &c.slots[seq&c.mask]
	if !s.valid || s.seq != seq || len(dst) < s.n {
		return 0, 0, false
	}
	return copy(dst, s.buf[:s.n]), s.at, true
}

// Reset forgets every packet.
func (c *Cache) Reset() {
	c.mu.Lock()
	for i := range c.slots {
		c.slots[i].valid = false
	}
	c.mu.Unlock()
}

// ForEachNACK calls fn with every sequence number a NACK lists, in order.
func ForEachNACK(pairs []rtcp.NackPair, fn func(seq uint16)) {
	for _, p := range pairs {
		fn(p.PacketID)
		for i := uint16(0); i < 16; i++ {
			if p.LostPackets&(1<<i) != 0 {
				fn(p.PacketID + i + 1)
			}
		}
	}
}

// CountNACKed is how many packets pairs ask for.
func CountNACKed(pairs []rtcp.NackPair) int {
	n := 0
	for _, p := range pairs {
		n += 1 + bits.OnesCount16(uint16(p.LostPackets))
	}
	return n
}
