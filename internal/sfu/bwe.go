package sfu

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/pion/rtcp"
)

// Feedback is what a subscriber's RTCP says about the packets the node sent
// it: counts of packets received and lost (from TWCC feedback or receiver
// reports) and the receiver's own estimate (REMB), 0 when absent.
type Feedback struct {
	Received int
	Lost     int
	REMB     uint64
	At       time.Time
}

// Estimator turns feedback into a bandwidth estimate in bits per second.
type Estimator interface {
	Update(fb Feedback) uint64
}

// lossEstimator is a loss-based controller in the spirit of GCC's loss
// part: grow 8% per interval while loss is under 2%, hold between 2 and 10%,
// cut by half the loss ratio above 10%; never above a REMB the receiver
// sent, never outside [min, max].
//
// Growth is what probes for more bandwidth: a higher estimate selects a
// higher layer, and loss on it cuts the estimate back. So that a link
// that cannot carry the next layer does not flip to it and back every
// second, the estimate does not grow for a hold time after a cut. A cut
// within the same congestion episode (while holding) restarts the hold;
// a cut after the hold ended, a failed probe, doubles it (up to
// holdMax); a cut after calm loss-free time starts again at holdMin.
type lossEstimator struct {
	est, min, max uint64
	interval      time.Duration
	last          time.Time
	received      int
	lost          int
	remb          uint64

	holdMin, holdMax, calm time.Duration
	hold                   time.Duration // current hold, 0 before any cut
	holdUntil, lastCut     time.Time
}

func newLossEstimator(start, lo, hi uint64) *lossEstimator {
	return &lossEstimator{est: start, min: lo, max: hi, interval: 200 * time.Millisecond,
		holdMin: 5 * time.Second, holdMax: 40 * time.Second, calm: 80 * time.Second}
}

// cut lowers the estimate for loss (a ratio above 0.10) at now and
// starts or extends the hold.
func (e *lossEstimator) cut(loss float64, now time.Time) {
	e.est = uint64(float64(e.est) * (1 - 0.5*loss))
	switch {
	case now.Before(e.holdUntil): // same episode
	case e.hold == 0 || now.Sub(e.lastCut) > e.calm:
		e.hold = e.holdMin
	default: // a failed probe
		e.hold = min(2*e.hold, e.holdMax)
	}
	e.holdUntil, e.lastCut = now.Add(e.hold), now
}

func (e *lossEstimator) Update(fb Feedback) uint64 {
	e.received += fb.Received
	e.lost += fb.Lost
	if fb.REMB > 0 {
		e.remb = fb.REMB
	}
	if e.last.IsZero() {
		e.last = fb.At
	}
	if fb.At.Sub(e.last) < e.interval || e.received+e.lost == 0 {
		return e.est
	}
	loss := float64(e.lost) / float64(e.received+e.lost)
	switch {
	case loss < 0.02 && !fb.At.Before(e.holdUntil):
		e.est = uint64(float64(e.est) * 1.08)
	case loss > 0.10:
		e.cut(loss, fb.At)
	}
	if e.remb > 0 && e.est > e.remb {
		e.est = e.remb
	}
	e.est = max(e.min, min(e.est, e.max))
	e.last, e.received, e.lost = fb.At, 0, 0
	return e.est
}

// bandwidth feeds one subscriber's RTCP into an Estimator; it is safe for
// concurrent use.
type bandwidth struct {
	mu   sync.Mutex
	est  Estimator
	cur  uint64
	twcc bool // TWCC feedback seen: receiver reports no longer count
}

func newBandwidth() *bandwidth {
	const start, lo, hi = 1_500_000, 100_000, 50_000_000
	return &bandwidth{est: newLossEstimator(start, lo, hi), cur: start}
}

func (b *bandwidth) estimate() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cur
}

// onRTCP extracts feedback from one RTCP packet of the subscriber other
// than TWCC feedback (onTWCC): REMB and receiver reports. Loss comes from
// TWCC feedback when the subscriber sends it, else from receiver reports:
// mixing both would weigh each report as 256 packets against the few TWCC
// counts of an interval, and a report's fraction lost shrinks as
// retransmissions fill the gaps.
func (b *bandwidth) onRTCP(p rtcp.Packet, now time.Time) {
	fb := Feedback{At: now}
	isRR := false
	switch p := p.(type) {
	case *rtcp.ReceiverEstimatedMaximumBitrate:
		fb.REMB = uint64(p.Bitrate)
	case *rtcp.ReceiverReport:
		isRR = true
		for _, r := range p.Reports {
			// FractionLost is out of 256; scale to a nominal 256 packets.
			fb.Lost += int(r.FractionLost)
			fb.Received += 256 - int(r.FractionLost)
		}
	default:
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if isRR && b.twcc {
		return
	}
	b.cur = b.est.Update(fb)
}

// onTWCC takes the counts of one TWCC feedback (twccCounts).
func (b *bandwidth) onTWCC(received, lost int, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.twcc = true
	b.cur = b.est.Update(Feedback{At: now, Received: received, Lost: lost})
}

// twccCounts counts the packets a transport-wide congestion control
// feedback (RTPFB, FMT 15) reports received and lost, straight from its
// bytes: subscribers send one for every few packets, so it is read
// without allocating (Pion's parser allocates per packet reported). ok is
// false when b is not such a packet or is cut short.
func twccCounts(b []byte) (received, lost int, ok bool) {
	// RTCP header, sender SSRC, media SSRC, base sequence number, packet
	// status count, reference time and feedback packet count.
	const header = 20
	if len(b) < header || b[0]>>6 != 2 || b[0]&0x1f != 15 || b[1] != rtcpRTPFB {
		return 0, 0, false
	}
	count := int(binary.BigEndian.Uint16(b[14:16]))
	for off := header; count > 0; off += 2 {
		if off+2 > len(b) {
			return 0, 0, false
		}
		c := binary.BigEndian.Uint16(b[off:])
		switch {
		case c&0x8000 == 0: // run length: a 2-bit symbol repeated
			n := min(int(c&0x1fff), count)
			if c>>13&3 == 0 {
				lost += n
			} else {
				received += n
			}
			count -= n
		case c&0x4000 == 0: // status vector of 14 one-bit symbols
			for i := 13; i >= 0 && count > 0; i-- {
				if c>>i&1 == 0 {
					lost++
				} else {
					received++
				}
				count--
			}
		default: // status vector of 7 two-bit symbols
			for i := 12; i >= 0 && count > 0; i -= 2 {
				if c>>i&3 == 0 {
					lost++
				} else {
					received++
				}
				count--
			}
		}
	}
	return received, lost, true
}
