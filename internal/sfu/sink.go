package sfu

import (
	"time"

	"github.com/pion/rtp"
)

// A published track's packets flow from its source through the
// forwarding core to its sinks:
//
//	source (local Pion receiver | relay ingress)
//	   -> upTrack: packet cache, layer bookkeeping, keyframe requests
//	   -> sinks: downTrack (forwarder + Pion writer, one subscriber)
//	           | relayOut (the layers some remote node needs, to a next hop)
//
// A local source is a Pion TrackRemote read by upTrack.readLoop, with the
// publisher's PeerConnection as upstream for keyframe requests; a relay
// ingress hands packets to upTrack.forward from the relay's receive path,
// with the previous hop as upstream.

// sink takes every packet of an up track's fan-out: layer idx, the bytes
// as received (raw) and parsed (pkt), whether it starts a keyframe, and
// when the fan-out read it. forward runs on the source's read goroutine,
// must not block, must not allocate and must not keep raw or pkt.
type sink interface {
	forward(src *upTrack, idx int, raw []byte, pkt *rtp.Packet, key bool, now time.Time)
}
