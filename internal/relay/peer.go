package relay

import (
	"crypto/cipher"
	"net/netip"
	"sync"
	"sync/atomic"
)

// peer is the link to one relay peer. Lock order: sendMu and recvMu are
// never held together; neither is held while calling the Handler or
// OnLinkState.
type peer struct {
	id string
	t  *Transport

	// Send side, guarded by sendMu (Send, retransmissions, probes and
	// NACKs from the timer, probe replies from the receive goroutine).
	sendMu    sync.Mutex
	addr      netip.AddrPort
	sendAEAD  cipher.AEAD
	sendNonce [nonceSize]byte
	counter   uint64 // last nonce counter used
	seq       uint32 // next link sequence number
	sentAny   bool
	cache     []cacheSlot
	buf       [maxDatagram]byte
	fecTx     fecSender
	probeID   uint32

	// Receive side owned by the receive goroutine.
	recvAEAD  cipher.AEAD
	recvNonce [nonceSize]byte
	// The key of a newer epoch, and when one failed authentication.
	nextEpoch    uint64
	nextAEAD     cipher.AEAD
	failedDerive int64
	epoch        uint64 // the peer's current epoch; 0: none yet
	verified     bool   // a probe round trip proved the epoch live
	challenge    int64  // stamp of the first probe that can verify it
	// Data dropped while unverified: the oldest link sequence number.
	droppedData bool
	droppedMin  uint32
	replay      replayWindow
	fecRx       fecReceiver
	rxNACK      [nackHead + maxNACKEntries*nackEntrySize]byte

	// Receive state shared with the timer goroutine.
	recvMu sync.Mutex
	win    dataWindow

	// Timer goroutine only.
	nextProbe int64
	nackBuf   [nackHead + maxNACKEntries*nackEntrySize]byte

	// Read anywhere.
	lastHeard atomic.Int64 // transport clock (ns); 0: never
	up        atomic.Bool
	rtt       atomic.Int64 // ns; 0: no sample yet
	jitter    atomic.Int64
	lossOut   atomic.Uint64 // float64 bits
	lossIn    atomic.Uint64
	fecM      atomic.Int32
	counters  linkCounters
}

// linkCounters are the per-link totals exported by Links and /metrics.
type linkCounters struct {
	pktsOut, pktsIn, bytesOut, bytesIn atomic.Uint64
	nacksSent, nacksRecv, rtx          atomic.Uint64
	fecSent, fecRecovered, lost        atomic.Uint64
}

// cacheSlot holds one sent media/feedback packet for retransmission and
// FEC: buf is a 2-byte length, then the inner packet (a FEC data shard).
type cacheSlot struct {
	seq   uint32
	valid bool
	n     int // inner length
	buf   []byte
}

func newPeer(t *Transport, id string, addr netip.AddrPort) (*peer, error) {
	send, err := linkAEAD(t.cfg.Secret, t.cfg.NodeID, id, t.epoch)
	if err != nil {
		return nil, err
	}
	p := &peer{id: id, t: t, addr: addr, sendAEAD: send,
		cache: make([]cacheSlot, t.cfg.CacheSize)}
	p.fecTx.k = fecData
	return p, nil
}

// writeLocked seals the n inner bytes at p.buf[t.hdrLen:] and sends the
// datagram. sendMu is held.
func (p *peer) writeLocked(n int) error {
	t := p.t
	p.counter++
	h := putOuter(p.buf[:], t.cfg.NodeID, t.epoch, p.counter)
	putNonce(&p.sendNonce, p.counter)
	ct := p.sendAEAD.Seal(p.buf[h:h], p.sendNonce[:], p.buf[h:h+n], p.buf[:h])
	m := h + len(ct)
	if !p.addr.IsValid() {
		return ErrUnknownPeer
	}
	if _, err := t.conn.WriteToUDPAddrPort(p.buf[:m], p.addr); err != nil {
		return err
	}
	p.counters.pktsOut.Add(1)
	p.counters.bytesOut.Add(uint64(m))
	return nil
}

// send sends a media or feedback packet as the next link packet.
func (p *peer) send(pk *Packet) error {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	seq := p.seq
	p.seq++
	p.sentAny = true
	var flags byte
	fec := p.fecTx.begin(seq, p.t.now())
	if fec {
		flags = flagFEC
	}
	s := p.slot(seq)
	s.n = putData(s.buf[2:], pk, pk.Hops+1, seq, flags)
	s.buf[0], s.buf[1] = byte(s.n>>8), byte(s.n)
	h := p.t.hdrLen
	copy(p.buf[h:], s.buf[2:2+s.n])
	err := p.writeLocked(s.n)
	if fec && p.fecTx.add(s.n) {
		p.flushFECLocked()
	}
	return err
}

// slot returns the cache slot for seq, set to hold it.
func (p *peer) slot(seq uint32) *cacheSlot {
	s := &p.cache[seq&uint32(len(p.cache)-1)]
	if s.buf == nil {
		s.buf = make([]byte, maxShard)
	}
	s.seq, s.valid = seq, true
	return s
}

// retransmit resends the cached packets a NACK asks for.
func (p *peer) retransmit(nack []byte, entries int) {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	h := p.t.hdrLen
	for i := range entries {
		seq, mask := nackEntry(nack, i)
		for j := 0; j <= 16; j++ {
			if j > 0 && mask&(1<<(j-1)) == 0 {
				continue
			}
			s := seq + uint32(j)
			p.counters.nacksRecv.Add(1)
			c := &p.cache[s&uint32(len(p.cache)-1)]
			if !c.valid || c.seq != s || !p.sentAny || int32(p.seq-1-s) < 0 {
				continue
			}
			copy(p.buf[h:], c.buf[2:2+c.n])
			p.buf[h+1] |= flagRTX
			if p.writeLocked(c.n) == nil {
				p.counters.rtx.Add(1)
			}
		}
	}
}

// sendControl sends a probe, probe reply or NACK built by fill into the
// inner area; fill returns the inner length.
func (p *peer) sendControl(fill func(b []byte) int) {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	n := fill(p.buf[p.t.hdrLen:])
	_ = p.writeLocked(n)
}

func (p *peer) stats() LinkStats {
	p.sendMu.Lock()
	addr := p.addr
	p.sendMu.Unlock()
	c := &p.counters
	s := LinkStats{
		Peer: p.id, Addr: addr, Up: p.up.Load(),
		RTT: durationOf(p.rtt.Load()), Jitter: durationOf(p.jitter.Load()),
		LossOut: loadFloat(&p.lossOut), LossIn: loadFloat(&p.lossIn),
		FECParity: int(p.fecM.Load()), FECGroup: fecData,
		PacketsOut: c.pktsOut.Load(), PacketsIn: c.pktsIn.Load(),
		BytesOut: c.bytesOut.Load(), BytesIn: c.bytesIn.Load(),
		NACKsSent: c.nacksSent.Load(), NACKsReceived: c.nacksRecv.Load(),
		Retransmits: c.rtx.Load(), FECSent: c.fecSent.Load(), FECRecovered: c.fecRecovered.Load(), Lost: c.lost.Load(),
	}
	if s.FECParity == 0 {
		s.FECGroup = 0
	}
	if h := p.lastHeard.Load(); h != 0 {
		s.LastHeard = p.t.start.Add(durationOf(h))
	}
	return s
}
