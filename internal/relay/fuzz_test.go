package relay

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
)

// seedInner returns one inner packet of each type.
func seedInner() [][]byte {
	var out [][]byte
	p := media(9, "b", "c")
	b := make([]byte, maxInner)
	out = append(out, slices.Clone(b[:putData(b, p, 1, 77, flagFEC)]))
	p.Type, p.Payload = TypeFeedback, []byte{0x81, 0xce, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2}
	out = append(out, slices.Clone(b[:putData(b, p, 3, 0xfffffffe, flagRTX)]))
	out = append(out, slices.Clone(b[:putProbe(b, &probe{id: 4, time: 123456, loss: 999, sent: 76, hasSent: true})]))
	out = append(out, slices.Clone(b[:putProbe(b, &probe{reply: true, id: 4, time: 123456})]))
	nack := []byte{byte(TypeNACK), 0, 0, 2, 0, 0, 0, 5, 0x80, 0x01, 0, 0, 0, 40, 0, 0}
	out = append(out, nack)
	n := putFECHeader(b, &fecHeader{k: 3, m: 2, index: 1, shardLen: 20, base: 70})
	out = append(out, slices.Clone(b[:n+20]))
	out = append(out, []byte{}, []byte{byte(TypeMedia)}, []byte{byte(TypeFEC), 0, 0, 0})
	return out
}

// FuzzDecodeHeader: the clear header parser never panics and never
// reports a header longer than the datagram.
func FuzzDecodeHeader(f *testing.F) {
	b := make([]byte, 64)
	n := putOuter(b, "sfu-eu-1", 1<<60, 42)
	f.Add(append(b[:n:n], make([]byte, 40)...))
	f.Add([]byte{1, 0, 0})
	f.Add([]byte{1, 0, 255, 1, 2})
	f.Fuzz(func(t *testing.T, d []byte) {
		o, err := parseOuter(d)
		if err != nil {
			return
		}
		if o.hdrLen+tagSize >= len(d) || len(o.sender) == 0 || !bytes.Equal(d[3:3+len(o.sender)], o.sender) {
			t.Fatalf("header %+v of a %d-byte datagram", o, len(d))
		}
	})
}

// FuzzDecodeInner: the inner parsers never panic, and a media/feedback
// packet that parses re-encodes to the same bytes.
func FuzzDecodeInner(f *testing.F) {
	for _, s := range seedInner() {
		f.Add(s)
	}
	dec := newDecoder()
	out := make([]byte, maxDatagram)
	f.Fuzz(func(t *testing.T, b []byte) {
		if seq, flags, err := dec.decodeData(b); err == nil {
			p := dec.p
			if _, err := dataLen(&p); err != nil {
				return // parses but is larger than Send would make it
			}
			n := putData(out, &p, p.Hops, seq, flags)
			if !bytes.Equal(out[:n], b) {
				t.Fatalf("round trip:\n in %x\nout %x", b, out[:n])
			}
		}
		_, _ = parseProbe(b)
		if n, err := nackEntries(b); err == nil {
			for i := range n {
				nackEntry(b, i)
			}
		}
		if h, shard, err := parseFEC(b); err == nil && len(shard) != h.shardLen {
			t.Fatalf("fec %+v with a %d-byte shard", h, len(shard))
		}
	})
}

// FuzzReceive seals arbitrary inner packets under the right key and feeds
// them to a transport: whatever an authenticated (or compromised) peer
// sends, the receiver must not panic.
func FuzzReceive(f *testing.F) {
	for _, s := range seedInner() {
		f.Add(s, uint32(1))
	}
	h := newSink()
	tr := listen(f, "b", h, nil)
	tr.SetPeer("a", netip.MustParseAddrPort("127.0.0.1:9")) // replies go nowhere
	// Skip the epoch's probe round trip: every input reaches the parsers.
	assumeVerified(f, tr, "a", 1)
	aead, err := linkAEAD(testSecret, "a", "b", 1)
	if err != nil {
		f.Fatal(err)
	}
	var counter uint64
	var nonce [nonceSize]byte
	buf := make([]byte, maxDatagram+tagSize)
	f.Fuzz(func(t *testing.T, inner []byte, seqHint uint32) {
		if len(inner) > maxDatagram-outerFixed-1-tagSize {
			return
		}
		// Let the fuzzer steer the link sequence of data packets.
		if len(inner) >= 8 && (PacketType(inner[0]) == TypeMedia || PacketType(inner[0]) == TypeFeedback) {
			binary.BigEndian.PutUint32(inner[4:], binary.BigEndian.Uint32(inner[4:])^seqHint)
		}
		counter++
		n := putOuter(buf, "a", 1, counter)
		putNonce(&nonce, counter)
		ct := aead.Seal(buf[n:n], nonce[:], inner, buf[:n])
		tr.receive(buf[:n+len(ct)], netip.AddrPort{})
	})
}
