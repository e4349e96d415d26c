package sfu

import (
	"maps"
	"slices"
	"time"

	"github.com/pion/rtcp"
)

// senderReportInterval is how often the node sends each subscriber an
// RTCP sender report per down track. Browsers need them to synchronize
// audio with video.
const senderReportInterval = time.Second

// ntpEpochOffset is the seconds from 1900 (NTP) to 1970 (Unix).
const ntpEpochOffset = 2208988800

// ntpTime is t as a 64-bit NTP timestamp (32.32 fixed point).
func ntpTime(t time.Time) uint64 {
	ns := uint64(t.UnixNano())
	secs := ns/1e9 + ntpEpochOffset
	frac := (ns % 1e9) << 32 / 1e9
	return secs<<32 | frac
}

// senderReport describes what d has sent, at now: its RTP clock (the last
// packet's timestamp advanced by the time since it was forwarded) and its
// packet and payload byte counts. False when d has sent nothing yet.
//
// The node writes these itself instead of using Pion's sender report
// interceptor, which takes a lock and reads the clock for every packet to
// every subscriber.
func (d *downTrack) senderReport(now time.Time) (rtcp.SenderReport, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.hasOut || d.writer == nil || d.src == nil || d.src.clockRate == 0 {
		return rtcp.SenderReport{}, false
	}
	elapsed := max(now.Sub(d.lastAt), 0)
	return rtcp.SenderReport{
		SSRC:        d.ssrc,
		NTPTime:     ntpTime(now),
		RTPTime:     d.lastTS + uint32(elapsed.Seconds()*float64(d.src.clockRate)),
		PacketCount: uint32(d.sentPackets + d.resent.Load()),
		OctetCount:  uint32(d.octets + d.resentOctets.Load()),
	}, true
}

// sendReports sends one compound RTCP packet with a sender report for
// each down track that has sent something. It runs on the node's tick,
// which must not wait: a session busy negotiating (s.mu is held while its
// answer is built) gets its reports on the next round.
func (s *session) sendReports(now time.Time) {
	if !s.mu.TryLock() {
		return
	}
	pc, closed := s.pc, s.closed
	downs := slices.Collect(maps.Values(s.downs))
	s.mu.Unlock()
	if pc == nil || closed || len(downs) == 0 {
		return
	}
	var pkts []rtcp.Packet
	for _, d := range downs {
		if sr, ok := d.senderReport(now); ok {
			pkts = append(pkts, &sr)
		}
	}
	if len(pkts) > 0 {
		_ = pc.WriteRTCP(pkts) // a closing connection refuses; nothing to do
	}
}
