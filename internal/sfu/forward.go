package sfu

import (
	"time"

	"github.com/pion/rtp"
)

// forwarder is the forwarding core of one subscription to one published
// track: which layer of its source it forwards and when it switches
// (only on keyframes), and the sequence number and timestamp offsets that
// keep its output one continuous stream across layer switches, source
// changes and mutes. It knows nothing of Pion or of the relay: a sink
// owns it, guards it with its own lock and writes what it admits (the
// Pion down track today; a recorder or mixer feed later).
type forwarder struct {
	bw       *bandwidth
	selector LayerSelector

	src     *upTrack
	want    int // wanted layer index or autoLayer
	target  int // layer to switch to on its next keyframe
	current int // layer being forwarded, -1 before the first keyframe
	stalled int // layer forwarded before a resync, else -1
	// waitSince is when the forwarder started waiting for a keyframe with
	// nothing to forward (current < 0); zero while it forwards.
	waitSince time.Time

	rebase    bool
	hasOut    bool
	seqOffset uint16
	tsOffset  uint32
	lastSeq   uint16
	lastTS    uint32
	lastAt    time.Time
	epoch     uint16 // first outgoing sequence number of the current source
}

func newForwarder() forwarder {
	return forwarder{bw: newBandwidth(), selector: fitSelector{}, want: autoLayer, current: -1, stalled: -1, rebase: true}
}

// Outcomes of forwarder.admit.
const (
	admitSend   = iota // write the packet
	admitIgnore        // not this forwarder's source: nothing to count
	admitDrop          // a layer it does not forward now: count a drop
)

// switchTo points the forwarder at src (nil: nothing) from layer want and
// returns the layer it will wait for a keyframe of.
func (f *forwarder) switchTo(src *upTrack, want int, now time.Time) int {
	f.src, f.current, f.rebase, f.want = src, -1, true, want
	f.waitSince = now
	f.target = f.pickTarget(now)
	return f.target
}

// pickTarget resolves the wanted layer at now.
func (f *forwarder) pickTarget(now time.Time) int {
	if f.src == nil {
		return 0
	}
	if f.current < 0 && !f.waitSince.IsZero() && now.Sub(f.waitSince) > keyframeWaitLimit {
		// Something to show first; the wanted layer follows, switching
		// on its keyframe while this one plays.
		return f.src.resolveLayer(0)
	}
	if f.want == autoLayer {
		return f.src.resolveLayer(f.selector.Select(f.bw.estimate(), f.src.presentBitrates()))
	}
	return f.src.resolveLayer(f.want)
}

// steady reports whether a packet of layer idx of src simply continues
// what the forwarder sends (the common case, inlined): no switch, no
// rebase; admit is then not needed.
func (f *forwarder) steady(src *upTrack, idx int) bool {
	return f.src == src && f.current == idx && !f.rebase
}

// admit decides what to do with a packet of layer idx of src. On
// admitSend the offsets are ready for rewrite; changed is the layer
// switched to (or -1); needKey is a layer whose keyframe is awaited (or
// -1).
func (f *forwarder) admit(src *upTrack, idx int, pkt *rtp.Packet, key bool, now time.Time) (verdict, changed, needKey int) {
	changed, needKey = -1, -1
	if f.src != src {
		return admitIgnore, changed, needKey
	}
	if src.video && idx != f.current {
		if idx != f.target || !key {
			if idx == f.target {
				needKey = idx
			}
			return admitDrop, changed, needKey
		}
		f.current, f.rebase, changed = idx, true, idx
		f.waitSince = time.Time{}
		if idx == f.stalled { // resuming after resync, same layer
			changed = -1
		}
		f.stalled = -1
	} else if f.current < 0 {
		f.current, f.rebase = idx, true
		f.waitSince = time.Time{}
	}
	if f.rebase {
		f.rebaseOn(src, pkt, now)
	}
	return admitSend, changed, needKey
}

// rebaseOn sets the offsets so pkt follows the last packet sent.
func (f *forwarder) rebaseOn(src *upTrack, pkt *rtp.Packet, now time.Time) {
	f.rebase = false
	if !f.hasOut {
		f.seqOffset, f.tsOffset = 0, 0
	} else {
		gap := uint32(now.Sub(f.lastAt).Seconds() * float64(src.clockRate))
		f.seqOffset = f.lastSeq + 1 - pkt.SequenceNumber
		f.tsOffset = f.lastTS + max(gap, 1) - pkt.Timestamp
	}
	f.epoch = pkt.SequenceNumber + f.seqOffset
}

// rewrite returns pkt's outgoing sequence number and timestamp.
func (f *forwarder) rewrite(pkt *rtp.Packet) (uint16, uint32) {
	return pkt.SequenceNumber + f.seqOffset, pkt.Timestamp + f.tsOffset
}

// sent records that outgoing seq/ts left at now. A refused packet is not
// recorded, so it leaves no gap: the next one takes its number.
func (f *forwarder) sent(seq uint16, ts uint32, now time.Time) {
	if !f.hasOut || int16(seq-f.lastSeq) > 0 {
		f.lastSeq, f.lastTS, f.lastAt, f.hasOut = seq, ts, now, true
	}
}

// resyncing makes a forwarding video subscription wait for the next
// keyframe of its layer (resuming with continuous numbers); it returns
// the layer to ask a keyframe of and whether there is one to ask.
func (f *forwarder) resyncing(now time.Time) (int, bool) {
	if f.src == nil || !f.src.video || f.current < 0 {
		return 0, false
	}
	f.stalled, f.current, f.waitSince = f.current, -1, now
	return f.target, true
}

// origSeq maps an outgoing sequence number back to the source's, when it
// belongs to what the forwarder forwards now.
func (f *forwarder) origSeq(seq uint16) (uint16, bool) {
	if f.src == nil || !f.hasOut || f.current < 0 || f.rebase ||
		int16(seq-f.epoch) < 0 || int16(f.lastSeq-seq) < 0 {
		return 0, false
	}
	return seq - f.seqOffset, true
}
