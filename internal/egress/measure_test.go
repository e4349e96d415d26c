package egress

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/testenv"
)

// cpuSeconds is the CPU time (user+system) of pid and every descendant
// still running, and of pid alone.
func cpuSeconds(pid int) (float64, float64) {
	tick := 100.0 // USER_HZ
	parent := map[int]int{}
	ticks := map[int]float64{}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(s[i+1:])
		if len(fields) < 13 {
			continue
		}
		p, _ := strconv.Atoi(strings.Fields(s)[0])
		pp, _ := strconv.Atoi(fields[1])
		ut, _ := strconv.ParseFloat(fields[11], 64)
		st, _ := strconv.ParseFloat(fields[12], 64)
		parent[p], ticks[p] = pp, ut+st
	}
	total := 0.0
	for p, t := range ticks {
		for q := p; q > 1; q = parent[q] {
			if q == pid {
				total += t
				break
			}
		}
	}
	return total / tick, ticks[pid] / tick
}

// TestMeasureEgressCPU measures the CPU of an egress worker process (with
// its ffmpeg children): one 1280x720 30 fps room composite of four
// participants, then ten track egresses. Run on purpose:
//
//	RTCLOUD_EGRESS_BENCH=1 go test -run TestMeasureEgressCPU -v ./internal/egress/
func TestMeasureEgressCPU(t *testing.T) {
	if os.Getenv("RTCLOUD_EGRESS_BENCH") == "" {
		t.Skip("set RTCLOUD_EGRESS_BENCH=1 to measure")
	}
	e := newEnv(t)
	var ps []*publisher
	for i := range 4 {
		ps = append(ps, e.publish("bench", fmt.Sprintf("p%d", i), true, true))
	}
	cmd := exec.Command(testenv.Binary(t), "egress", "--nats", e.st.NATS.ClientURL(), "--signal-url", e.st.Signals[0].WS,
		"--output-dir", e.out, "--worker-id", "EW_bench", "--dev-keys")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	testenv.WaitFor(t, 20*time.Second, "worker heartbeat", func() bool {
		e.api.mu.Lock()
		defer e.api.mu.Unlock()
		_, ok := e.api.workers["EW_bench"]
		return ok
	})
	window := 20 * time.Second
	measure := func(what string, n int) {
		time.Sleep(3 * time.Second) // let decoders and the encoder settle
		c0, o0 := cpuSeconds(cmd.Process.Pid)
		t0 := time.Now()
		time.Sleep(window)
		c1, o1 := cpuSeconds(cmd.Process.Pid)
		secs := time.Since(t0).Seconds()
		cores, own := (c1-c0)/secs, (o1-o0)/secs
		t.Logf("%s: %.3f cores in all (worker process %.3f, ffmpeg %.3f), %.3f cores each (%d running, %.0fs window)",
			what, cores, own, cores-own, cores/float64(n), n, secs)
	}
	comp := e.start(bus.EgressRequest{Room: "bench", Type: bus.EgressTypeRoom, Outputs: []bus.EgressOutput{{File: "bench.mp4"}}})
	e.waitStatus(comp.EgressID, bus.EgressActive, 15*time.Second)
	measure("room composite 1280x720 30 fps, 4 participants (VP8 640x360 + Opus each), H.264 2500 kbit/s + AAC to MP4", 1)
	end := e.stop(comp.EgressID)
	t.Logf("composite wrote %.1fs, %d bytes", end.Duration, end.Bytes)

	var ids []string
	for i, p := range ps {
		for _, kind := range []string{bus.KindVideo, bus.KindAudio} {
			ext := ".webm"
			if kind == bus.KindAudio {
				ext = ".ogg"
			}
			info := e.start(bus.EgressRequest{Room: "bench", Type: bus.EgressTypeTrack, TrackID: p.trackID(kind),
				Outputs: []bus.EgressOutput{{File: fmt.Sprintf("t%d-%s%s", i, kind, ext)}}})
			ids = append(ids, info.EgressID)
		}
	}
	measure("track egress (4 VP8 640x360 ~600 kbit/s to WebM, 4 Opus 64 kbit/s to Ogg)", len(ids))
	for _, id := range ids {
		e.stop(id)
	}
}
