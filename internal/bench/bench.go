// Package bench is the load generator of `rtcloud bench`: synthetic
// publishers and subscribers over the real room protocol, and the figures
// of a run (join times, loss after NACK recovery, end-to-end latency,
// received bitrate, and the server's forwarded packets and CPU time read
// from its Prometheus /metrics).
//
// The receive side is the client package's: one read loop per received
// track reusing one buffer, counters updated in place, latency recorded
// into a fixed histogram; nothing is allocated per packet, so the
// generator's CPU per packet stays below the server's (the report shows
// both).
package bench

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/rtcloud/rtcloud/pkg/client"
)

// run is the state of one benchmark run.
type run struct {
	o     Options
	ws    string
	media client.MediaOptions
	hc    *http.Client

	pubs []*client.Client

	mu      sync.Mutex
	subs    []*subscriber
	closing []*client.Client // failed joins to close
	failed  int
	errors  []string

	latStart client.Histogram // every track's latency at the window start

	// Keepers rejoin participants the server moves (move.go); they stop
	// when the run closes.
	keepCtx  context.Context
	stopKeep context.CancelFunc
	keepers  sync.WaitGroup
	moves    int // sessions rejoined after the server moved them
}

// keep runs fn on a goroutine owned by the run until it closes.
func (r *run) keep(fn func(ctx context.Context)) {
	r.keepers.Add(1)
	go func() {
		defer r.keepers.Done()
		fn(r.keepCtx)
	}()
}

// totals are the subscribers' cumulative counters at one moment.
type totals struct {
	At      time.Time
	Packets uint64
	Bytes   uint64
	Gaps    uint64
	CPU     time.Duration // this process
	Joined  int
}

// Run performs one benchmark run and returns its report.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.Defaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	ws, _ := o.wsURL()
	r := &run{o: o, ws: ws, hc: &http.Client{Timeout: 5 * time.Second}}
	r.keepCtx, r.stopKeep = context.WithCancel(ctx)
	r.media = client.MediaOptions{ReceiveLoss: o.ReceiveLoss, Logger: o.Logger}
	if o.loopback() {
		r.media.IPFilter = client.LoopbackOnly
	}
	defer r.close()

	stopProgress := r.progress(ctx)
	defer stopProgress()
	if err := r.startPublishers(ctx); err != nil {
		return nil, err
	}
	joinStart := time.Now()
	r.joinAll(ctx)
	joinDur := time.Since(joinStart)
	if len(r.subs) == 0 && o.Subscribers > 0 {
		return nil, fmt.Errorf("%w: %d failed, first errors: %v", ErrNoJoins, r.failed, r.errors)
	}
	if err := sleep(ctx, o.Settle); err != nil {
		return nil, err
	}
	a, sa := r.totals(), r.server(ctx)
	for _, s := range r.subscribers() {
		for _, t := range s.currentTracks() {
			r.latStart.Merge(t.Latency())
		}
	}
	gaps := r.startGaps()
	if o.DuringWindow != nil {
		o.DuringWindow(ctx)
	}
	err := sleep(ctx, o.Duration)
	gr := gaps.stop()
	if err != nil {
		return nil, err
	}
	b, sb := r.totals(), r.server(ctx)
	rep := r.report(a, b, sa, sb, joinDur)
	rep.MediaGapMs = quantiles(slices.Concat(gr.moved, gr.stayed))
	rep.MediaGapMovedMs, rep.MediaGapStayedMs = quantiles(gr.moved), quantiles(gr.stayed)
	rep.Recovered, rep.Lost = gr.recovered, gr.lost
	r.mu.Lock()
	rep.Moves = r.moves
	r.mu.Unlock()
	return rep, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// subscribers returns the subscribers that joined.
func (r *run) subscribers() []*subscriber {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*subscriber(nil), r.subs...)
}

// totals sums the subscribers' counters.
func (r *run) totals() totals {
	subs := r.subscribers()
	t := totals{At: time.Now(), CPU: processCPU(), Joined: len(subs)}
	for _, s := range subs {
		for _, tr := range s.allTracks() {
			st := tr.Stats()
			t.Packets += st.Packets
			t.Bytes += st.Bytes
			t.Gaps += st.CounterGaps
		}
	}
	return t
}

// server samples the server's metrics; a failed scrape is a zero sample.
func (r *run) server(ctx context.Context) serverSample {
	u := r.o.metricsURL()
	if u == "" {
		return serverSample{}
	}
	s, err := scrape(ctx, r.hc, u)
	if err != nil {
		r.o.Logger.Warn("scrape server metrics", "url", u, "err", err)
	}
	return s
}

// progress prints one line per second until the returned stop is called.
func (r *run) progress(ctx context.Context) (stop func()) {
	if r.o.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		start := time.Now()
		prev, prevS := r.totals(), r.server(ctx)
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			cur, curS := r.totals(), r.server(ctx)
			r.o.Progress(progressLine(time.Since(start), r.o.Rooms*r.o.Subscribers, r.failedJoins(), prev, cur, prevS, curS))
			prev, prevS = cur, curS
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (r *run) failedJoins() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

func progressLine(el time.Duration, want, failed int, a, b totals, sa, sb serverSample) string {
	dt := b.At.Sub(a.At).Seconds()
	if dt <= 0 {
		dt = 1
	}
	line := fmt.Sprintf("%5.0fs joined %d/%d (failed %d)  rx %.0f pkt/s %.1f Mbit/s  gaps %d",
		el.Seconds(), b.Joined, want, failed, float64(b.Packets-a.Packets)/dt, float64(b.Bytes-a.Bytes)*8/dt/1e6, b.Gaps)
	if sa.OK && sb.OK {
		sdt := sb.At.Sub(sa.At).Seconds()
		line += fmt.Sprintf("  server out %.0f pkt/s cpu %.0f%%", (sb.PacketsOut-sa.PacketsOut)/sdt, (sb.CPUSeconds-sa.CPUSeconds)/sdt*100)
	}
	return line
}

// close stops the keepers and ends every client, a few at a time.
func (r *run) close() {
	r.stopKeep()
	r.keepers.Wait()
	r.mu.Lock()
	all := append([]*client.Client(nil), r.pubs...)
	for _, s := range r.subs {
		all = append(all, s.client())
	}
	all = append(all, r.closing...)
	r.mu.Unlock()
	work := make(chan *client.Client)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				c.Close()
			}
		}()
	}
	for _, c := range all {
		work <- c
	}
	close(work)
	wg.Wait()
}

// processCPU is this process's user+system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
