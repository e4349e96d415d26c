// Participants and tracks as the application sees them.
import { StatsMeter } from './stats.js';
import { attachTrack, detachTrack, refreshElements } from './media.js';

/** Simulcast layer names, lowest to highest; '' lets the SFU choose. */
export const Layer = Object.freeze({ Auto: '', Low: 'low', Medium: 'medium', High: 'high' });

/** Track sources. */
export const Source = Object.freeze({
  Camera: 'camera',
  Microphone: 'microphone',
  Screen: 'screen',
  /** the sound of a shared tab or screen */
  ScreenAudio: 'screen_audio',
  Unknown: 'unknown',
});

/** Connection quality of a participant, from the media statistics. */
export const ConnectionQuality = Object.freeze({
  Excellent: 'excellent',
  Good: 'good',
  Poor: 'poor',
  /** no media arrives although it should */
  Lost: 'lost',
  /** nothing to judge by yet */
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
    /** From the statistics of its subscribed tracks; see "connectionQualityChanged". */
    this.connectionQuality = 'unknown';
    /** Moving to another media node (its node failed or drains); see "participantReconnecting". */
    this.reconnecting = false;
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
    /** @type {Set<HTMLMediaElement>} */
    this._elements = new Set();
  }

  get isLocal() {
    return false;
  }

  /**
   * Plays the track in element (a new <video> or <audio> when none is
   * given) and returns the element; it follows resubscriptions.
   * @param {HTMLMediaElement} [element]
   */
  attach(element) {
    return attachTrack(this, element);
  }

  /** Stops playing the track in element (or in every attached element). */
  detach(element) {
    return detachTrack(this, element);
  }

  /** The elements the track is attached to. */
  get attachedElements() {
    return [...this._elements];
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
  /**
   * Made by room.publishTrack and the publish* methods, or unpublished by
   * createLocalVideoTrack and friends (room is null until published).
   */
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
    /** @type {Set<HTMLMediaElement>} */
    this._elements = new Set();
  }

  get isLocal() {
    return true;
  }

  /** Published to a room (it has a transceiver). */
  get isPublished() {
    return this.transceiver !== null;
  }

  /**
   * Shows the track in element (a new muted <video> or <audio> when none
   * is given): a local preview, before or after publishing.
   * @param {HTMLMediaElement} [element]
   */
  attach(element) {
    return attachTrack(this, element);
  }

  /** Stops showing the track in element (or in every attached element). */
  detach(element) {
    return detachTrack(this, element);
  }

  get attachedElements() {
    return [...this._elements];
  }

  /** Stops the media; a published track is unpublished. */
  async stop() {
    if (this._room && this.isPublished) {
      await this.unpublish();
      return;
    }
    this.mediaStreamTrack.stop();
    this.detach();
  }

  get stream() {
    if (!this._stream || this._stream.getTracks()[0] !== this.mediaStreamTrack) {
      this._stream = new MediaStream([this.mediaStreamTrack]);
    }
    return this._stream;
  }

  mute() {
    return this._setMuted(true);
  }

  unmute() {
    return this._setMuted(false);
  }

  async _setMuted(muted) {
    if (this._room) return this._room._setMuted(this, muted);
    this.muted = muted;
    this.mediaStreamTrack.enabled = !muted;
  }

  /** Replaces the media (another camera, say) without renegotiating. */
  async replaceTrack(mediaStreamTrack) {
    const old = this.mediaStreamTrack;
    mediaStreamTrack.enabled = !this.muted;
    if (this.transceiver) await this.transceiver.sender.replaceTrack(mediaStreamTrack);
    this.mediaStreamTrack = mediaStreamTrack;
    if (old !== mediaStreamTrack) old.stop();
    refreshElements(this);
  }

  /** Stops publishing and stops the media. */
  async unpublish() {
    if (!this._room) {
      this.mediaStreamTrack.stop();
      return;
    }
    await this._room.unpublish(this);
  }

  /**
   * Resolution, frame rate, bitrate, loss and RTT of what is sent. Right
   * after publishing, the encoder has not reported yet: the first call
   * waits for its first frame (up to 2 s), then falls back to the
   * capture's dimensions, so width and height are never zeros for live
   * video.
   */
  async getStats() {
    if (!this.transceiver) return null;
    if (!this._meter || this._meter.source !== this.transceiver.sender) {
      this._meter = new StatsMeter(this.transceiver.sender);
      if (this.kind === 'video') await waitEncoded(this.transceiver.sender, 2000);
    }
    const s = await this._meter.sample();
    if (this.kind === 'video' && !s.width && this.mediaStreamTrack.readyState === 'live') {
      const set = this.mediaStreamTrack.getSettings();
      s.width = set.width ?? 0;
      s.height = set.height ?? 0;
    }
    return s;
  }
}

/** Resolves once the sender reports an encoded frame size, or after ms. */
async function waitEncoded(sender, ms) {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    const report = await sender.getStats();
    let ok = false;
    report.forEach((s) => {
      if (s.type === 'outbound-rtp' && (s.frameWidth ?? 0) > 0) ok = true;
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}
