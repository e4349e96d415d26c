package relay

import (
	"math"
	"sync/atomic"
	"time"
)

// Timer work, every tickInterval: NACKs, FEC groups that waited long
// enough, probes, link state.
const (
	tickInterval = 5 * time.Millisecond
	// nackDelay is how long a gap waits for reordered packets before the
	// first NACK (longer when FEC may rebuild it).
	nackDelay    = 3e6
	nackDelayFEC = fecMaxDelay + 10e6
	// nackRetryMin is the least time between two NACKs of one packet.
	nackRetryMin = 10e6
	nackTries    = 8
)

func (t *Transport) tickLoop() {
	defer t.wg.Done()
	tk := time.NewTicker(tickInterval)
	defer tk.Stop()
	type change struct {
		peer string
		up   bool
	}
	var changes []change
	for {
		select {
		case <-t.done:
			return
		case <-tk.C:
		}
		now := t.now()
		changes = changes[:0]
		for _, p := range *t.peers.Load() {
			t.tickPeer(p, now)
			heard := p.lastHeard.Load()
			up := heard != 0 && now-heard < int64(t.cfg.DownAfter)
			if p.up.Swap(up) != up {
				changes = append(changes, change{p.id, up})
			}
		}
		for _, c := range changes {
			t.log.Info("relay link", "peer", c.peer, "up", c.up)
			if t.cfg.OnLinkState != nil {
				t.cfg.OnLinkState(c.peer, c.up)
			}
		}
	}
}

func (t *Transport) tickPeer(p *peer, now int64) {
	p.flushFECIfOld(now)
	retry := p.nackRetry()
	p.recvMu.Lock()
	delay := int64(nackDelay)
	if p.win.fecActive {
		delay = nackDelayFEC
	}
	n, asked := 0, 0
	if !t.cfg.noNACK {
		n, asked = p.win.nack(p.nackBuf[:], now, delay, retry, nackTries)
	}
	p.recvMu.Unlock()
	if n > 0 {
		p.counters.nacksSent.Add(uint64(asked))
		p.sendControl(func(b []byte) int { return copy(b, p.nackBuf[:n]) })
	}
	if now < p.nextProbe {
		return
	}
	p.nextProbe = now + int64(t.cfg.ProbeInterval)
	p.recvMu.Lock()
	sample, expected := p.win.lossSample()
	p.recvMu.Unlock()
	loss := loadFloat(&p.lossIn)
	if expected > 0 {
		// Weight a sample by how many packets it covers: a busy link's
		// estimate follows quickly, a probe-only link's slowly.
		w := float64(expected) / float64(expected+32)
		loss += w * (sample - loss)
		storeFloat(&p.lossIn, loss)
	}
	t.sendProbe(p, now)
}

// sendProbe sends a probe; its time is the transport's stamp, unique
// across restarts, so a reply proves a round trip made now.
func (t *Transport) sendProbe(p *peer, now int64) {
	loss := scaleLoss(loadFloat(&p.lossIn))
	p.sendControl(func(b []byte) int {
		p.probeID++
		return putProbe(b, &probe{id: p.probeID, time: t.stamp(now), loss: loss,
			sent: p.seq - 1, hasSent: p.sentAny})
	})
}

// stamp turns the monotonic clock into a time that grows across restarts
// of this node (its epoch is its start time).
func (t *Transport) stamp(now int64) int64 { return int64(t.epoch) + now }

// receiveProbe answers a probe, takes an RTT sample from a reply, and
// reads the peer's view of our loss and of what we should have received.
func (t *Transport) receiveProbe(p *peer, inner []byte, now int64) {
	pr, err := parseProbe(inner)
	if err != nil {
		t.drop(dropInvalid)
		return
	}
	loss := float64(pr.loss) / math.MaxUint16
	storeFloat(&p.lossOut, loss)
	if t.cfg.FEC == FECAuto && int32(fecParity(fecData, loss)) != p.fecM.Load() {
		p.setFEC(loss)
	}
	if pr.reply {
		if rtt := t.stamp(now) - pr.time; pr.time > int64(t.epoch) && rtt >= 0 && rtt < int64(time.Minute) {
			p.sampleRTT(rtt)
		}
		return
	}
	p.recvMu.Lock()
	p.win.probe(pr.id)
	lost := 0
	if pr.hasSent && p.win.started {
		if s := p.win.unwrap(pr.sent); s >= 0 {
			lost = p.win.advance(s, now)
		}
	}
	lossIn := scaleLoss(loadFloat(&p.lossIn))
	p.recvMu.Unlock()
	p.counters.lost.Add(uint64(lost))
	p.sendControl(func(b []byte) int {
		return putProbe(b, &probe{reply: true, id: pr.id, time: pr.time, loss: lossIn,
			sent: p.seq - 1, hasSent: p.sentAny})
	})
}

// nackRetry is the wait before asking again for a packet: a little more
// than a round trip.
func (p *peer) nackRetry() int64 { return max(nackRetryMin, p.rtt.Load()*5/4+2e6) }

// sampleRTT smooths RTT samples as TCP does (RFC 6298): jitter is the
// smoothed deviation of the samples.
func (p *peer) sampleRTT(rtt int64) {
	srtt := p.rtt.Load()
	if srtt == 0 {
		p.rtt.Store(max(rtt, 1))
		return
	}
	dev := max(rtt-srtt, srtt-rtt)
	p.jitter.Store(p.jitter.Load() + (dev-p.jitter.Load())/4)
	p.rtt.Store(srtt + (rtt-srtt)/8)
}

func scaleLoss(f float64) uint16 { return uint16(math.Round(min(1, max(0, f)) * math.MaxUint16)) }

func loadFloat(a *atomic.Uint64) float64     { return math.Float64frombits(a.Load()) }
func storeFloat(a *atomic.Uint64, f float64) { a.Store(math.Float64bits(f)) }
func durationOf(ns int64) time.Duration      { return time.Duration(ns) }
