package relay

import (
	"encoding/binary"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/netsim"
)

// BenchmarkRecovery measures what NACK and FEC each recover on a link
// with random loss and 10 ms of one-way delay, and the latency a
// recovered packet carries beyond the link's own. Each run sends a
// warm-up (so FEC has measured the loss), then 4000 numbered packets at 2
// a millisecond. Run it on purpose:
//
//	go test -run XXX -bench Recovery -benchtime 1x ./internal/relay
func BenchmarkRecovery(b *testing.B) {
	for _, loss := range []float64{0.01, 0.05, 0.20} {
		for _, mode := range []string{"nack", "fec", "fec+nack"} {
			b.Run(fmt.Sprintf("loss=%.0f%%/%s", loss*100, mode), func(b *testing.B) {
				for b.Loop() {
					recoveryRun(b, loss, mode)
				}
			})
		}
	}
}

func recoveryRun(b *testing.B, loss float64, mode string) {
	const (
		n      = 4000
		warmup = 1500
		delay  = 10 * time.Millisecond
	)
	sb := newSink()
	a := listen(b, "a", newSink(), func(c *Config) {
		c.ProbeInterval = 100 * time.Millisecond
		if mode == "nack" {
			c.FEC = FECOff
		}
	})
	bt := listen(b, "b", sb, func(c *Config) { c.noNACK = mode == "fec" })
	px := impaired(b, a, bt, netsim.Options{Loss: loss, Delay: delay, Seed: 21})
	waitUp(b, a, bt)
	// Warm up: the loss estimate (and so the parity) settles.
	sendPacedFrom(b, a, 1<<30, warmup, 2, nil)
	if mode != "nack" {
		poll(3*time.Second, func() bool { return link1(a, "b").FECParity > 0 })
	}
	sent := make([]time.Time, n)
	before, ab0, ba0 := px.Stats(), link1(a, "b"), link1(bt, "a")
	sendPacedFrom(b, a, 0, n, 2, sent)
	poll(5*time.Second, func() bool { return countBelow(sb, n) == n })
	after, ab, ba := px.Stats(), link1(a, "b"), link1(bt, "a")

	sb.mu.Lock()
	var base, byNACK, byFEC []time.Duration
	for i := range uint32(n) {
		at, ok := sb.first[i]
		if !ok {
			continue
		}
		d := at.Sub(sent[i])
		switch sb.via[i] {
		case viaRTX:
			byNACK = append(byNACK, d)
		case viaFEC:
			byFEC = append(byFEC, d)
		default:
			base = append(base, d)
		}
	}
	sb.mu.Unlock()
	slices.Sort(base)
	median := base[len(base)/2]
	delivered := len(base) + len(byNACK) + len(byFEC)
	pct := func(k int) float64 { return 100 * float64(k) / n }
	b.ReportMetric(pct(len(base)), "%first")
	b.ReportMetric(pct(len(byNACK)), "%nack")
	b.ReportMetric(pct(len(byFEC)), "%fec")
	b.ReportMetric(pct(delivered), "%delivered")
	b.ReportMetric(100*float64(ab.FECSent-ab0.FECSent)/n, "%parity")
	b.ReportMetric(100*float64(ab.Retransmits-ab0.Retransmits)/n, "%rtx")
	added := func(ds []time.Duration, q float64) float64 {
		if len(ds) == 0 {
			return 0
		}
		slices.Sort(ds)
		return float64(ds[int(q*float64(len(ds)-1))]-median) / 1e6
	}
	b.ReportMetric(added(slices.Clone(base), 0.99), "first-p99-ms") // the machine's noise floor
	b.ReportMetric(added(byNACK, 0.5), "nack-p50-ms")
	b.ReportMetric(added(byNACK, 0.99), "nack-p99-ms")
	b.ReportMetric(added(byFEC, 0.5), "fec-p50-ms")
	b.ReportMetric(added(byFEC, 0.99), "fec-p99-ms")
	b.Logf("link dropped %d datagrams; first-try median %v; NACKs %d; lost %d",
		after.DroppedLoss-before.DroppedLoss, median, ba.NACKsSent-ba0.NACKsSent, ba.Lost-ba0.Lost)
}

// countBelow counts the delivered packets numbered below n.
func countBelow(s *sink, n uint32) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := 0
	for k := range s.got {
		if k < n {
			c++
		}
	}
	return c
}

// sendPacedFrom sends n packets numbered from first, perMs a millisecond,
// recording each send time in sent (if not nil).
func sendPacedFrom(tb testing.TB, tr *Transport, first uint32, n, perMs int, sent []time.Time) {
	tk := time.NewTicker(time.Millisecond)
	defer tk.Stop()
	p := media(0, "b")
	for i := 0; i < n; {
		for j := 0; j < perMs && i < n; j++ {
			binary.BigEndian.PutUint32(p.Payload, first+uint32(i))
			if sent != nil {
				sent[i] = time.Now()
			}
			if err := tr.Send("b", p); err != nil {
				tb.Fatal(err)
			}
			i++
		}
		<-tk.C
	}
}
