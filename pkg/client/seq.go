package client

// seqWindow is how many recent sequence numbers a tracker remembers to
// tell a retransmitted or duplicated packet from a new one.
const seqWindow = 4096

// seqTracker counts unique, duplicate and missing packets of one stream of
// extended (unwrapped) sequence numbers, the way an RTCP receiver report
// does: missing = highest - first + 1 - unique. A packet recovered by NACK
// fills its hole. Not safe for concurrent use.
type seqTracker struct {
	started bool
	first   uint64
	highest uint64
	unique  uint64
	dups    uint64
	seen    [seqWindow / 64]uint64
}

// unwrap16 extends a 16-bit sequence number relative to the tracker's
// highest one.
func (s *seqTracker) unwrap16(v uint16) uint64 {
	if !s.started {
		return 1<<32 + uint64(v)
	}
	return uint64(int64(s.highest) + int64(int16(v-uint16(s.highest))))
}

// unwrap32 extends a 32-bit counter the same way.
func (s *seqTracker) unwrap32(v uint32) uint64 {
	if !s.started {
		return 1<<40 + uint64(v)
	}
	return uint64(int64(s.highest) + int64(int32(v-uint32(s.highest))))
}

func (s *seqTracker) bit(ext uint64) (word int, mask uint64) {
	i := ext % seqWindow
	return int(i / 64), 1 << (i % 64)
}

// push records ext and reports whether it was new (not a duplicate).
func (s *seqTracker) push(ext uint64) bool {
	if !s.started {
		s.started, s.first, s.highest, s.unique = true, ext, ext, 1
		w, m := s.bit(ext)
		s.seen[w] |= m
		return true
	}
	switch {
	case ext > s.highest:
		if ext-s.highest >= seqWindow {
			s.seen = [seqWindow / 64]uint64{}
		} else {
			for e := s.highest + 1; e <= ext; e++ {
				w, m := s.bit(e)
				s.seen[w] &^= m
			}
		}
		s.highest = ext
	case s.highest-ext >= seqWindow:
		// Too old to tell; count it as new.
		if ext < s.first {
			s.first = ext
		}
		s.unique++
		return true
	}
	if ext < s.first {
		s.first = ext
	}
	w, m := s.bit(ext)
	if s.seen[w]&m != 0 {
		s.dups++
		return false
	}
	s.seen[w] |= m
	s.unique++
	return true
}

// missing is the number of sequence numbers between the first and the
// highest that never arrived.
func (s *seqTracker) missing() uint64 {
	if !s.started {
		return 0
	}
	expected := s.highest - s.first + 1
	if s.unique >= expected {
		return 0
	}
	return expected - s.unique
}
