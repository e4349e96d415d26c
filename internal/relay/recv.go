package relay

import (
	"errors"
	"net"
	"net/netip"
	"time"
)

// dropReason counts datagrams refused, by why.
type dropReason int

const (
	dropMalformed   dropReason = iota // not a relay datagram of this version
	dropUnknownPeer                   // sender is not a peer
	dropAuth                          // failed authentication (forged, wrong key, corrupted)
	dropReplay                        // counter already seen, too old, or an old epoch
	dropHopLimit                      // crossed more than MaxHops links
	dropInvalid                       // authenticated but its inner packet is malformed
	dropDuplicate                     // link packet already delivered
	dropStale                         // link packet older than the receive window
	numDropReasons
)

var dropNames = [numDropReasons]string{"malformed", "unknown_peer", "auth", "replay", "hop_limit", "invalid", "duplicate", "stale"}

func (t *Transport) drop(r dropReason) { t.drops[r].Add(1) }

// readLoop is the receive goroutine.
func (t *Transport) readLoop() {
	defer t.wg.Done()
	buf := make([]byte, maxDatagram)
	for {
		n, from, err := t.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if t.closing.Load() {
				return
			}
			t.log.Debug("relay read", "err", err)
			time.Sleep(time.Millisecond) // a persistent error must not spin
			continue
		}
		t.receive(buf[:n], from)
	}
}

// receive authenticates, decrypts and dispatches one datagram. Nothing
// past the clear header is read before authentication succeeds.
func (t *Transport) receive(b []byte, _ netip.AddrPort) {
	o, err := parseOuter(b)
	if err != nil {
		t.drop(dropMalformed)
		return
	}
	p := (*t.peers.Load())[string(o.sender)]
	if p == nil {
		t.drop(dropUnknownPeer)
		return
	}
	if o.epoch < p.epoch || (o.epoch == p.epoch && !p.replay.check(o.counter)) || o.counter == 0 {
		t.drop(dropReplay)
		return
	}
	putNonce(&p.recvNonce, o.epoch, o.counter)
	ct := b[o.hdrLen:]
	inner, err := p.recvAEAD.Open(ct[:0], p.recvNonce[:], ct, b[:o.hdrLen])
	if err != nil {
		t.drop(dropAuth)
		return
	}
	now := t.now()
	if o.epoch > p.epoch {
		// The peer (re)started: a new counter space and link sequence.
		if p.epoch != 0 {
			t.log.Info("relay peer restarted", "peer", p.id)
		}
		p.epoch, p.replay = o.epoch, replayWindow{}
		p.recvMu.Lock()
		p.win = dataWindow{}
		p.recvMu.Unlock()
		p.fecRx = fecReceiver{}
	}
	p.replay.accept(o.counter)
	p.lastHeard.Store(now)
	p.counters.pktsIn.Add(1)
	p.counters.bytesIn.Add(uint64(len(b)))
	switch innerType(inner) {
	case TypeMedia, TypeFeedback:
		t.receiveData(p, inner, now)
	case TypeProbe, TypeProbeReply:
		t.receiveProbe(p, inner, now)
	case TypeNACK:
		n, err := nackEntries(inner)
		if err != nil {
			t.drop(dropInvalid)
			return
		}
		p.retransmit(inner, n)
	case TypeFEC:
		t.receiveFEC(p, inner, now)
	default:
		t.drop(dropInvalid)
	}
}

// receiveData delivers a media/feedback packet unless it is a duplicate.
func (t *Transport) receiveData(p *peer, inner []byte, now int64) {
	seq, flags, err := t.dec.decodeData(inner)
	if err != nil {
		t.drop(dropInvalid)
		return
	}
	if t.dec.p.Hops == 0 || t.dec.p.Hops > t.cfg.MaxHops {
		t.drop(dropHopLimit)
		return
	}
	p.recvMu.Lock()
	s := p.win.unwrap(seq)
	verdict, lost := arriveStale, 0
	if s >= 0 {
		verdict, lost = p.win.arrive(s, flags&flagRTX == 0, now)
		p.win.fecActive = flags&flagFEC != 0
	}
	p.recvMu.Unlock()
	p.counters.lost.Add(uint64(lost))
	switch verdict {
	case arriveDuplicate:
		t.drop(dropDuplicate)
		return
	case arriveStale:
		t.drop(dropStale)
		return
	}
	if flags&flagFEC != 0 {
		p.fecRx.keep(s, inner)
	}
	t.handler.HandleRelay(p.id, &t.dec.p)
	if flags&flagFEC != 0 {
		t.recoverFEC(p, p.fecRx.group(s), now)
	}
}

// receiveFEC stores a parity shard and rebuilds what it can.
func (t *Transport) receiveFEC(p *peer, inner []byte, now int64) {
	h, shard, err := parseFEC(inner)
	if err != nil {
		t.drop(dropInvalid)
		return
	}
	p.recvMu.Lock()
	base := p.win.unwrap(h.base)
	p.recvMu.Unlock()
	if base < 0 {
		t.drop(dropStale)
		return
	}
	t.recoverFEC(p, p.fecRx.parity(&h, base, shard), now)
}

// recoverFEC delivers the packets group g lets us rebuild.
func (t *Transport) recoverFEC(p *peer, g *fecGroup, now int64) {
	rebuilt := p.fecRx.recover(&t.codecs, g, t.rebuilt[:0])
	for _, s := range rebuilt {
		sl := &p.fecRx.store[s%fecStore]
		inner := sl.buf[2 : 2+sl.n]
		seq, _, err := t.dec.decodeData(inner)
		if err != nil || int64(seq) != s&0xffffffff {
			t.drop(dropInvalid)
			continue
		}
		if t.dec.p.Hops == 0 || t.dec.p.Hops > t.cfg.MaxHops {
			t.drop(dropHopLimit)
			continue
		}
		p.recvMu.Lock()
		verdict, _ := p.win.arrive(s, false, now)
		p.recvMu.Unlock()
		if verdict != arriveNew && verdict != arriveRecovered {
			continue
		}
		p.counters.fecRecovered.Add(1)
		t.handler.HandleRelay(p.id, &t.dec.p)
	}
}
