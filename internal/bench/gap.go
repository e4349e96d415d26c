package bench

import (
	"sync"
	"time"
)

// gapSampleEvery is how often the gap monitor looks at every subscriber's
// received packet count: the resolution of the media gaps it reports.
const gapSampleEvery = 20 * time.Millisecond

// lostAfter: a subscriber still receiving nothing this long at the end of
// the window counts as lost, not recovered.
const lostAfter = 5 * time.Second

// interrupted: a longer time without media is an interruption (audio
// alone sends a packet every 20 ms).
const interrupted = 200 * time.Millisecond

// gapMonitor measures, per subscriber, the longest interruption of received
// media during the window: the longest time between two samples in which
// its packet count grew. The count covers every session of the
// subscriber, so a move to another node (new tracks, counting from zero)
// is not mistaken for media.
type gapMonitor struct {
	r    *run
	done chan struct{}
	wg   sync.WaitGroup

	mu    sync.Mutex
	state map[*subscriber]*gapState
}

type gapState struct {
	last    uint64    // the packet count at the last sample
	lastRx  time.Time // when the count last changed
	longest time.Duration
}

// startGaps starts the monitor; stop ends it and returns the gaps.
func (r *run) startGaps() *gapMonitor {
	g := &gapMonitor{r: r, done: make(chan struct{}), state: map[*subscriber]*gapState{}}
	now := time.Now()
	for _, s := range r.subscribers() {
		g.state[s] = &gapState{last: s.packets(), lastRx: now}
	}
	g.wg.Add(1)
	go g.loop()
	return g
}

func (g *gapMonitor) loop() {
	defer g.wg.Done()
	t := time.NewTicker(gapSampleEvery)
	defer t.Stop()
	for {
		select {
		case <-g.done:
			return
		case now := <-t.C:
			g.sample(now)
		}
	}
}

func (g *gapMonitor) sample(now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for s, st := range g.state {
		n := s.packets()
		if n != st.last {
			st.longest = max(st.longest, now.Sub(st.lastRx))
			st.last, st.lastRx = n, now
		}
	}
}

// gapResult is what the monitor found over the window.
type gapResult struct {
	// Per subscriber, the longest interruption: of the subscribers the
	// server moved, and of those it did not.
	moved, stayed []time.Duration
	recovered     int // subscribers whose media came back after an interruption
	lost          int // subscribers receiving nothing for lostAfter at the end
}

// stop ends the monitor. A gap still open at the end counts up to now.
func (g *gapMonitor) stop() gapResult {
	close(g.done)
	g.wg.Wait()
	now := time.Now()
	g.sample(now)
	g.mu.Lock()
	defer g.mu.Unlock()
	var res gapResult
	for s, st := range g.state {
		open := now.Sub(st.lastRx)
		longest := max(st.longest, open)
		if s.wasMoved() {
			res.moved = append(res.moved, longest)
		} else {
			res.stayed = append(res.stayed, longest)
		}
		switch {
		case open >= lostAfter:
			res.lost++
		case st.longest > interrupted:
			res.recovered++
		}
	}
	return res
}

// packets is the subscriber's received packet count over all its
// sessions.
func (s *subscriber) packets() uint64 {
	var n uint64
	for _, t := range s.allTracks() {
		n += t.Stats().Packets
	}
	return n
}
