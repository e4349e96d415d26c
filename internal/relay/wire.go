package relay

import (
	"encoding/binary"
	"fmt"
)

// The framing (docs/relay.md, "Wire format"). A datagram is an outer
// header sent in the clear but authenticated, then the AEAD-sealed inner
// packet and its 16-byte tag:
//
//	outer: version(1) flags(1) senderLen(1) sender(senderLen) epoch(8) counter(8)
//	inner media/feedback: type(1) flags(1) hops(1) layer(1) linkSeq(4)
//	       nsLen(1) ns roomLen(1) room trackLen(1) track originLen(1) origin
//	       nDests(1) {len(1) dest}*nDests payload(rest)
//	inner probe/probe reply: type(1) flags(1) loss(2) id(4) time(8) sent(4)
//	inner NACK: type(1) flags(1) count(2) {seq(4) mask(2)}*count
//	inner FEC: type(1) flags(1) k(1) m(1) index(1) reserved(1)
//	       shardLen(2) base(4) shard(shardLen)
//
// Integers are big-endian.
const (
	wireVersion = 1
	outerFixed  = 3 + 8 + 8
	tagSize     = 16
	// maxDatagram is the receive buffer; no valid datagram is larger.
	maxDatagram = 2048
	// maxInner bounds a media/feedback inner packet (the cached unit).
	maxInner = 1680
	// maxShard bounds a FEC shard: a 2-byte length then an inner packet.
	maxShard      = maxInner + 2
	dataFixed     = 8 + 5 // type..linkSeq, then the five length bytes
	probeLen      = 20
	nackHead      = 4
	nackEntrySize = 6
	fecHead       = 12
	// maxNACKEntries keeps a NACK packet small.
	maxNACKEntries = 64
)

// Inner flags.
const (
	flagRTX = 1 << 0 // a retransmission from the sender's cache
	flagFEC = 1 << 1 // the packet belongs to a FEC group
	// probe flags
	flagHasSent = 1 << 0 // the probe's sent field is valid
)

// outer is the parsed clear header. sender aliases the datagram.
type outer struct {
	sender  []byte
	epoch   uint64
	counter uint64
	hdrLen  int
}

// putOuter writes the outer header for sender into b and returns its length.
func putOuter(b []byte, sender string, epoch, counter uint64) int {
	b[0] = wireVersion
	b[1] = 0
	b[2] = byte(len(sender))
	n := 3 + copy(b[3:], sender)
	binary.BigEndian.PutUint64(b[n:], epoch)
	binary.BigEndian.PutUint64(b[n+8:], counter)
	return n + 16
}

// parseOuter reads the clear header of a datagram; the rest must hold at
// least a tag and one inner byte.
func parseOuter(b []byte) (outer, error) {
	var o outer
	if len(b) < outerFixed+tagSize+1 || b[0] != wireVersion || b[1] != 0 {
		return o, ErrMalformed
	}
	n := int(b[2])
	if n == 0 || len(b) < outerFixed+n+tagSize+1 {
		return o, ErrMalformed
	}
	o.sender = b[3 : 3+n]
	o.epoch = binary.BigEndian.Uint64(b[3+n:])
	o.counter = binary.BigEndian.Uint64(b[11+n:])
	o.hdrLen = outerFixed + n
	return o, nil
}

// innerType is the type byte of a decrypted inner packet.
func innerType(b []byte) PacketType {
	if len(b) == 0 {
		return 0
	}
	return PacketType(b[0])
}

// dataLen is the inner length of p, or an error if it does not fit.
func dataLen(p *Packet) (int, error) {
	if len(p.Dests) == 0 || len(p.Dests) > MaxDests || len(p.Payload) > MaxPayload {
		return 0, fmt.Errorf("%w: %d destinations, %d payload bytes", ErrTooLarge, len(p.Dests), len(p.Payload))
	}
	n := dataFixed + len(p.Dests) + len(p.Payload)
	for _, s := range [...]string{p.Namespace, p.Room, p.Stream.Track, p.Origin} {
		if len(s) > MaxIDLen {
			return 0, fmt.Errorf("%w: id of %d bytes", ErrTooLarge, len(s))
		}
		n += len(s)
	}
	for _, d := range p.Dests {
		if len(d) == 0 || len(d) > MaxIDLen {
			return 0, fmt.Errorf("%w: destination id of %d bytes", ErrTooLarge, len(d))
		}
		n += len(d)
	}
	if n > maxInner {
		return 0, fmt.Errorf("%w: %d bytes", ErrTooLarge, n)
	}
	return n, nil
}

// putData encodes p into b (at least dataLen(p) bytes) with hops and seq.
func putData(b []byte, p *Packet, hops uint8, seq uint32, flags byte) int {
	b[0] = byte(p.Type)
	b[1] = flags
	b[2] = hops
	b[3] = p.Stream.Layer
	binary.BigEndian.PutUint32(b[4:], seq)
	n := 8
	for _, s := range [...]string{p.Namespace, p.Room, p.Stream.Track, p.Origin} {
		b[n] = byte(len(s))
		n += 1 + copy(b[n+1:], s)
	}
	b[n] = byte(len(p.Dests))
	n++
	for _, d := range p.Dests {
		b[n] = byte(len(d))
		n += 1 + copy(b[n+1:], d)
	}
	return n + copy(b[n:], p.Payload)
}

// decoder turns inner bytes into a Packet without allocating: strings are
// interned, destinations go to a fixed array. One goroutine owns it.
type decoder struct {
	names map[string]string
	dests [MaxDests]string
	p     Packet
}

// maxInterned bounds the intern table; it is emptied when full.
const maxInterned = 4096

func newDecoder() *decoder { return &decoder{names: make(map[string]string)} }

func (d *decoder) intern(b []byte) string {
	if s, ok := d.names[string(b)]; ok {
		return s
	}
	if len(d.names) >= maxInterned {
		clear(d.names)
	}
	s := string(b)
	d.names[s] = s
	return s
}

// str reads a length-prefixed string at b[n:].
func (d *decoder) str(b []byte, n int, empty bool) (string, int, error) {
	if n >= len(b) {
		return "", 0, ErrMalformed
	}
	l := int(b[n])
	if n+1+l > len(b) || (l == 0 && !empty) {
		return "", 0, ErrMalformed
	}
	return d.intern(b[n+1 : n+1+l]), n + 1 + l, nil
}

// decodeData parses a media or feedback inner packet into d.p, whose
// Payload aliases b. It returns the link sequence number and the flags.
func (d *decoder) decodeData(b []byte) (seq uint32, flags byte, err error) {
	if len(b) < dataFixed || (PacketType(b[0]) != TypeMedia && PacketType(b[0]) != TypeFeedback) {
		return 0, 0, ErrMalformed
	}
	p := &d.p
	p.Type, flags, p.Hops, p.Stream.Layer = PacketType(b[0]), b[1], b[2], b[3]
	seq = binary.BigEndian.Uint32(b[4:])
	n := 8
	if p.Namespace, n, err = d.str(b, n, true); err != nil {
		return 0, 0, err
	}
	if p.Room, n, err = d.str(b, n, true); err != nil {
		return 0, 0, err
	}
	if p.Stream.Track, n, err = d.str(b, n, true); err != nil {
		return 0, 0, err
	}
	if p.Origin, n, err = d.str(b, n, false); err != nil {
		return 0, 0, err
	}
	if n >= len(b) {
		return 0, 0, ErrMalformed
	}
	nd := int(b[n])
	n++
	if nd == 0 || nd > MaxDests {
		return 0, 0, ErrMalformed
	}
	for i := range nd {
		if d.dests[i], n, err = d.str(b, n, false); err != nil {
			return 0, 0, err
		}
	}
	p.Dests = d.dests[:nd]
	p.Payload = b[n:]
	return seq, flags, nil
}

// probe is a probe or a probe reply.
type probe struct {
	reply bool
	// loss is the sender's measured receive loss from the receiver,
	// scaled to 0..65535.
	loss uint16
	id   uint32
	// time is the prober's clock (echoed unchanged in a reply).
	time int64
	// sent is the highest link sequence number the sender has sent on
	// this link, if hasSent.
	sent    uint32
	hasSent bool
}

func putProbe(b []byte, pr *probe) int {
	b[0] = byte(TypeProbe)
	if pr.reply {
		b[0] = byte(TypeProbeReply)
	}
	b[1] = 0
	if pr.hasSent {
		b[1] = flagHasSent
	}
	binary.BigEndian.PutUint16(b[2:], pr.loss)
	binary.BigEndian.PutUint32(b[4:], pr.id)
	binary.BigEndian.PutUint64(b[8:], uint64(pr.time))
	binary.BigEndian.PutUint32(b[16:], pr.sent)
	return probeLen
}

func parseProbe(b []byte) (probe, error) {
	if len(b) != probeLen || (PacketType(b[0]) != TypeProbe && PacketType(b[0]) != TypeProbeReply) {
		return probe{}, ErrMalformed
	}
	return probe{
		reply:   PacketType(b[0]) == TypeProbeReply,
		hasSent: b[1]&flagHasSent != 0,
		loss:    binary.BigEndian.Uint16(b[2:]),
		id:      binary.BigEndian.Uint32(b[4:]),
		time:    int64(binary.BigEndian.Uint64(b[8:])),
		sent:    binary.BigEndian.Uint32(b[16:]),
	}, nil
}

// nackEntries validates a NACK and returns its entry count; entry i is at
// b[nackHead+i*nackEntrySize:]: a sequence number and a mask of the 16 after it.
func nackEntries(b []byte) (int, error) {
	if len(b) < nackHead || PacketType(b[0]) != TypeNACK {
		return 0, ErrMalformed
	}
	n := int(binary.BigEndian.Uint16(b[2:]))
	if n == 0 || n > maxNACKEntries || len(b) != nackHead+n*nackEntrySize {
		return 0, ErrMalformed
	}
	return n, nil
}

func nackEntry(b []byte, i int) (seq uint32, mask uint16) {
	e := b[nackHead+i*nackEntrySize:]
	return binary.BigEndian.Uint32(e), binary.BigEndian.Uint16(e[4:])
}

// fecHeader describes one parity shard.
type fecHeader struct {
	k, m, index int
	shardLen    int
	base        uint32
}

func putFECHeader(b []byte, h *fecHeader) int {
	b[0] = byte(TypeFEC)
	b[1] = 0
	b[2], b[3], b[4], b[5] = byte(h.k), byte(h.m), byte(h.index), 0
	binary.BigEndian.PutUint16(b[6:], uint16(h.shardLen))
	binary.BigEndian.PutUint32(b[8:], h.base)
	return fecHead
}

func parseFEC(b []byte) (fecHeader, []byte, error) {
	if len(b) < fecHead || PacketType(b[0]) != TypeFEC {
		return fecHeader{}, nil, ErrMalformed
	}
	h := fecHeader{k: int(b[2]), m: int(b[3]), index: int(b[4]),
		shardLen: int(binary.BigEndian.Uint16(b[6:])), base: binary.BigEndian.Uint32(b[8:])}
	if h.k == 0 || h.k > maxFECData || h.m == 0 || h.m > maxFECParity || h.index >= h.m ||
		h.shardLen < 3 || h.shardLen > maxShard || len(b) != fecHead+h.shardLen {
		return fecHeader{}, nil, ErrMalformed
	}
	return h, b[fecHead:], nil
}
