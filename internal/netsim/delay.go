package netsim

import (
	"container/heap"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// delayLine holds datagrams until their release time; the release
// goroutine sends them in release order.
type delayLine struct {
	delay, jitter atomic.Int64 // ns

	mu     sync.Mutex
	queue  held
	free   [][]byte
	seq    uint64 // ties keep arrival order
	wake   chan struct{}
	closed chan struct{}
}

type heldPacket struct {
	at  time.Time
	seq uint64
	b   []byte
}

// held is a min-heap by release time.
type held []heldPacket

func (h held) Len() int { return len(h) }
func (h held) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h held) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *held) Push(x any)   { *h = append(*h, x.(heldPacket)) }
func (h *held) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (d *delayLine) init(delay, jitter time.Duration) {
	d.delay.Store(int64(delay))
	d.jitter.Store(int64(jitter))
	d.wake = make(chan struct{}, 1)
	d.closed = make(chan struct{})
}

func (d *delayLine) close() { close(d.closed) }

// hold draws the time a datagram is held; ok is false when it goes at once.
func (d *delayLine) hold(rng *rand.Rand) (time.Duration, bool) {
	delay, jitter := d.delay.Load(), d.jitter.Load()
	if delay == 0 && jitter == 0 {
		return 0, false
	}
	if jitter > 0 {
		delay += rng.Int64N(2*jitter+1) - jitter
	}
	return time.Duration(max(delay, 0)), true
}

// push queues a copy of b for release at at.
func (d *delayLine) push(b []byte, at time.Time) {
	d.mu.Lock()
	var c []byte
	if n := len(d.free); n > 0 {
		c, d.free = d.free[n-1][:0], d.free[:n-1]
	}
	d.seq++
	heap.Push(&d.queue, heldPacket{at: at, seq: d.seq, b: append(c, b...)})
	first := d.queue[0].seq == d.seq
	d.mu.Unlock()
	if first {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

// next pops the datagrams due at now and returns when the next one is due.
func (d *delayLine) next(now time.Time, out [][]byte) ([][]byte, time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(d.queue) > 0 && !d.queue[0].at.After(now) {
		out = append(out, heap.Pop(&d.queue).(heldPacket).b)
	}
	if len(d.queue) == 0 {
		return out, time.Hour
	}
	return out, d.queue[0].at.Sub(now)
}

func (d *delayLine) recycle(bs [][]byte) {
	d.mu.Lock()
	d.free = append(d.free, bs...)
	d.mu.Unlock()
}

// SetDelay changes the server-to-client delay and jitter; datagrams
// already held keep their release time.
func (p *Proxy) SetDelay(delay, jitter time.Duration) {
	p.delay.delay.Store(int64(delay))
	p.delay.jitter.Store(int64(jitter))
}

// release sends held datagrams when they are due.
func (p *Proxy) release() {
	defer p.wg.Done()
	d := &p.delay
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var due [][]byte
	for {
		var wait time.Duration
		due, wait = d.next(time.Now(), due[:0])
		for _, b := range due {
			p.deliver(b)
		}
		d.recycle(due)
		timer.Reset(wait)
		select {
		case <-d.closed:
			return
		case <-d.wake:
		case <-timer.C:
		}
	}
}
