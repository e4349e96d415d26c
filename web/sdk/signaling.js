// The WebSocket side of the rtcloud room protocol (docs/protocol.md):
// requests carry an id that the server echoes in its answer, ok or error.
import { Emitter } from './emitter.js';
import { ErrorCode, ProtocolError, RtcError } from './errors.js';

export { ProtocolError };

const replyTypes = new Set(['joined', 'answer', 'ok', 'pong', 'error']);

/**
 * One WebSocket connection to a signaling server. Emits "message" for every
 * frame that is not a reply to a request, and "close" ({code, reason}) once.
 */
export class Signal extends Emitter {
  constructor(url, { pingInterval = 10000, timeout = 15000 } = {}) {
    super();
    this.url = url;
    this.timeout = timeout;
    this._pingInterval = pingInterval;
    this._seq = 0;
    /** @type {Map<string, {resolve: Function, reject: Function, expect: string, timer: any}>} */
    this._pending = new Map();
    this._closed = false;
    this.ws = null;
  }

  /** Opens the socket; resolves when it is open. */
  open() {
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new WebSocket(this.url);
      } catch (err) {
        reject(new RtcError(ErrorCode.ConnectionFailed, `cannot connect to ${this.url}: ${err?.message ?? err}`, { cause: err }));
        return;
      }
      this.ws = ws;
      let opened = false;
      const timer = setTimeout(() => {
        if (!opened) {
          ws.close();
          reject(new RtcError(ErrorCode.ConnectionFailed, `cannot connect to ${this.url}: no answer within ${this.timeout} ms`));
        }
      }, this.timeout);
      ws.onopen = () => {
        opened = true;
        clearTimeout(timer);
        this._lastSeen = Date.now();
        this._pinger = setInterval(() => this._ping(), this._pingInterval);
        resolve();
      };
      ws.onmessage = (ev) => this._onFrame(ev.data);
      ws.onclose = (ev) => {
        clearTimeout(timer);
        if (!opened) reject(new RtcError(ErrorCode.ConnectionFailed, `cannot connect to ${this.url} (WebSocket close code ${ev.code})`));
        this._finish(ev.code, ev.reason);
      };
      ws.onerror = () => {}; // onclose follows and says what happened
    });
  }

  get isOpen() {
    return !this._closed && this.ws?.readyState === WebSocket.OPEN;
  }

  /** Sends a frame without waiting for a reply. */
  send(msg) {
    if (!this.isOpen) throw new RtcError(ErrorCode.Disconnected, 'not connected to the server');
    this.ws.send(JSON.stringify(msg));
  }

  /**
   * Sends a request and resolves with the reply of the expected type (or
   * rejects with a ProtocolError).
   */
  request(msg, expect = 'ok') {
    const id = String(++this._seq);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new RtcError(ErrorCode.Timeout, `the server did not answer "${msg.type}" within ${this.timeout} ms`));
      }, this.timeout);
      this._pending.set(id, { resolve, reject, expect, timer });
      try {
        this.send({ ...msg, id });
      } catch (err) {
        clearTimeout(timer);
        this._pending.delete(id);
        reject(err);
      }
    });
  }

  /** Closes the socket (code 1000 unless given). */
  close(code = 1000, reason = '') {
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) {
      try {
        this.ws.close(code, reason);
      } catch {
        this.ws.close();
      }
    }
    this._finish(code, reason);
  }

  _ping() {
    if (!this.isOpen) return;
    // Three missed intervals: the connection is dead even if TCP has not
    // noticed yet.
    if (Date.now() - this._lastSeen > 3 * this._pingInterval) {
      this.ws.close(4000, 'keep-alive timeout');
      this._finish(1006, 'keep-alive timeout');
      return;
    }
    this.request({ type: 'ping' }, 'pong').catch(() => {});
  }

  _onFrame(data) {
    this._lastSeen = Date.now();
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      console.warn('rtcloud: ignoring a frame that is not JSON');
      return;
    }
    if (replyTypes.has(msg.type) && this._settle(msg)) return;
    this.emit('message', msg);
  }

  // _settle resolves the request msg answers; false when it answers none.
  _settle(msg) {
    let id = msg.id;
    if (!id || !this._pending.has(id)) {
      // Tolerate a server that does not echo ids: the oldest request
      // waiting for this type of reply.
      id = [...this._pending.entries()].find(([, p]) => msg.type !== 'error' && p.expect === msg.type)?.[0];
      if (!id) return false;
    }
    const p = this._pending.get(id);
    this._pending.delete(id);
    clearTimeout(p.timer);
    if (msg.type === 'error') {
      p.reject(new ProtocolError(msg.error?.code ?? 'internal', msg.error?.message ?? 'error'));
    } else {
      p.resolve(msg);
    }
    return true;
  }

  _finish(code, reason) {
    if (this._closed) return;
    this._closed = true;
    clearInterval(this._pinger);
    for (const p of this._pending.values()) {
      clearTimeout(p.timer);
      p.reject(new RtcError(ErrorCode.Disconnected, `the connection to the server closed (${code}${reason ? ': ' + reason : ''})`));
    }
    this._pending.clear();
    this.emit('close', { code, reason });
  }
}
