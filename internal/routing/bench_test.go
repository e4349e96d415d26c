package routing

import "testing"

// The simulated internet-scale topology: 200 nodes, 6 regions.
const benchNodes, benchRegions = 200, 6

func BenchmarkPlanFull(b *testing.B) {
	g := Simulated(1, benchNodes, benchRegions)
	for b.Loop() {
		if _, err := NewPlanner(Options{}).Plan(g); err != nil {
			b.Fatal(err)
		}
	}
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
	for b.Loop() {
		l := &g.Links[(i*7919)%len(g.Links)]
		l.RTTMs *= 1.5
		if _, err := p.Plan(g); err != nil {
			b.Fatal(err)
		}
		l.RTTMs /= 1.5
		i++
	}
}

// BenchmarkPlanLinkDown measures a plan after one link died or came back.
func BenchmarkPlanLinkDown(b *testing.B) {
	g := Simulated(1, benchNodes, benchRegions)
	p := NewPlanner(Options{})
	if _, err := p.Plan(g); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		l := &g.Links[(i/2*7919)%len(g.Links)]
		l.Up = !l.Up
		if _, err := p.Plan(g); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
