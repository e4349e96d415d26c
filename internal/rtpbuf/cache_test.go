package rtpbuf

import (
	"bytes"
	"testing"

	"github.com/pion/rtcp"
)

func TestCacheStoreGet(t *testing.T) {
	c := NewCache(100)
	if c.Size() != 128 {
		t.Fatalf("size %d, want 128", c.Size())
	}
	buf := make([]byte, SlotSize)
	for i := 0; i < 300; i++ {
		seq := uint16(65500 + i) // wraps
		if err := c.Store(seq, []byte{byte(i), byte(i >> 8)}); err != nil {
			t.Fatal(err)
		}
	}
	// The last 128 are there, older ones are gone.
	for i := 0; i < 300; i++ {
		seq := uint16(65500 + i)
		n, ok := c.Get(seq, buf)
		if want := i >= 300-128; ok != want {
			t.Fatalf("seq %d: ok=%v want %v", seq, ok, want)
		}
		if ok && !bytes.Equal(buf[:n], []byte{byte(i), byte(i >> 8)}) {
			t.Fatalf("seq %d: wrong data %v", seq, buf[:n])
		}
	}
	base := uint16(65500)
	last := base + 299
	if err := c.Store(1, make([]byte, SlotSize+1)); err == nil {
		t.Fatal("oversized packet stored")
	}
	if _, ok := c.Get(last, make([]byte, 1)); ok {
		t.Fatal("Get into a too small buffer succeeded")
	}
	c.Reset()
	if _, ok := c.Get(last, buf); ok {
		t.Fatal("Get after Reset succeeded")
	}
}

func TestCacheNoAllocs(t *testing.T) {
	c := NewCache(512)
	pkt := make([]byte, 1100)
	dst := make([]byte, SlotSize)
	var seq uint16
	allocs := testing.AllocsPerRun(1000, func() {
		seq++
		_ = c.Store(seq, pkt)
		_, _ = c.Get(seq-5, dst)
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per store+get, want 0", allocs)
	}
}

func TestSeqUnwrap(t *testing.T) {
	var u SeqUnwrapper
	first := u.Unwrap(65534)
	if got := u.Unwrap(65535); got != first+1 {
		t.Fatalf("got %d want %d", got, first+1)
	}
	if got := u.Unwrap(1); got != first+3 {
		t.Fatalf("wrap: got %d want %d", got, first+3)
	}
	if got := u.Unwrap(65533); got != first-1 {
		t.Fatalf("late packet: got %d want %d", got, first-1)
	}
	if u.Highest() != first+3 {
		t.Fatalf("highest %d", u.Highest())
	}
}

func TestTSUnwrap(t *testing.T) {
	var u TSUnwrapper
	first := u.Unwrap(0xFFFFFF00)
	if got := u.Unwrap(0x100); got != first+0x200 {
		t.Fatalf("wrap: got %x want %x", got, first+0x200)
	}
	if got := u.Unwrap(0xFFFFFE00); got != first-0x100 {
		t.Fatalf("late: got %x want %x", got, first-0x100)
	}
}

func TestForEachNACK(t *testing.T) {
	var got []uint16
	ForEachNACK([]rtcp.NackPair{{PacketID: 65535, LostPackets: 0b101}}, func(s uint16) { got = append(got, s) })
	want := []uint16{65535, 0, 2}
	if len(got) != len(want) {
		t.Fatalf("got %v want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v want %v", got, want)
		}
	}
}

func FuzzCache(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5}, uint16(7))
	f.Add([]byte{}, uint16(65535))
	f.Fuzz(func(t *testing.T, data []byte, start uint16) {
		c := NewCache(16)
		var u SeqUnwrapper
		dst := make([]byte, SlotSize)
		for i := 0; i+2 <= len(data); i += 2 {
			seq := start + uint16(data[i])<<8 | uint16(data[i+1])
			u.Unwrap(seq)
			_ = c.Store(seq, data[i:])
			n, ok := c.Get(seq, dst)
			if len(data[i:]) <= SlotSize && (!ok || !bytes.Equal(dst[:n], data[i:])) {
				t.Fatalf("stored packet %d not returned", seq)
			}
		}
	})
}

func TestCacheArrivalTime(t *testing.T) {
	c := NewCache(16)
	if err := c.StoreAt(7, []byte{1, 2, 3}, 1234); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, SlotSize)
	n, at, ok := c.GetAt(7, buf)
	if !ok || n != 3 || at != 1234 {
		t.Fatalf("GetAt = %d, %d, %v; want 3, 1234, true", n, at, ok)
	}
	if at, ok := c.At(7); !ok || at != 1234 {
		t.Fatalf("At = %d, %v", at, ok)
	}
	if _, ok := c.At(8); ok {
		t.Fatal("At of a packet never stored")
	}
	_ = c.StoreAt(7+16, []byte{9}, 99) // same slot, newer packet
	if _, ok := c.At(7); ok {
		t.Fatal("At of an overwritten packet")
	}
}

// CountNACKed agrees with ForEachNACK.
func TestCountNACKed(t *testing.T) {
	pairs := []rtcp.NackPair{{PacketID: 65535, LostPackets: 0b101}, {PacketID: 10, LostPackets: 0xffff}, {PacketID: 40}}
	listed := 0
	ForEachNACK(pairs, func(uint16) { listed++ })
	if got := CountNACKed(pairs); got != listed || got != 3+17+1 {
		t.Fatalf("CountNACKed %d, ForEachNACK listed %d, want 21", got, listed)
	}
}
