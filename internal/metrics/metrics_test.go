package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestSFUCounters(t *testing.T) {
	m := NewSFU("n1")
	m.Out.Add(true, 1100)
	m.Out.Add(true, 900)
	m.In.Add(false, 100)
	if got := testutil.ToFloat64(m.Out.VideoPackets); got != 2 {
		t.Fatalf("video packets out = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.Out.VideoBytes); got != 2000 {
		t.Fatalf("video bytes out = %v, want 2000", got)
	}
	n, err := testutil.GatherAndCount(m.Registry, "rtcloud_sfu_packets_total")
	if err != nil || n != 4 {
		t.Fatalf("packets series = %d, %v; want 4", n, err)
	}
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var haveCPU bool
	for _, mf := range mfs {
		haveCPU = haveCPU || strings.HasPrefix(mf.GetName(), "process_cpu_seconds")
	}
	if !haveCPU {
		t.Fatal("process collector missing")
	}
}

func BenchmarkAdd(b *testing.B) {
	m := NewSFU("n1")
	b.ReportAllocs()
	for b.Loop() {
		m.Out.Add(true, 1100)
	}
}
