package sip

// dtmfDigits are RFC 4733 events 0-15 as keys.
const dtmfDigits = "0123456789*#ABCD"

// dtmfReader turns telephone-event RTP payloads into key presses: one
// per event (its packets share an RTP timestamp; the end packet is sent
// three times).
type dtmfReader struct {
	lastTS  uint32
	started bool
}

// key returns the key of a payload that starts a new event.
func (d *dtmfReader) key(ts uint32, payload []byte) (byte, bool) {
	if len(payload) < 4 || payload[0] > 15 {
		return 0, false
	}
	if d.started && ts == d.lastTS {
		return 0, false
	}
	d.started, d.lastTS = true, ts
	return dtmfDigits[payload[0]], true
}

// dtmfPayload builds an RFC 4733 payload (for tests and outbound keys).
func dtmfPayload(key byte, end bool, duration uint16) []byte {
	ev := byte(0)
	for i := 0; i < len(dtmfDigits); i++ {
		if dtmfDigits[i] == key {
			ev = byte(i)
		}
	}
	flags := byte(10) // volume -10 dBm0
	if end {
		flags |= 0x80
	}
	return []byte{ev, flags, byte(duration >> 8), byte(duration)}
}
