package sip

import "testing"

// Encoding then decoding stays within G.711's quantization step.
func TestG711RoundTrip(t *testing.T) {
	for s := -32768; s <= 32767; s += 7 {
		for _, c := range []struct {
			name string
			enc  func(int16) byte
			dec  [256]int16
		}{{"ulaw", ulawEncode, ulawTable}, {"alaw", alawEncode, alawTable}} {
			got := int(c.dec[c.enc(int16(s))])
			tol := 16 + abs(s)/16
			if abs(got-s) > tol {
				t.Fatalf("%s: %d -> %d (tolerance %d)", c.name, s, got, tol)
			}
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
