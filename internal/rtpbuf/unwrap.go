package rtpbuf

// SeqUnwrapper turns 16-bit RTP sequence numbers into a 64-bit counter
// that does not wrap. Packets arriving late (up to half the sequence space
// behind) map below the highest value seen.
type SeqUnwrapper struct {
	started bool
	highest uint64
}

// Unwrap returns the extended sequence number of seq.
func (u *SeqUnwrapper) Unwrap(seq uint16) uint64 {
	if !u.started {
		u.started = true
		u.highest = 1<<16 + uint64(seq) // room below for late packets
		return u.highest
	}
	delta := int64(int16(seq - uint16(u.highest)))
	v := uint64(int64(u.highest) + delta)
	if v > u.highest {
		u.highest = v
	}
	return v
}

// Highest is the largest extended sequence number returned so far.
func (u *SeqUnwrapper) Highest() uint64 { return u.highest }

// TSUnwrapper turns 32-bit RTP timestamps into a 64-bit counter.
type TSUnwrapper struct {
	started bool
	highest uint64
}

// Unwrap returns the extended timestamp of ts.
func (u *TSUnwrapper) Unwrap(ts uint32) uint64 {
	if !u.started {
		u.started = true
		u.highest = 1<<32 + uint64(ts)
		return u.highest
	}
	delta := int64(int32(ts - uint32(u.highest)))
	v := uint64(int64(u.highest) + delta)
	if v > u.highest {
		u.highest = v
	}
	return v
}
