package transcode

import (
	"encoding/binary"
	"math"
)

// S16 converts little-endian 16-bit PCM bytes to samples.
func S16(b []byte) []int16 {
	out := make([]int16, len(b)/2)
	for i := range out {
		out[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return out
}

// RMS is the root mean square of samples, 0..32768.
func RMS(s []int16) float64 {
	if len(s) == 0 {
		return 0
	}
	var sum float64
	for _, x := range s {
		sum += float64(x) * float64(x)
	}
	return math.Sqrt(sum / float64(len(s)))
}

// PeakFrequency returns the frequency in Hz, scanned in 10 Hz steps from
// 50 Hz to half the sample rate, at which the Goertzel power of samples
// is highest: where a tone's spectrum peaks.
func PeakFrequency(s []int16, rate int) float64 {
	best, bestPow := 0.0, -1.0
	for f := 50.0; f < float64(rate)/2; f += 10 {
		if p := goertzel(s, rate, f); p > bestPow {
			best, bestPow = f, p
		}
	}
	return best
}

func goertzel(s []int16, rate int, f float64) float64 {
	w := 2 * math.Pi * f / float64(rate)
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, x := range s {
		s0 := float64(x) + c*s1 - s2
		s2, s1 = s1, s0
	}
	return s1*s1 + s2*s2 - c*s1*s2
}
