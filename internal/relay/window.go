package relay

import (
	"encoding/binary"
	"math"
)

// dataWindow tracks the link sequence numbers of received media/feedback
// packets: duplicates, gaps to NACK, and the loss seen before recovery.
// Guarded by peer.recvMu.
type dataWindow struct {
	started bool
	highest int64 // unwrapped
	slots   [winSize]winSlot
	missing int // slots awaiting a packet
	// fecActive: the last packet belonged to a FEC group, so the first
	// NACK waits for the group's parity.
	fecActive bool

	// Loss accounting since the last sample.
	sampleBase int64 // highest at the last sample
	originals  int   // first arrivals of original packets
	probeSeen  bool
	probeHigh  uint32
	probeBase  uint32
	probesGot  int
}

const winSize = 1024

type winSlot struct {
	seq         int64
	set, got    bool
	nacks       uint8
	since, last int64 // transport clock: noticed missing, last NACKed
}

// arrival is what the window makes of a packet.
type arrival uint8

const (
	arriveNew       arrival = iota // deliver
	arriveRecovered                // deliver; it filled a gap
	arriveDuplicate                // drop
	arriveStale                    // drop: older than the window
)

// unwrap extends a 32-bit link sequence number near the highest seen.
func (w *dataWindow) unwrap(seq uint32) int64 {
	if !w.started {
		return int64(seq)
	}
	return w.highest + int64(int32(seq-uint32(w.highest)))
}

// expedite makes the missing packets in [lo, hi] due for a NACK at once
// (their FEC group is complete and could not rebuild them).
func (w *dataWindow) expedite(lo, hi int64) {
	for x := max(lo, w.highest-winSize+1, 0); x <= hi && x <= w.highest; x++ {
		if sl := &w.slots[x%winSize]; sl.set && !sl.got && sl.seq == x && sl.nacks == 0 {
			sl.since = math.MinInt64 / 2
		}
	}
}

// arrive records packet s; original is false for retransmissions and FEC
// rebuilds. It returns the packets given up on (gaps pushed out of the
// window) with the verdict.
func (w *dataWindow) arrive(s int64, original bool, now int64) (arrival, int) {
	if !w.started {
		w.started, w.highest, w.sampleBase = true, s, s-1
		w.mark(s, true, now)
		w.count(original)
		return arriveNew, 0
	}
	if s > w.highest {
		lost := w.advance(s-1, now)
		w.highest = s
		lost += w.mark(s, true, now)
		w.count(original)
		return arriveNew, lost
	}
	if w.highest-s >= winSize {
		return arriveStale, 0
	}
	sl := &w.slots[s%winSize]
	if !sl.set || sl.seq != s {
		return arriveStale, 0
	}
	if sl.got {
		return arriveDuplicate, 0
	}
	sl.got = true
	w.missing--
	w.count(original)
	return arriveRecovered, 0
}

func (w *dataWindow) count(original bool) {
	if original {
		w.originals++
	}
}

// advance marks every packet after highest up to s as missing (the tail
// a probe reveals, or a gap) and moves highest to s.
func (w *dataWindow) advance(s int64, now int64) (lost int) {
	if !w.started || s <= w.highest {
		return 0
	}
	for x := max(w.highest+1, s-winSize+1); x <= s; x++ {
		lost += w.mark(x, false, now)
	}
	w.highest = s
	return lost
}

// mark sets slot x; it returns 1 if a packet still missing was pushed out.
func (w *dataWindow) mark(x int64, got bool, now int64) int {
	sl := &w.slots[x%winSize]
	lost := 0
	if sl.set && !sl.got && sl.seq != x {
		lost = 1
		w.missing--
	}
	*sl = winSlot{seq: x, set: true, got: got, since: now}
	if !got {
		w.missing++
	}
	return lost
}

// nack fills b with a NACK of the packets missing for at least delay and
// not asked for within retry, up to maxTries each; it returns the inner
// length (0: nothing to ask) and the number of packets asked for.
func (w *dataWindow) nack(b []byte, now, delay, retry int64, maxTries uint8) (int, int) {
	if w.missing == 0 {
		return 0, 0
	}
	b[0], b[1] = byte(TypeNACK), 0
	entries, asked := 0, 0
	var base int64 = -1
	var mask uint16
	flush := func() {
		e := b[nackHead+entries*nackEntrySize:]
		binary.BigEndian.PutUint32(e, uint32(base))
		binary.BigEndian.PutUint16(e[4:], mask)
		entries++
	}
	for x := max(0, w.highest-winSize+1); x <= w.highest && entries < maxNACKEntries; x++ {
		sl := &w.slots[x%winSize]
		if !sl.set || sl.got || sl.seq != x || sl.nacks >= maxTries ||
			now-sl.since < delay || (sl.nacks > 0 && now-sl.last < retry) {
			continue
		}
		sl.nacks++
		sl.last = now
		asked++
		if base >= 0 && x-base <= 16 {
			mask |= 1 << (x - base - 1)
			continue
		}
		if base >= 0 {
			flush()
			if entries == maxNACKEntries {
				break
			}
		}
		base, mask = x, 0
	}
	if base >= 0 && entries < maxNACKEntries {
		flush()
	}
	if entries == 0 {
		return 0, 0
	}
	binary.BigEndian.PutUint16(b[2:], uint16(entries))
	return nackHead + entries*nackEntrySize, asked
}

// probe counts a received probe for the loss measurement.
func (w *dataWindow) probe(id uint32) {
	if !w.probeSeen {
		w.probeSeen, w.probeHigh, w.probeBase = true, id, id-1
	} else if int32(id-w.probeHigh) > 0 {
		w.probeHigh = id
	}
	w.probesGot++
}

// lossSample returns the fraction of packets lost since the last sample
// (before recovery) and how many were expected; it starts a new sample.
func (w *dataWindow) lossSample() (float64, int) {
	expected := 0
	if w.started {
		expected += int(w.highest - w.sampleBase)
		w.sampleBase = w.highest
	}
	if w.probeSeen {
		expected += int(w.probeHigh - w.probeBase)
		w.probeBase = w.probeHigh
	}
	got := w.originals + w.probesGot
	w.originals, w.probesGot = 0, 0
	if expected <= 0 {
		return 0, 0
	}
	return min(1, max(0, 1-float64(got)/float64(expected))), expected
}
