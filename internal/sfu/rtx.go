package sfu

import (
	"github.com/rtcloud/rtcloud/internal/config"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rtcloud/rtcloud/internal/rtpbuf"
)

// RetransmitOptions bound the work subscribers' NACKs can make the node
// do (config.Retransmit documents each field).
type RetransmitOptions = config.Retransmit

// retransmitDefaults fills the zero fields of o.
func retransmitDefaults(o *RetransmitOptions) {
	if o.MaxAge <= 0 {
		o.MaxAge = 500 * time.Millisecond
	}
	if o.MinGap <= 0 {
		o.MinGap = 50 * time.Millisecond
	}
	if o.PerSubscriber <= 0 {
		o.PerSubscriber = 200
	}
	if o.NodeShare <= 0 {
		o.NodeShare = 0.1
	}
	if o.NodeMin <= 0 {
		o.NodeMin = 2000
	}
}

// Reasons a NACKed packet is not resent (the label of
// rtcloud_sfu_retransmissions_skipped_total).
const (
	skipUnknown    = iota // not part of what the subscriber currently receives
	skipNotCached         // no longer in the packet cache
	skipTooOld            // older than MaxAge
	skipRecent            // resent to this subscriber less than MinGap ago
	skipSubscriber        // the subscriber's budget is spent
	skipNode              // the node's budget is spent
	numSkips
)

var skipNames = [numSkips]string{"unknown", "not_cached", "too_old", "recent", "subscriber_budget", "node_budget"}

// rtxBudget is the node-wide retransmission budget: a token bucket the
// maintenance tick refills in proportion to the packets forwarded, taken
// from by every down track's RTCP goroutine. The forwarding goroutines
// never touch it except to count fan-outs.
type rtxBudget struct {
	o       RetransmitOptions
	tokens  atomic.Int64
	fanned  atomic.Uint64 // packets handed to down tracks (fresh)
	lastFan uint64        // owned by the maintenance tick
	skipped [numSkips]prometheus.Counter
	skips   [numSkips]atomic.Uint64
}

func newRTXBudget(o RetransmitOptions, reg prometheus.Registerer, constLabels prometheus.Labels) *rtxBudget {
	retransmitDefaults(&o)
	b := &rtxBudget{o: o}
	b.tokens.Store(int64(o.NodeMin))
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rtcloud_sfu_retransmissions_skipped_total", ConstLabels: constLabels,
		Help: "NACKed packets not resent, by reason (unknown, not_cached, too_old, recent, subscriber_budget, node_budget).",
	}, []string{"reason"})
	for i, name := range skipNames {
		b.skipped[i] = vec.WithLabelValues(name)
	}
	if reg != nil {
		reg.MustRegister(vec)
	}
	return b
}

// skip counts one NACKed packet not resent.
func (b *rtxBudget) skip(reason int) {
	b.skips[reason].Add(1)
	b.skipped[reason].Inc()
}

// take spends one node token; false when none is left.
func (b *rtxBudget) take() bool {
	if b.tokens.Add(-1) >= 0 {
		return true
	}
	b.tokens.Add(1)
	return false
}

// refill adds the tokens earned over dt: NodeShare of the packets fanned
// out since the last refill, at least NodeMin per second; the bucket holds
// at most one second's worth at the current rate.
func (b *rtxBudget) refill(dt time.Duration) {
	if dt <= 0 {
		return
	}
	fan := b.fanned.Load()
	earned := max(b.o.NodeShare*float64(fan-b.lastFan), float64(b.o.NodeMin)*dt.Seconds())
	b.lastFan = fan
	limit := int64(earned / dt.Seconds())
	for {
		cur := b.tokens.Load()
		next := min(limit, cur+int64(earned))
		if b.tokens.CompareAndSwap(cur, next) {
			return
		}
	}
}

// rtxState is a down track's retransmission state, guarded by its own
// mutex so a retransmission never holds downTrack.mu while it encrypts and
// writes: the forwarding goroutine is never blocked behind a NACK.
type rtxState struct {
	mu     sync.Mutex
	tokens float64
	last   int64 // unix nanos of the last refill
	recent [64]struct {
		seq uint16
		at  int64
	}
	buf  []byte // allocated on the first NACK
	pkt  rtp.Packet
	hdr  rtp.Header
	ext  [4]rtp.Extension
	twcc [2]byte // hdr's transport-wide sequence number
}

// allow applies the per-subscriber checks for outgoing sequence number
// seq at now and, when they pass, the node's budget. rs.mu is held.
func (rs *rtxState) allow(b *rtxBudget, seq uint16, now int64) int {
	r := &rs.recent[seq&uint16(len(rs.recent)-1)]
	if r.at != 0 && r.seq == seq && now-r.at < int64(b.o.MinGap) {
		return skipRecent
	}
	rate := float64(b.o.PerSubscriber)
	if rs.last == 0 {
		rs.tokens = rate
	} else {
		rs.tokens = min(rate, rs.tokens+rate*float64(now-rs.last)/float64(time.Second))
	}
	rs.last = now
	if rs.tokens < 1 {
		return skipSubscriber
	}
	if !b.take() {
		return skipNode
	}
	rs.tokens--
	r.seq, r.at = seq, now
	return -1
}

// retransmit resends outgoing sequence number seq from the source's packet
// cache, if it belongs to what d currently forwards and the budgets allow.
// It runs on d's RTCP goroutine; d.mu is held only to read d's state.
func (d *downTrack) retransmit(seq uint16) {
	if d.m != nil {
		d.m.NACKsReceived.Inc()
	}
	d.mu.Lock()
	orig, ok := d.origSeq(seq)
	if !ok || d.writer == nil {
		d.mu.Unlock()
		d.skip(skipUnknown)
		return
	}
	cache := d.src.layers[d.current].cache
	writer, ssrc, pt, tsOffset, twccID := d.writer, d.ssrc, d.pt, d.tsOffset, d.twccID
	d.mu.Unlock()

	now := time.Now().UnixNano()
	at, cached := cache.At(orig)
	if !cached {
		d.skip(skipNotCached)
		return
	}
	b := d.rtx
	if b != nil && now-at > int64(b.o.MaxAge) {
		d.skip(skipTooOld)
		return
	}
	rs := &d.rtxs
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if b != nil {
		if reason := rs.allow(b, seq, now); reason >= 0 {
			d.skip(reason)
			return
		}
	}
	if rs.buf == nil {
		rs.buf = make([]byte, rtpbuf.SlotSize)
	}
	size, ok := cache.Get(orig, rs.buf)
	if !ok || rs.pkt.Unmarshal(rs.buf[:size]) != nil {
		d.skip(skipNotCached)
		return
	}
	rs.hdr = rs.pkt.Header
	rs.hdr.SSRC, rs.hdr.PayloadType, rs.hdr.SequenceNumber = ssrc, pt, seq
	rs.hdr.Timestamp = rs.pkt.Timestamp + tsOffset
	rs.hdr.Extension, rs.hdr.Extensions, rs.hdr.ExtensionProfile = false, rs.ext[:0], 0
	rs.hdr.Padding, rs.hdr.PaddingSize = false, 0
	stampTransportSeq(&rs.hdr, twccID, d.transportSeq, &rs.twcc)
	n, err := writer.WriteRTP(&rs.hdr, rs.pkt.Payload)
	if err != nil {
		return
	}
	d.resent.Add(1)
	d.resentOctets.Add(uint64(len(rs.pkt.Payload)))
	if d.bytesOut != nil {
		d.bytesOut.Add(uint64(n))
	}
	if d.m != nil {
		d.m.Retransmissions.Inc()
	}
}

func (d *downTrack) skip(reason int) {
	if d.rtx != nil {
		d.rtx.skip(reason)
	}
}
