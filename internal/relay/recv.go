package relay

import (
	"crypto/cipher"
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
	dropUnverified                    // a new epoch of the peer not yet proven fresh by a probe round trip
	dropHopLimit                      // crossed more than MaxHops links
	dropInvalid                       // authenticated but its inner packet is malformed
	dropDuplicate                     // link packet already delivered
	dropStale                         // link packet older than the receive window
	numDropReasons
)

var dropNames = [numDropReasons]string{"malformed", "unknown_peer", "auth", "replay", "unverified", "hop_limit", "invalid", "duplicate", "stale"}

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
	now := t.now()
	aead := p.recvAEAD
	if o.epoch > p.epoch {
		if aead = t.epochKey(p, o.epoch, now); aead == nil {
			t.drop(dropUnverified)
			return
		}
	}
	putNonce(&p.recvNonce, o.counter)
	ct := b[o.hdrLen:]
	inner, err := aead.Open(ct[:0], p.recvNonce[:], ct, b[:o.hdrLen])
	if err != nil {
		if o.epoch > p.epoch {
			p.failedDerive = now
		}
		t.drop(dropAuth)
		return
	}
	if o.epoch > p.epoch {
		p.recvAEAD = aead
		t.newEpoch(p, o.epoch, now)
	}
	p.replay.accept(o.counter)
	p.counters.pktsIn.Add(1)
	p.counters.bytesIn.Add(uint64(len(b)))
	if !p.verified && !t.verify(p, inner, o.counter, now) {
		return
	}
	p.lastHeard.Store(now)
	t.dispatch(p, inner, now)
}

// dispatch handles an authenticated inner packet of a verified epoch.
func (t *Transport) dispatch(p *peer, inner []byte, now int64) {
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

// deriveEvery bounds how often datagrams claiming a new epoch of a peer
// may cost a key derivation after one that failed authentication (ns): a
// forger cannot make the receiver derive keys at line rate, and a genuine
// restart is delayed only if forgeries arrived just before it.
const deriveEvery = 10e6

// epochKey returns the receive key of a newer epoch of p, or nil when a
// derivation for a forged epoch was made too recently.
func (t *Transport) epochKey(p *peer, epoch uint64, now int64) cipher.AEAD {
	if p.nextAEAD != nil && p.nextEpoch == epoch {
		return p.nextAEAD
	}
	if p.failedDerive != 0 && now-p.failedDerive < deriveEvery {
		return nil
	}
	aead, err := linkAEAD(t.cfg.Secret, p.id, t.cfg.NodeID, epoch)
	if err != nil {
		return nil
	}
	p.nextEpoch, p.nextAEAD = epoch, aead
	return aead
}

// newEpoch starts over with a peer heard for the first time or
// restarted: a new counter space and link sequence. Until a probe round
// trip proves the epoch live (verify), nothing from it is accepted but
// probes, so datagrams recorded earlier cannot be replayed into a
// receiver that lost its replay window by restarting.
func (t *Transport) newEpoch(p *peer, epoch uint64, now int64) {
	if p.epoch != 0 {
		t.log.Info("relay peer restarted", "peer", p.id)
	}
	p.epoch, p.replay, p.verified = epoch, replayWindow{}, false
	p.challenge = t.stamp(now)
	p.droppedData = false
	p.recvMu.Lock()
	p.win = dataWindow{}
	p.recvMu.Unlock()
	p.fecRx = fecReceiver{}
	t.sendProbe(p, now)
}

// verify handles a datagram of an unverified epoch: probes are answered;
// a reply to a probe sent after the epoch appeared verifies it, and
// nothing older than that reply is accepted afterwards. It reports
// whether the datagram is to be processed.
func (t *Transport) verify(p *peer, inner []byte, counter uint64, now int64) bool {
	switch innerType(inner) {
	case TypeProbe:
		// Answered (harmless if replayed) but not proof the peer is alive.
		t.receiveProbe(p, inner, now)
		return false
	case TypeProbeReply:
		pr, err := parseProbe(inner)
		if err != nil || pr.time < p.challenge {
			t.drop(dropUnverified)
			return false
		}
		p.verified = true
		p.replay.floor = counter
		p.recvMu.Lock()
		if pr.hasSent {
			// Data dropped while unverifying is asked for again.
			lo := pr.sent + 1
			if p.droppedData && int32(pr.sent-p.droppedMin) >= 0 && pr.sent-p.droppedMin < 256 {
				lo = p.droppedMin
			}
			p.win.started, p.win.highest = true, int64(lo)-1
			p.win.advance(int64(pr.sent), now)
			p.win.sampleBase = p.win.highest // not losses of the link
		}
		p.recvMu.Unlock()
		t.log.Debug("relay peer verified", "peer", p.id)
		return true
	case TypeMedia, TypeFeedback:
		if len(inner) >= 8 {
			seq := uint32(inner[4])<<24 | uint32(inner[5])<<16 | uint32(inner[6])<<8 | uint32(inner[7])
			if !p.droppedData || int32(seq-p.droppedMin) < 0 {
				p.droppedData, p.droppedMin = true, seq
			}
		}
	}
	t.drop(dropUnverified)
	return false
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
	verdict, lost, gap := arriveStale, 0, false
	if s >= 0 {
		gap = p.win.started && s > p.win.highest+1
		verdict, lost = p.win.arrive(s, flags&flagRTX == 0, now)
		p.win.fecActive = flags&flagFEC != 0
	}
	p.recvMu.Unlock()
	p.counters.lost.Add(uint64(lost))
	if gap && flags&flagFEC == 0 {
		// No FEC to wait for: ask at once, recovery costs one RTT.
		t.nackNow(p, now, 0)
	}
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
	t.dec.p.via = viaOriginal
	if flags&flagRTX != 0 {
		t.dec.p.via = viaRTX
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
	g := p.fecRx.parity(&h, base, shard)
	t.recoverFEC(p, g, now)
	if h.index == h.m-1 && !g.done {
		// The group's last parity is in and it still lacks packets: NACK
		// them now rather than after the FEC wait.
		p.recvMu.Lock()
		p.win.expedite(base, base+int64(h.k)-1)
		p.recvMu.Unlock()
		t.nackNow(p, now, nackDelayFEC)
	}
}

// nackNow sends, from the receive goroutine, a NACK of what is due.
func (t *Transport) nackNow(p *peer, now, delay int64) {
	if t.cfg.noNACK {
		return
	}
	p.recvMu.Lock()
	n, asked := p.win.nack(p.rxNACK[:], now, delay, p.nackRetry(), nackTries)
	p.recvMu.Unlock()
	if n > 0 {
		p.counters.nacksSent.Add(uint64(asked))
		p.sendControl(func(b []byte) int { return copy(b, p.rxNACK[:n]) })
	}
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
		t.dec.p.via = viaFEC
		t.handler.HandleRelay(p.id, &t.dec.p)
	}
}
