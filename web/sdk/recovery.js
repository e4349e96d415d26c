// Automatic reconnection. In order: an ICE restart over the live signaling
// connection; a rejoin that resumes the session (join with session_id);
// a fresh join that republishes and resubscribes everything.
import { ProtocolError } from './signaling.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Reasons of a participant_left (or of our own session's "closed") that
// mean a move to another media node: the node failed, or drains with
// migration. The participant will be back, in a new session.
export const MOVE_REASONS = new Set(['node failed', 'node draining']);
// How long a moving participant may take to come back before it counts
// as gone.
export const MOVE_GRACE_MS = 15000;

export class Recovery {
  constructor(room, { timeout = 60000, mediaTimeout = 10000, disconnectedGrace = 3000 } = {}) {
    this.room = room;
    this.timeout = timeout;
    this.mediaTimeout = mediaTimeout;
    this.disconnectedGrace = disconnectedGrace;
    this.running = false;
    this.stopped = false;
    this._graceTimer = null;
    /** every session id this room had, so our own old sessions are never shown as others */
    this.pastSessions = new Set();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this._graceTimer);
  }

  onIceState(s) {
    if (this.stopped) return;
    if (s === 'connected' || s === 'completed') {
      clearTimeout(this._graceTimer);
      this._graceTimer = null;
    } else if (s === 'failed') {
      this.start('media');
    } else if (s === 'disconnected' && !this._graceTimer) {
      // Often recovers by itself within a few seconds.
      this._graceTimer = setTimeout(() => {
        this._graceTimer = null;
        const st = this.room.session?.pc.iceConnectionState;
        if (st === 'disconnected' || st === 'failed') this.start('media');
      }, this.disconnectedGrace);
    }
  }

  signalLost(sessionEnded) {
    this.start(sessionEnded ? 'session' : 'signal');
  }

  start(cause) {
    if (this.running || this.stopped || this.room.state === 'disconnected') return;
    this.running = true;
    this._run(cause)
      .catch((err) => this.room._disconnect(`reconnect failed: ${err.message}`))
      .finally(() => {
        this.running = false;
      });
  }

  async _run(cause) {
    const room = this.room;
    room._setState('reconnecting');
    room.emit('reconnecting', cause);
    if (cause === 'media' && room.signal?.isOpen) {
      try {
        await room.session.iceRestart();
        if (await this._waitMedia()) return this._done(true, 'ice-restart');
      } catch {
        // fall through to a rejoin
      }
      room.signal?.close(1000, 'ice restart failed');
    }
    let resume = cause !== 'session';
    const deadline = Date.now() + this.timeout;
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      if (attempt > 0) await sleep(Math.min(500 * 2 ** attempt, 5000));
      if (this.stopped || room.state === 'disconnected') return;
      try {
        const old = room.sessionId;
        const joined = await room._join(resume ? old : undefined);
        // Events about the old session must never show it as someone else.
        if (room.sessionId !== old) this.pastSessions.add(old);
        if (resume && room.sessionId === old) {
          room._syncParticipants(joined.participants);
          if (room.session.mediaConnected) return this._done(true, 'resume');
          await room.session.iceRestart();
          if (await this._waitMedia()) return this._done(true, 'resume');
          // The session is there but its media is not coming back: end it
          // and start over.
          room.signal?.send({ type: 'leave' });
          resume = false;
          continue;
        }
        await this._fresh(joined);
        return this._done(false, 'rejoin');
      } catch (err) {
        if (err instanceof ProtocolError && (err.code === 'unauthorized' || err.code === 'forbidden')) {
          room._disconnect(`${err.code}: ${err.message}`);
          return;
        }
      }
    }
    room._disconnect('could not reconnect');
  }

  // _fresh starts over in a new session: a new PeerConnection, every local
  // track published again and every subscription made again.
  async _fresh(joined) {
    const room = this.room;
    const layers = new Map();
    for (const p of room.participants.values()) {
      for (const t of p.tracks.values()) {
        if (!t.isSubscribed) continue;
        layers.set(t.id, t.requestedLayer);
        t._layerBeforeMove = t.requestedLayer; // kept if its publisher moves too
        room.emit('trackUnsubscribed', t, p);
        t.mid = null;
        t.transceiver = null;
        t.mediaStreamTrack = null;
      }
    }
    const locals = room.localTracks;
    room.localTracks = [];
    room._newSession();
    // Our own node failed or drains: the others on it move too, so those
    // missing from the new room state are reconnecting, not gone.
    const moved = MOVE_REASONS.has(room._closedReason) ? room._closedReason : '';
    room._closedReason = undefined;
    if (moved) {
      const present = new Set((joined.participants ?? []).map((i) => i.session_id));
      for (const p of [...room.participants.values()]) {
        if (!present.has(p.sessionId) && !p.reconnecting) room._participantMoving(p.sessionId, moved);
      }
    }
    room._syncParticipants(joined.participants);
    const work = [];
    for (const p of room.participants.values()) {
      for (const t of p.tracks.values()) {
        if (layers.has(t.id) && !t.isSubscribed) work.push(room.subscribe(t, { layer: layers.get(t.id) }));
      }
    }
    for (const l of locals) {
      if (l.mediaStreamTrack.readyState !== 'live') continue;
      l.id = null;
      l.mid = null;
      l.transceiver = null;
      room.localTracks.push(l);
      work.push(room.session.publish(l));
    }
    await Promise.allSettled(work);
    for (const l of room.localTracks) {
      if (l.muted && l.id) room._request({ type: 'mute', track_id: l.id, muted: true }).catch(() => {});
    }
  }

  _waitMedia() {
    const session = this.room.session;
    if (session.mediaConnected) return Promise.resolve(true);
    return new Promise((resolve) => {
      const pc = session.pc;
      const check = () => {
        if (session.mediaConnected) finish(true);
        else if (pc.iceConnectionState === 'failed' || pc.iceConnectionState === 'closed') finish(false);
      };
      const timer = setTimeout(() => finish(false), this.mediaTimeout);
      const finish = (ok) => {
        clearTimeout(timer);
        pc.removeEventListener('iceconnectionstatechange', check);
        resolve(ok);
      };
      pc.addEventListener('iceconnectionstatechange', check);
    });
  }

  _done(resumed, how) {
    const room = this.room;
    room._setState('connected');
    room.emit('reconnected', { resumed, how });
  }
}
