package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// feed gives e one feedback per 200 ms from start for d, all with the
// same counts, and returns the last estimate.
func feed(e *lossEstimator, start time.Time, d time.Duration, received, lost int) uint64 {
	var est uint64
	for at := start; at.Before(start.Add(d)); at = at.Add(200 * time.Millisecond) {
		est = e.Update(Feedback{Received: received, Lost: lost, At: at})
	}
	return est
}

// After a cut the estimate holds for holdMin, then grows again; a cut
// right after the hold (a failed probe) doubles the hold; a cut after a
// calm period starts again at holdMin.
func TestLossEstimatorHold(t *testing.T) {
	e := newLossEstimator(1_000_000, 100_000, 10_000_000)
	t0 := time.Unix(0, 0)
	feed(e, t0, time.Second, 100, 0)
	cut := feed(e, t0.Add(time.Second), 400*time.Millisecond, 50, 50)
	if e.hold != e.holdMin {
		t.Fatalf("hold %v after the first cut, want %v", e.hold, e.holdMin)
	}
	t1 := t0.Add(1400 * time.Millisecond)
	if est := feed(e, t1, e.holdMin-300*time.Millisecond, 100, 0); est != cut {
		t.Fatalf("estimate %d during the hold, want %d", est, cut)
	}
	t2 := e.lastCut.Add(e.holdMin)
	grown := feed(e, t2, time.Second, 100, 0)
	if grown <= cut {
		t.Fatalf("estimate %d after the hold, want growth from %d", grown, cut)
	}
	feed(e, t2.Add(time.Second), 200*time.Millisecond, 50, 50) // the probe fails
	if e.hold != 2*e.holdMin {
		t.Fatalf("hold %v after a failed probe, want %v", e.hold, 2*e.holdMin)
	}
	for range 10 {
		feed(e, e.holdUntil, 200*time.Millisecond, 50, 50)
	}
	if e.hold != e.holdMax {
		t.Fatalf("hold %v after many failed probes, want the cap %v", e.hold, e.holdMax)
	}
	feed(e, e.lastCut.Add(e.calm+time.Second), 200*time.Millisecond, 50, 50)
	if e.hold != e.holdMin {
		t.Fatalf("hold %v after a calm period, want %v", e.hold, e.holdMin)
	}
}

// Receiver reports count only until the first TWCC feedback.
func TestBandwidthPrefersTWCC(t *testing.T) {
	b := newBandwidth()
	t0 := time.Unix(0, 0)
	lossy := &rtcp.ReceiverReport{Reports: []rtcp.ReceptionReport{{FractionLost: 128}}}
	b.onRTCP(lossy, t0)
	b.onRTCP(lossy, t0.Add(time.Second))
	afterRR := b.estimate()
	if afterRR >= 1_500_000 {
		t.Fatalf("50%% loss in receiver reports: estimate %d, want a cut", afterRR)
	}
	at := t0.Add(2 * time.Second)
	b.onTWCC(10, 0, at)
	for i := range 5 {
		b.onRTCP(lossy, at.Add(time.Duration(i+1)*time.Second))
	}
	if got := b.estimate(); got < afterRR {
		t.Fatalf("receiver reports after TWCC feedback cut the estimate to %d (was %d)", got, afterRR)
	}
}
