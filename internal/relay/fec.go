package relay

import (
	"encoding/binary"
	"math"
	"sync"

	"github.com/klauspost/reedsolomon"
)

// FEC: the sender groups up to fecData consecutive link packets; each
// group's data shards are the packets' cache slots (a 2-byte length, the
// inner packet, zero padding to the longest in the group) and m parity
// shards follow the group. A group closes when full or fecMaxDelay after
// its first packet. m follows the loss the peer reports (fecParity).
const (
	fecData      = 10
	maxFECData   = 16
	maxFECParity = 10
	// fecMaxDelay bounds how long a packet waits for its group to close,
	// and so the latency FEC adds to a rebuilt packet (ns).
	fecMaxDelay = 20e6
	// fecTarget is the probability, at the measured loss, that a group
	// loses more packets than it has parity.
	fecTarget = 0.01
	// fecMinLoss: below this loss a link sends no parity.
	fecMinLoss = 0.005
)

// fecParity returns the parity count for k data shards at loss p: the
// least m with P(more than m of k+m lost) < fecTarget.
func fecParity(k int, p float64) int {
	if p < fecMinLoss {
		return 0
	}
	for m := 1; m < maxFECParity; m++ {
		if binomialTail(k+m, m, p) < fecTarget {
			return m
		}
	}
	return maxFECParity
}

// binomialTail is P(X > m) for X ~ Binomial(n, p).
func binomialTail(n, m int, p float64) float64 {
	cdf := 0.0
	for i := 0; i <= m; i++ {
		lc, _ := math.Lgamma(float64(n + 1))
		l1, _ := math.Lgamma(float64(i + 1))
		l2, _ := math.Lgamma(float64(n - i + 1))
		cdf += math.Exp(lc - l1 - l2 + float64(i)*math.Log(p) + float64(n-i)*math.Log1p(-p))
	}
	return max(0, 1-cdf)
}

// codecs caches Reed-Solomon codecs by shape; they are safe for
// concurrent use.
type codecs struct {
	mu sync.Mutex
	m  map[[2]int]reedsolomon.Encoder
}

func (c *codecs) get(k, m int) (reedsolomon.Encoder, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[[2]int{k, m}]; ok {
		return e, nil
	}
	e, err := reedsolomon.New(k, m, reedsolomon.WithMaxGoroutines(1),
		// The GFNI kernels allocate their matrix on every call; AVX2 does not.
		reedsolomon.WithGFNI(false), reedsolomon.WithAVXGFNI(false))
	if err != nil {
		return nil, err
	}
	if c.m == nil {
		c.m = make(map[[2]int]reedsolomon.Encoder)
	}
	c.m[[2]int{k, m}] = e
	return e, nil
}

// fecSender is a link's open group; guarded by peer.sendMu.
type fecSender struct {
	k, m     int // shape of the next group (m == 0: off)
	open     bool
	base     uint32
	count, g int // packets in the group; parity of this group
	maxLen   int
	started  int64
	parity   [maxFECParity][]byte
	shards   [maxFECData + maxFECParity][]byte
}

// begin adds seq to the open group, opening one if FEC is on; it
// reports whether seq is in a group.
func (f *fecSender) begin(seq uint32, now int64) bool {
	if !f.open {
		if f.m == 0 {
			return false
		}
		f.open, f.base, f.count, f.g, f.maxLen, f.started = true, seq, 0, f.m, 0, now
	}
	return true
}

// add records a packet of n inner bytes; it reports whether the group is
// full.
func (f *fecSender) add(n int) bool {
	f.count++
	f.maxLen = max(f.maxLen, n+2)
	return f.count >= f.k
}

// flushFECLocked encodes the open group and sends its parity.
func (p *peer) flushFECLocked() {
	f := &p.fecTx
	if !f.open {
		return
	}
	f.open = false
	k, m, sl := f.count, f.g, f.maxLen
	enc, err := p.t.codecs.get(k, m)
	if err != nil {
		return
	}
	for i := range k {
		c := &p.cache[(f.base+uint32(i))&uint32(len(p.cache)-1)]
		clear(c.buf[2+c.n : sl])
		f.shards[i] = c.buf[:sl]
	}
	for j := range m {
		if f.parity[j] == nil {
			f.parity[j] = make([]byte, maxShard)
		}
		f.shards[k+j] = f.parity[j][:sl]
	}
	if enc.Encode(f.shards[:k+m]) != nil {
		return
	}
	h := p.t.hdrLen
	for j := range m {
		n := putFECHeader(p.buf[h:], &fecHeader{k: k, m: m, index: j, shardLen: sl, base: f.base})
		n += copy(p.buf[h+n:], f.shards[k+j])
		if p.writeLocked(n) == nil {
			p.counters.fecSent.Add(1)
		}
	}
}

// flushFECIfOld closes a group open for longer than fecMaxDelay.
func (p *peer) flushFECIfOld(now int64) {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	if p.fecTx.open && now-p.fecTx.started >= fecMaxDelay {
		p.flushFECLocked()
	}
}

// setFEC follows the loss the peer reports.
func (p *peer) setFEC(loss float64) {
	m := 0
	if p.t.cfg.FEC == FECAuto {
		m = fecParity(fecData, loss)
	}
	p.sendMu.Lock()
	p.fecTx.m = m
	p.sendMu.Unlock()
	p.fecM.Store(int32(m))
}

// fecReceiver keeps copies of recent FEC-protected packets and the parity
// of recent groups; owned by the receive goroutine.
type fecReceiver struct {
	store  [fecStore]fecSlot
	groups [fecGroups]fecGroup
	next   int // group slot to reuse
	shards [maxFECData + maxFECParity][]byte
}

const (
	fecStore  = 256
	fecGroups = 16
)

type fecSlot struct {
	seq int64
	set bool
	n   int
	buf []byte // 2-byte length, inner packet
}

type fecGroup struct {
	set, done bool
	base      int64
	k, m, sl  int
	have      uint32 // parity bitmap
	parity    [maxFECParity][]byte
}

// keep stores a copy of data packet s (inner bytes b).
func (f *fecReceiver) keep(s int64, b []byte) {
	sl := &f.store[s%fecStore]
	if sl.buf == nil {
		sl.buf = make([]byte, maxShard)
	}
	sl.seq, sl.set, sl.n = s, true, len(b)
	binary.BigEndian.PutUint16(sl.buf, uint16(len(b)))
	copy(sl.buf[2:], b)
	sl.buf[3] &^= flagRTX // the shard is the packet as first sent
}

func (f *fecReceiver) has(s int64) bool {
	sl := &f.store[s%fecStore]
	return sl.set && sl.seq == s
}

// group returns the group that covers s, or nil.
func (f *fecReceiver) group(s int64) *fecGroup {
	for i := range f.groups {
		g := &f.groups[i]
		if g.set && s >= g.base && s < g.base+int64(g.k) {
			return g
		}
	}
	return nil
}

// parity stores one parity shard and returns its group.
func (f *fecReceiver) parity(h *fecHeader, base int64, shard []byte) *fecGroup {
	var g *fecGroup
	for i := range f.groups {
		if c := &f.groups[i]; c.set && c.base == base && c.k == h.k && c.m == h.m && c.sl == h.shardLen {
			g = c
			break
		}
	}
	if g == nil {
		g = &f.groups[f.next]
		f.next = (f.next + 1) % fecGroups
		g.set, g.done, g.base, g.k, g.m, g.sl, g.have = true, false, base, h.k, h.m, h.shardLen, 0
	}
	if g.parity[h.index] == nil {
		g.parity[h.index] = make([]byte, maxShard)
	}
	copy(g.parity[h.index], shard)
	g.have |= 1 << h.index
	return g
}

// recover rebuilds g's missing data packets if enough shards are in; it
// appends the sequence numbers rebuilt (now in the store) to out.
func (f *fecReceiver) recover(c *codecs, g *fecGroup, out []int64) []int64 {
	if g == nil || g.done || g.base < 0 {
		return out
	}
	present, missing := 0, 0
	for i := range g.k {
		s := g.base + int64(i)
		if f.has(s) && f.store[s%fecStore].n+2 <= g.sl {
			present++
		} else {
			missing++
		}
	}
	if missing == 0 {
		g.done = true
		return out
	}
	parity := 0
	for j := range g.m {
		if g.have&(1<<j) != 0 {
			parity++
		}
	}
	if present+parity < g.k {
		return out
	}
	enc, err := c.get(g.k, g.m)
	if err != nil {
		return out
	}
	for i := range g.k {
		s := g.base + int64(i)
		sl := &f.store[s%fecStore]
		if sl.buf == nil {
			sl.buf = make([]byte, maxShard)
		}
		if f.has(s) && sl.n+2 <= g.sl {
			clear(sl.buf[2+sl.n : g.sl])
			f.shards[i] = sl.buf[:g.sl]
		} else {
			sl.set = false
			f.shards[i] = sl.buf[:0]
		}
	}
	for j := range g.m {
		f.shards[g.k+j] = nil
		if g.have&(1<<j) != 0 {
			f.shards[g.k+j] = g.parity[j][:g.sl]
		}
	}
	g.done = true
	if enc.ReconstructData(f.shards[:g.k+g.m]) != nil {
		return out
	}
	for i := range g.k {
		s := g.base + int64(i)
		sl := &f.store[s%fecStore]
		if sl.set {
			continue
		}
		n := int(binary.BigEndian.Uint16(f.shards[i]))
		if n < dataFixed || n+2 > g.sl {
			continue
		}
		sl.seq, sl.set, sl.n = s, true, n
		out = append(out, s)
	}
	return out
}
