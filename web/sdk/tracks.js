// Participants and tracks as the application sees them.
import { StatsMeter } from './stats.js';

/** Simulcast layer names, lowest to highest; '' lets the SFU choose. */
export const Layer = Object.freeze({ Auto: '', Low: 'low', Medium: 'medium', High: 'high' });

/** Track sources. */
export const Source = Object.freeze({
  Camera: 'camera',
  Microphone: 'microphone',
  Screen: 'screen',
  Unknown: 'unknown',
});

/** Another participant of the room (one session). */
export class RemoteParticipant {
  constructor(info) {
    this.sessionId = info.session_id;
    this.identity = info.identity;
    this.name = info.name || info.identity;
    this.metadata = info.metadata || '';
    /** How it signals: 'ws', 'whip', 'whep' ('' from older servers). */
    this.kind = info.kind || '';
    this.joinedAt = info.joined_at ? new Date(info.joined_at) : new Date();
    /** @type {Map<string, RemoteTrack>} by track id */
    this.tracks = new Map();
    /** Audio level 0..1 from the last active-speakers event. */
    this.audioLevel = 0;
    this.isSpeaking = false;
  }

  /** A passive WHEP viewer: it only watches and never publishes. */
  get isViewer() {
    return this.kind === 'whep';
  }

  /** The first track of a source (camera, microphone, screen). */
  trackBySource(source) {
    for (const t of this.tracks.values()) if (t.source === source) return t;
    return undefined;
  }
}

/** A track another participant publishes. */
export class RemoteTrack {
  constructor(room, participant, info) {
    this._room = room;
    this.participant = participant;
    this.id = info.id;
    this.update(info);
    /** mid of the transceiver that receives it, when subscribed. */
    this.mid = null;
    /** @type {MediaStreamTrack|null} the received media, when subscribed. */
    this.mediaStreamTrack = null;
    /** @type {RTCRtpTransceiver|null} */
    this.transceiver = null;
    /** Layer asked for with setLayer ('' = automatic). */
    this.requestedLayer = '';
    /** Layer the SFU says it sends (from layer_changed). */
    this.currentLayer = '';
    this._meter = null;
  }

  update(info) {
    this.kind = info.kind;
    this.source = info.source || 'unknown';
    this.name = info.name || '';
    this.mimeType = info.mime_type || '';
    this.layers = info.layers || [];
    this.muted = !!info.muted;
  }

  get isSubscribed() {
    return this.mid !== null;
  }

  /** A MediaStream holding only this track (handy for <video>.srcObject). */
  get stream() {
    if (!this.mediaStreamTrack) return null;
    if (!this._stream || this._stream.getTracks()[0] !== this.mediaStreamTrack) {
      this._stream = new MediaStream([this.mediaStreamTrack]);
    }
    return this._stream;
  }

  subscribe(opts) {
    return this._room.subscribe(this, opts);
  }

  unsubscribe() {
    return this._room.unsubscribe(this);
  }

  /** Chooses the simulcast layer to receive: 'low', 'medium', 'high' or '' (auto). */
  setLayer(layer) {
    return this._room.setLayer(this, layer);
  }

  /** Resolution, frame rate, bitrate, loss and RTT of the received stream. */
  async getStats() {
    if (!this.transceiver) return null;
    if (!this._meter || this._meter.source !== this.transceiver.receiver) {
      this._meter = new StatsMeter(this.transceiver.receiver);
    }
    return this._meter.sample();
  }
}

/** A track this client publishes. */
export class LocalTrack {
  constructor(room, mediaStreamTrack, { source, name = '', simulcast = false }) {
    this._room = room;
    this.mediaStreamTrack = mediaStreamTrack;
    this.kind = mediaStreamTrack.kind;
    this.source = source;
    this.name = name;
    this.simulcast = simulcast;
    /** Track id given by the SFU, once it is published. */
    this.id = null;
    this.mid = null;
    /** @type {RTCRtpTransceiver|null} */
    this.transceiver = null;
    this.muted = false;
    this._meter = null;
  }

  get stream() {
    if (!this._stream || this._stream.getTracks()[0] !== this.mediaStreamTrack) {
      this._stream = new MediaStream([this.mediaStreamTrack]);
    }
    return this._stream;
  }

  mute() {
    return this._room._setMuted(this, true);
  }

  unmute() {
    return this._room._setMuted(this, false);
  }

  /** Replaces the media (another camera, say) without renegotiating. */
  async replaceTrack(mediaStreamTrack) {
    const old = this.mediaStreamTrack;
    mediaStreamTrack.enabled = !this.muted;
    if (this.transceiver) await this.transceiver.sender.replaceTrack(mediaStreamTrack);
    this.mediaStreamTrack = mediaStreamTrack;
    if (old !== mediaStreamTrack) old.stop();
  }

  /** Stops publishing and stops the media. */
  unpublish() {
    return this._room.unpublish(this);
  }

  /** Resolution, frame rate, bitrate, loss and RTT of what is sent. */
  async getStats() {
    if (!this.transceiver) return null;
    if (!this._meter || this._meter.source !== this.transceiver.sender) {
      this._meter = new StatsMeter(this.transceiver.sender);
    }
    return this._meter.sample();
  }
}
