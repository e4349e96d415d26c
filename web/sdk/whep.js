// A WHEP viewer (POST /whep/{room}[/{identity}], docs/protocol.md): one
// HTTP request to start watching, DELETE to stop. Retries while nothing is
// published (409) and starts over when the connection fails.
import { Emitter } from './emitter.js';
import { ErrorCode, RtcError, codeOfStatus, plainMessage } from './errors.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class WHEPClient extends Emitter {
  /**
   * @param {string} endpoint e.g. "/whep/demo" or "https://host/whep/demo/alice"
   * @param {string|(() => Promise<string>)} token bearer token (or a function returning one)
   */
  constructor(endpoint, token, { iceServers = [], retryDelay = 2000 } = {}) {
    super();
    this.endpoint = new URL(endpoint, typeof location !== 'undefined' ? location.href : undefined).toString();
    this._token = token;
    this._iceServers = iceServers;
    this._retryDelay = retryDelay;
    /** Every received track lands in this stream. */
    this.stream = new MediaStream();
    /** 'idle' | 'waiting' (nothing published yet) | 'connecting' | 'playing' | 'stopped' */
    this.state = 'idle';
    this.pc = null;
    this.resource = null;
    this._stopped = false;
  }

  /** Starts watching; resolves once the SFU answered. */
  async start() {
    this._stopped = false;
    for (;;) {
      if (this._stopped) throw new RtcError(ErrorCode.InvalidState, 'the viewer was stopped');
      const retry = await this._attempt();
      if (retry === 0) return this.stream;
      this._setState('waiting');
      await sleep(retry);
    }
  }

  /** Stops watching and deletes the WHEP resource. */
  async stop() {
    this._stopped = true;
    this._setState('stopped');
    await this._teardown();
  }

  async _token_() {
    return typeof this._token === 'function' ? this._token() : this._token;
  }

  // _attempt makes one WHEP request: 0 on success, else ms to wait.
  async _attempt() {
    await this._teardown();
    this._setState('connecting');
    const pc = new RTCPeerConnection({ iceServers: this._iceServers, bundlePolicy: 'max-bundle' });
    this.pc = pc;
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.ontrack = (ev) => {
      for (const t of this.stream.getTracks()) if (t.kind === ev.track.kind) this.stream.removeTrack(t);
      this.stream.addTrack(ev.track);
      this.emit('track', ev.track, this.stream);
    };
    pc.onconnectionstatechange = () => {
      if (this.pc !== pc) return;
      if (pc.connectionState === 'connected') this._setState('playing');
      if (pc.connectionState === 'failed' && !this._stopped) this.start().catch(() => {});
    };
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc, 1500);
    const token = await this._token_();
    let res;
    try {
      res = await fetch(this.endpoint, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` },
        body: pc.localDescription.sdp,
      });
    } catch (err) {
      throw new RtcError(ErrorCode.ConnectionFailed, `cannot reach ${this.endpoint}: ${err?.message ?? err}`, { cause: err });
    }
    if (res.status === 409 || res.status === 503) {
      const after = Number(res.headers.get('Retry-After'));
      return after > 0 ? after * 1000 : this._retryDelay;
    }
    if (res.status !== 201) {
      const text = (await res.text()).trim();
      const code = codeOfStatus(res.status);
      const err = new RtcError(code, `WHEP ${res.status}: ${plainMessage(code, text)}`);
      /** @type {any} */ (err).status = res.status;
      throw err;
    }
    const loc = res.headers.get('Location');
    this.resource = loc ? new URL(loc, this.endpoint).toString() : null;
    await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
    return 0;
  }

  async _teardown() {
    const pc = this.pc;
    const resource = this.resource;
    this.pc = null;
    this.resource = null;
    pc?.close();
    if (resource) {
      try {
        await fetch(resource, { method: 'DELETE', headers: { Authorization: `Bearer ${await this._token_()}` } });
      } catch {
        // the server ends the session when its media stops anyway
      }
    }
  }

  _setState(s) {
    if (this.state === s) return;
    this.state = s;
    this.emit('state', s);
  }
}

// gathered waits until ICE gathering completes (or ms pass), so the offer
// carries the candidates and no PATCH trickle is needed.
function gathered(pc, ms) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    }
    function check() {
      if (pc.iceGatheringState === 'complete') done();
    }
    pc.addEventListener('icegatheringstatechange', check);
  });
}
