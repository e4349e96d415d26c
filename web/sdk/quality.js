// Connection quality per participant, judged every interval from the
// PeerConnection's statistics: for another participant, the loss, jitter
// and arrival of the media received from it; for this client, the loss
// and round-trip time the server reports for what it sends.

/**
 * Grades loss (percent), jitter and round-trip time (ms).
 * @param {{loss: number, jitter?: number, rtt?: number}} m
 * @returns {'excellent'|'good'|'poor'}
 */
export function grade({ loss, jitter = 0, rtt = 0 }) {
  if (loss > 10 || jitter > 100 || rtt > 500) return 'poor';
  if (loss > 2 || jitter > 30 || rtt > 200) return 'good';
  return 'excellent';
}

export class QualityMonitor {
  /**
   * @param {any} room the Room
   * @param {number} interval ms
   */
  constructor(room, interval = 2000) {
    this._room = room;
    this._interval = interval;
    this._timer = null;
    /** @type {Map<string, {packets: number, lost: number}>} by inbound-rtp id */
    this._prevIn = new Map();
    this._prevOut = { packets: 0, lost: 0 };
    this.local = 'unknown';
    this._busy = false;
  }

  start() {
    if (this._timer) return;
    this._timer = setInterval(() => this._tick(), this._interval);
  }

  stop() {
    clearInterval(this._timer);
    this._timer = null;
  }

  async _tick() {
    const pc = this._room.peerConnection;
    if (!pc || this._busy) return;
    this._busy = true;
    try {
      this._judge(await pc.getStats(), pc.iceConnectionState);
    } catch {
      // the PeerConnection closed meanwhile
    } finally {
      this._busy = false;
    }
  }

  _judge(report, iceState) {
    const room = this._room;
    const byMid = room.session?.byMid ?? new Map();
    /** @type {Map<any, {packets: number, lost: number, jitter: number, expected: boolean}>} */
    const per = new Map();
    let outPackets = 0;
    let outLost = 0;
    let rtt;
    report.forEach((s) => {
      if (s.type === 'inbound-rtp') {
        const track = byMid.get(s.mid);
        if (!track) return;
        const prev = this._prevIn.get(s.id) ?? { packets: 0, lost: 0 };
        const cur = { packets: s.packetsReceived ?? 0, lost: Math.max(0, s.packetsLost ?? 0) };
        this._prevIn.set(s.id, cur);
        const agg = per.get(track.participant) ?? { packets: 0, lost: 0, jitter: 0, expected: false };
        agg.packets += Math.max(0, cur.packets - prev.packets);
        agg.lost += Math.max(0, cur.lost - prev.lost);
        agg.jitter = Math.max(agg.jitter, (s.jitter ?? 0) * 1000);
        agg.expected ||= !track.muted;
        per.set(track.participant, agg);
      } else if (s.type === 'outbound-rtp') {
        outPackets += s.packetsSent ?? 0;
      } else if (s.type === 'remote-inbound-rtp') {
        outLost += Math.max(0, s.packetsLost ?? 0);
        if (s.roundTripTime !== undefined) rtt = Math.max(rtt ?? 0, s.roundTripTime * 1000);
      }
    });
    const down = iceState === 'disconnected' || iceState === 'failed';
    for (const p of room.participants.values()) {
      const m = per.get(p);
      let q = 'unknown';
      if (down && m) q = 'lost';
      else if (m && m.packets === 0 && m.expected) q = 'lost';
      else if (m && m.packets > 0) q = grade({ loss: (100 * m.lost) / (m.lost + m.packets), jitter: m.jitter });
      this._set(p, q);
    }
    const sent = outPackets - this._prevOut.packets;
    const lost = outLost - this._prevOut.lost;
    this._prevOut = { packets: outPackets, lost: outLost };
    let local = 'unknown';
    if (down) local = 'lost';
    else if (sent > 0 || rtt !== undefined) local = grade({ loss: sent + lost > 0 ? (100 * Math.max(0, lost)) / (sent + Math.max(0, lost)) : 0, rtt });
    if (local !== this.local) {
      this.local = local;
      room.emit('connectionQualityChanged', local, null);
    }
  }

  _set(p, q) {
    if (p.connectionQuality === q) return;
    p.connectionQuality = q;
    this._room.emit('connectionQualityChanged', q, p);
  }
}
