package egress

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cpuMeter measures the CPU this process and its children (the ffmpeg
// processes) use, from /proc. Where /proc is missing it reads 0 and the
// worker goes by its estimates alone.
type cpuMeter struct {
	pid   string
	last  float64 // CPU seconds at lastT
	lastT time.Time
	used  float64 // the last figure
}

const clockTicks = 100 // USER_HZ on Linux

func newCPUMeter() *cpuMeter {
	m := &cpuMeter{pid: strconv.Itoa(os.Getpid())}
	m.last, m.lastT = m.total(), time.Now()
	return m
}

// sample returns the cores used since the last sample, over at least
// half a second (CPU time comes in 10 ms ticks); sooner, it returns the
// previous figure.
func (m *cpuMeter) sample() float64 {
	t := time.Now()
	d := t.Sub(m.lastT).Seconds()
	if d < 0.5 {
		return m.used
	}
	now := m.total()
	m.used = 0
	if now >= m.last {
		m.used = (now - m.last) / d
	}
	m.last, m.lastT = now, t
	return m.used
}

// total is the CPU seconds of this process (with its reaped children) and
// of its live children.
func (m *cpuMeter) total() float64 {
	sum := 0.0
	if f, ok := procStat("/proc/self/stat"); ok {
		sum += f.cpu
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		if f, ok := procStat(p); ok && f.ppid == m.pid {
			sum += f.cpu
		}
	}
	return sum / clockTicks
}

type statFields struct {
	ppid string
	cpu  float64 // utime+stime+cutime+cstime, in ticks
}

func procStat(path string) (statFields, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return statFields{}, false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return statFields{}, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 15 {
		return statFields{}, false
	}
	var cpu float64
	for _, k := range f[11:15] {
		v, _ := strconv.ParseFloat(k, 64)
		cpu += v
	}
	return statFields{ppid: f[1], cpu: cpu}, true
}
