package routing

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time the process used so far. The benchmarks report
// it per operation (cpu-ms/op) beside the wall time, which a loaded
// machine inflates.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

// The simulated internet-scale topology: 200 nodes, 6 regions.
const benchNodes, benchRegions = 200, 6

func BenchmarkPlanFull(b *testing.B) {
	g := Simulated(1, benchNodes, benchRegions)
	start := cpuTime()
	for b.Loop() {
		if _, err := NewPlanner(Options{}).Plan(g); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start)
}

// BenchmarkPlanLinkChange measures a plan after one link's RTT changed,
// with the previous tables kept (the incremental path).
func BenchmarkPlanLinkChange(b *testing.B) {
	g := Simulated(1, benchNodes, benchRegions)
	p := NewPlanner(Options{})
	if _, err := p.Plan(g); err != nil {
		b.Fatal(err)
	}
	i := 0
	start := cpuTime()
	for b.Loop() {
		l := &g.Links[(i*7919)%len(g.Links)]
		l.RTTMs *= 1.5
		if _, err := p.Plan(g); err != nil {
			b.Fatal(err)
		}
		l.RTTMs /= 1.5
		i++
	}
	reportCPU(b, start)
}

// BenchmarkPlanLinkDown measures a plan after one link died or came back.
func BenchmarkPlanLinkDown(b *testing.B) {
	g := Simulated(1, benchNodes, benchRegions)
	p := NewPlanner(Options{})
	if _, err := p.Plan(g); err != nil {
		b.Fatal(err)
	}
	i := 0
	start := cpuTime()
	for b.Loop() {
		l := &g.Links[(i/2*7919)%len(g.Links)]
		l.Up = !l.Up
		if _, err := p.Plan(g); err != nil {
			b.Fatal(err)
		}
		i++
	}
	reportCPU(b, start)
}
