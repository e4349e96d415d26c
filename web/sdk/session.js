// The media side of a session: one RTCPeerConnection that carries both
// directions, negotiated by client offers (docs/protocol.md). Changes are
// queued and applied one at a time; changes that arrive while an offer is
// in flight are batched into the next offer.

import { ErrorCode, RtcError } from './errors.js';

/** Encodings of a simulcast video track: three layers, rids q, h, f. */
export function simulcastEncodings() {
  return [
    { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
    { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
    { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_700_000 },
  ];
}

function deferred(extra) {
  let resolve, reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { ...extra, promise, resolve, reject };
}

export class MediaSession {
  /**
   * @param {object} o
   * @param {RTCIceServer[]} [o.iceServers]
   * @param {(msg: object, expect?: string) => Promise<object>} o.request sends a protocol request
   * @param {(msg: object) => void} o.send sends a protocol message without a reply
   * @param {(t: import('./tracks.js').RemoteTrack) => void} o.onTrack a subscription got its media
   * @param {(state: string) => void} o.onStateChange ICE connection state changes
   */
  constructor(o) {
    this._o = o;
    this.pc = new RTCPeerConnection({ iceServers: o.iceServers ?? [], bundlePolicy: 'max-bundle' });
    this._chain = Promise.resolve();
    this._pubs = [];
    this._subs = [];
    this._restarts = [];
    /** idle recvonly transceivers that may be bound again, by kind */
    this._free = { audio: [], video: [] };
    /**
     * recvonly transceivers of an offer the SFU refused, rolled back and
     * without a mid: reused by the next offer. Stopping them instead leaves
     * Chromium unable to create any later offer ("Transceiver type does not
     * match media description type").
     * @type {RTCRtpTransceiver[]}
     */
    this._spares = [];
    /** @type {Map<string, import('./tracks.js').RemoteTrack>} */
    this.byMid = new Map();
    this._offerSent = false;
    this._queuedCandidates = [];
    this._closed = false;
    this.pc.onicecandidate = (ev) => this._onCandidate(ev.candidate);
    this.pc.oniceconnectionstatechange = () => o.onStateChange(this.pc.iceConnectionState);
  }

  /** True when media flows (or there is no media to flow yet). */
  get mediaConnected() {
    const s = this.pc.iceConnectionState;
    return s === 'connected' || s === 'completed' || (s === 'new' && !this._offerSent);
  }

  /** Publishes a LocalTrack; resolves once the SFU answered. */
  publish(local) {
    const d = deferred({ local });
    this._pubs.push(d);
    this._schedule(() => this._negotiate());
    return d.promise;
  }

  /** Receives a RemoteTrack starting at layer; resolves once bound. */
  subscribe(remote, layer) {
    const d = deferred({ remote, layer });
    this._subs.push(d);
    this._schedule(() => this._negotiate());
    return d.promise;
  }

  /** Stops receiving a track; its transceiver becomes idle for reuse. */
  unsubscribe(remote, { tellServer = true } = {}) {
    return this._schedule(async () => {
      const mid = remote.mid;
      if (mid === null) return;
      const tr = remote.transceiver;
      remote.mid = null;
      remote.transceiver = null;
      remote.mediaStreamTrack = null;
      this.byMid.delete(mid);
      if (tellServer) {
        try {
          await this._o.request({ type: 'unsubscribe', mids: [mid] });
        } catch {
          // The track may be gone already; the transceiver is idle either way.
        }
      }
      if (tr && !tr.stopped) this._free[remote.kind]?.push(tr);
    });
  }

  /** Stops sending a local track and tells the SFU with a new offer. */
  unpublish(local) {
    return this._schedule(async () => {
      const tr = local.transceiver;
      if (!tr) return;
      local.transceiver = null;
      await tr.sender.replaceTrack(null);
      tr.direction = 'inactive';
      await this._offer([], [], false);
    });
  }

  /** Restarts ICE with a new offer. */
  iceRestart() {
    const d = deferred();
    this._restarts.push(d);
    this._schedule(() => this._negotiate());
    return d.promise;
  }

  close() {
    this._closed = true;
    const err = new RtcError(ErrorCode.Disconnected, 'the media session closed');
    for (const d of [...this._pubs, ...this._subs, ...this._restarts]) d.reject(err);
    this._pubs = [];
    this._subs = [];
    this._restarts = [];
    this.pc.onicecandidate = null;
    this.pc.oniceconnectionstatechange = null;
    this.pc.close();
  }

  _schedule(job) {
    const run = async () => {
      if (this._closed) throw new RtcError(ErrorCode.Disconnected, 'the media session closed');
      return job();
    };
    const p = this._chain.then(run, run);
    this._chain = p.catch(() => {});
    return p;
  }

  async _negotiate() {
    const pubs = this._pubs.splice(0);
    const subs = this._subs.splice(0);
    const restarts = this._restarts.splice(0);
    if (!pubs.length && !subs.length && !restarts.length) return;
    const fresh = [];
    const rebind = [];
    for (const s of subs) {
      if (s.remote.mid !== null) {
        s.resolve();
        continue;
      }
      const tr = this._free[s.remote.kind]?.shift();
      if (tr) rebind.push({ ...s, tr });
      else fresh.push(s);
    }
    if (rebind.length) await this._rebind(rebind);
    if (!pubs.length && !fresh.length && !restarts.length) return;
    try {
      await this._offer(pubs, fresh, restarts.length > 0);
      for (const d of [...pubs, ...fresh, ...restarts]) d.resolve();
    } catch (err) {
      for (const d of [...pubs, ...fresh, ...restarts]) d.reject(err);
    }
  }

  // _rebind binds idle transceivers to tracks without SDP.
  async _rebind(items) {
    for (const s of items) this._bind(s.remote, s.tr);
    try {
      await this._o.request({
        type: 'subscribe',
        subscribe: items.map((s) => ({ mid: s.tr.mid, track_id: s.remote.id, layer: s.layer || undefined })),
      });
    } catch (err) {
      for (const s of items) {
        this._unbind(s.remote);
        this._free[s.remote.kind].push(s.tr);
        s.reject(err);
      }
      return;
    }
    for (const s of items) {
      s.remote.mediaStreamTrack = s.tr.receiver.track;
      this._o.onTrack(s.remote);
      s.resolve();
    }
  }

  _bind(remote, tr) {
    remote.mid = tr.mid;
    remote.transceiver = tr;
    this.byMid.set(tr.mid, remote);
  }

  _unbind(remote) {
    if (remote.mid !== null) this.byMid.delete(remote.mid);
    remote.mid = null;
    remote.transceiver = null;
    remote.mediaStreamTrack = null;
  }

  // _offer adds transceivers for pubs and subs, sends one offer and applies
  // the answer. On failure the new transceivers are stopped.
  async _offer(pubs, subs, iceRestart) {
    const pc = this.pc;
    for (const p of pubs) {
      const l = p.local;
      const init = { direction: 'sendonly', streams: [] };
      if (l.simulcast) init.sendEncodings = simulcastEncodings();
      l.transceiver = pc.addTransceiver(l.mediaStreamTrack, init);
    }
    for (const s of subs) {
      const i = this._spares.findIndex((tr) => tr.receiver.track.kind === s.remote.kind);
      s.tr = i >= 0 ? this._spares.splice(i, 1)[0] : pc.addTransceiver(s.remote.kind, { direction: 'recvonly' });
    }
    try {
      await pc.setLocalDescription(await pc.createOffer(iceRestart ? { iceRestart: true } : undefined));
      for (const p of pubs) p.local.mid = p.local.transceiver.mid;
      for (const s of subs) this._bind(s.remote, s.tr);
      const answer = await this._o.request(
        {
          type: 'offer',
          sdp: pc.localDescription.sdp,
          publish: pubs.map((p) => ({ mid: p.local.mid, source: p.local.source, name: p.local.name || undefined })),
          subscribe: subs.map((s) => ({ mid: s.tr.mid, track_id: s.remote.id, layer: s.layer || undefined })),
        },
        'answer',
      );
      this._offerSent = true;
      this._flushCandidates();
      await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
    } catch (err) {
      if (pc.signalingState === 'have-local-offer') {
        await pc.setLocalDescription({ type: 'rollback' }).catch(() => {});
      }
      for (const p of pubs) {
        p.local.transceiver?.stop();
        p.local.transceiver = null;
        p.local.mid = null;
      }
      for (const s of subs) {
        this._unbind(s.remote);
        this._spares.push(s.tr);
      }
      throw err;
    }
    // Spares this offer did not use were in it all the same (every
    // transceiver without a mid is): they now have a mid and are idle.
    for (const tr of this._spares.splice(0)) {
      if (tr.mid) this._free[tr.receiver.track.kind]?.push(tr);
      else this._spares.push(tr);
    }
    for (const s of subs) {
      s.remote.mediaStreamTrack = s.tr.receiver.track;
      this._o.onTrack(s.remote);
    }
  }

  _onCandidate(c) {
    if (!c || !c.candidate) return;
    if (!this._offerSent) {
      this._queuedCandidates.push(c);
      return;
    }
    this._trickle(c);
  }

  _flushCandidates() {
    const q = this._queuedCandidates.splice(0);
    for (const c of q) this._trickle(c);
  }

  _trickle(c) {
    try {
      this._o.send({ type: 'trickle', candidate: c.toJSON() });
    } catch {
      // Signaling is down; the SFU learns the address from connectivity checks.
    }
  }
}
