// Room: a connection to one rtcloud room over the WebSocket protocol, with
// its participants, tracks, media session and automatic reconnection.
import { Emitter } from './emitter.js';
import { Signal, ProtocolError } from './signaling.js';
import { MediaSession } from './session.js';
import { LocalTrack, RemoteParticipant, RemoteTrack, Source } from './tracks.js';
import { capture, ErrorCode, RtcError } from './errors.js';
import { createLocalScreenTracks, onDeviceChange, refreshElements } from './media.js';
import { QualityMonitor } from './quality.js';
import { decodePayload, encodePayload } from './payload.js';
import { Recovery, MOVE_REASONS, MOVE_GRACE_MS } from './recovery.js';

/** Normalizes "http://host", "ws://host" or "ws://host/ws" to a WebSocket URL. */
export function wsURL(url) {
  const u = new URL(url, typeof location !== 'undefined' ? location.href : undefined);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  if (u.protocol === 'https:') u.protocol = 'wss:';
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/ws';
  return u.toString();
}

export class Room extends Emitter {
  constructor(url, token, opts = {}) {
    super();
    this.url = wsURL(url);
    this._token = token;
    this.options = { autoSubscribe: true, defaultLayer: '', iceServers: [], ...opts };
    /** 'connecting' | 'connected' | 'reconnecting' | 'disconnected' */
    this.state = 'connecting';
    this.name = '';
    this.namespace = '';
    /** This participant: identity, sessionId, name. */
    this.self = null;
    /** @type {Map<string, RemoteParticipant>} by session id */
    this.participants = new Map();
    /** @type {LocalTrack[]} */
    this.localTracks = [];
    /** @type {Signal|null} */
    this.signal = null;
    /** @type {MediaSession|null} */
    this.session = null;
    this._recovery = new Recovery(this);
    this._quality = new QualityMonitor(this);
    /** the speaker (audio output) chosen with switchDevice, '' = default */
    this._sinkId = '';
    /** @type {Set<HTMLMediaElement>} elements whose play() was refused */
    this._blocked = new Set();
    this._stopDeviceWatch = () => {};
  }

  /** False while the browser refuses to play received media until a user gesture; see startAudio(). */
  get canPlaybackAudio() {
    return this._blocked.size === 0;
  }

  /** This client's connection quality (see "connectionQualityChanged"). */
  get localConnectionQuality() {
    return this._quality.local;
  }

  /** The RTCPeerConnection of the current session. */
  get peerConnection() {
    return this.session?.pc ?? null;
  }

  get sessionId() {
    return this.self?.sessionId ?? '';
  }

  // ---- connection ----

  async _token_() {
    return typeof this._token === 'function' ? this._token() : this._token;
  }

  /** Opens the WebSocket and joins; resumes sessionId when given. */
  async _join(sessionId) {
    const signal = new Signal(this.url);
    await signal.open();
    let joined;
    try {
      joined = await signal.request(
        { type: 'join', token: await this._token_(), name: this.options.name, metadata: this.options.metadata, session_id: sessionId || undefined },
        'joined',
      );
    } catch (err) {
      signal.close();
      throw err;
    }
    if (this.state === 'disconnected') {
      signal.close();
      throw new RtcError(ErrorCode.InvalidState, 'the room was left');
    }
    const old = this.signal;
    this.signal = signal;
    old?.close();
    signal.on('message', (m) => this._onMessage(m));
    signal.on('close', (ev) => {
      if (this.signal === signal) this._onSignalClose(ev);
    });
    const self = joined.self ?? {};
    this.self = {
      identity: self.identity,
      sessionId: joined.session_id || self.session_id,
      name: self.name || self.identity,
      metadata: self.metadata || '',
    };
    this.namespace = joined.room?.namespace ?? self.namespace ?? '';
    this.name = joined.room?.name ?? self.room ?? '';
    return joined;
  }

  _newSession() {
    this.session?.close();
    const session = new MediaSession({
      iceServers: this.options.iceServers,
      request: (msg, expect) => this._request(msg, expect),
      send: (msg) => this.signal?.send(msg),
      onTrack: (t) => {
        refreshElements(t);
        this.emit('trackSubscribed', t, t.participant);
      },
      onStateChange: (s) => {
        if (this.session !== session) return;
        this.emit('mediaState', s);
        this._recovery.onIceState(s);
      },
    });
    this.session = session;
    return session;
  }

  _request(msg, expect) {
    if (!this.signal) return Promise.reject(new RtcError(ErrorCode.Disconnected, 'not connected'));
    return this.signal.request(msg, expect);
  }

  _onSignalClose({ code, reason }) {
    if (this.state === 'disconnected') return;
    if (code === 4001 || code === 4003) {
      this._disconnect(reason || 'unauthorized');
      return;
    }
    // 4010: the session ended on the SFU; everything else may resume.
    this._recovery.signalLost(code === 4010);
  }

  /**
   * Joins the room. Use it instead of connect() to add event handlers
   * before the first events arrive.
   */
  async connect() {
    if (this.state !== 'connecting') throw new RtcError(ErrorCode.InvalidState, `cannot connect in state ${this.state}`);
    let joined;
    try {
      joined = await this._join();
    } catch (err) {
      this._setState('disconnected');
      throw err;
    }
    this._newSession();
    this._setState('connected');
    this._syncParticipants(joined.participants);
    this._quality.start();
    this._stopDeviceWatch = onDeviceChange((devices) => this.emit('deviceChanged', devices));
    return this;
  }

  // ---- state from the server ----

  /** Replaces the participant list with the one in a joined message. */
  _syncParticipants(list) {
    const seen = new Set();
    for (const info of list ?? []) {
      if (info.session_id === this.sessionId || this._recovery.pastSessions.has(info.session_id)) continue;
      seen.add(info.session_id);
      const p = this._addParticipant(info);
      const tracks = new Set();
      for (const t of info.tracks ?? []) {
        tracks.add(t.id);
        this._addTrack(p, t);
      }
      for (const t of [...p.tracks.values()]) if (!tracks.has(t.id)) this._removeTrack(t);
    }
    for (const p of [...this.participants.values()]) {
      if (!seen.has(p.sessionId) && !p.reconnecting) this._removeParticipant(p.sessionId);
    }
  }

  _addParticipant(info) {
    let p = this.participants.get(info.session_id);
    if (!p && this._recovery.pastSessions.has(info.session_id)) return new RemoteParticipant(info);
    if (p) return p;
    p = this._participantBack(info);
    if (p) return p;
    p = new RemoteParticipant(info);
    this.participants.set(p.sessionId, p);
    this.emit('participantJoined', p);
    return p;
  }

  // A participant whose media node failed or drains left to join again
  // elsewhere: its tracks are gone, but it stays, "reconnecting", until it
  // is back in a new session (or MOVE_GRACE_MS passes).
  _participantMoving(sessionId, reason) {
    const p = this.participants.get(sessionId);
    if (!p) return;
    p._movedLayers ??= new Map();
    for (const t of p.tracks.values()) {
      if (t.isSubscribed || t._layerBeforeMove !== undefined) p._movedLayers.set(t.source, t._layerBeforeMove ?? t.requestedLayer);
    }
    for (const t of [...p.tracks.values()]) this._removeTrack(t);
    p.reconnecting = true;
    clearTimeout(p._moveTimer);
    p._moveTimer = setTimeout(() => {
      if (p.reconnecting) this._removeParticipant(p.sessionId);
    }, MOVE_GRACE_MS);
    this.emit('participantReconnecting', p, reason);
  }

  // _participantBack finds the reconnecting participant of info's identity
  // and gives it its new session; null when there is none.
  _participantBack(info) {
    for (const p of this.participants.values()) {
      if (!p.reconnecting || p.identity !== info.identity) continue;
      clearTimeout(p._moveTimer);
      this.participants.delete(p.sessionId);
      p.sessionId = info.session_id;
      p.name = info.name || info.identity;
      p.metadata = info.metadata || '';
      p.reconnecting = false;
      this.participants.set(p.sessionId, p);
      this.emit('participantReconnected', p);
      return p;
    }
    return null;
  }

  _removeParticipant(sessionId) {
    const p = this.participants.get(sessionId);
    if (!p) return;
    for (const t of [...p.tracks.values()]) this._removeTrack(t);
    this.participants.delete(sessionId);
    this.emit('participantLeft', p);
  }

  _addTrack(p, info) {
    let t = p.tracks.get(info.id);
    if (t) {
      t.update(info);
      return t;
    }
    t = new RemoteTrack(this, p, info);
    p.tracks.set(t.id, t);
    this.emit('trackPublished', t, p);
    // A participant back from a move gets its layer choices again, by
    // source (its tracks have new ids).
    const moved = p._movedLayers?.get(t.source);
    if (moved !== undefined) {
      p._movedLayers.delete(t.source);
      this.subscribe(t, { layer: moved }).catch((err) => this.emit('error', err));
    } else if (this.options.autoSubscribe) {
      this.subscribe(t).catch((err) => this.emit('error', err));
    }
    return t;
  }

  _removeTrack(t) {
    const p = t.participant;
    if (!p.tracks.delete(t.id)) return;
    if (t.isSubscribed) {
      this.emit('trackUnsubscribed', t, p);
      this.session?.unsubscribe(t).catch(() => {});
    }
    this.emit('trackUnpublished', t, p);
  }

  _onMessage(m) {
    const mine = (info) => info && this.self && info.session_id === this.self.sessionId;
    const about = m.track?.session_id ?? m.participant?.session_id;
    if (about && this._recovery.pastSessions.has(about)) return; // one of our own old sessions
    switch (m.type) {
      case 'participant_joined':
        if (!mine(m.participant)) this._addParticipant(m.participant);
        break;
      case 'participant_left':
        if (mine(m.participant)) {
          // The SFU ended our session without us leaving: start over.
          if (this.state === 'connected') this._recovery.start('session');
        } else if (m.participant && MOVE_REASONS.has(m.reason)) {
          this._participantMoving(m.participant.session_id, m.reason);
        } else if (m.participant) {
          this._removeParticipant(m.participant.session_id);
        }
        break;
      case 'track_published':
        if (!m.track) break;
        if (mine(m.track)) this._ownTrackPublished(m.track);
        else this._addTrack(this._addParticipant(m.participant ?? { session_id: m.track.session_id, identity: m.track.identity }), m.track);
        break;
      case 'track_unpublished': {
        const t = this._findTrack(m.track);
        if (t) this._removeTrack(t);
        break;
      }
      case 'track_muted': {
        const t = this._findTrack(m.track);
        if (t) {
          t.muted = !!m.track.muted;
          this.emit('trackMuted', t, t.participant);
        }
        break;
      }
      case 'active_speakers':
        this._onSpeakers(m.speakers ?? []);
        break;
      case 'layer_changed': {
        const t = this.session?.byMid.get(m.mid);
        if (t) {
          t.currentLayer = m.layer ?? '';
          this.emit('layerChanged', t, t.currentLayer);
        }
        break;
      }
      case 'data': {
        const from = m.participant ? this.participants.get(m.participant.session_id) : undefined;
        this.emit('data', decodePayload(m.payload), from, m.from);
        break;
      }
      case 'closed':
        this._closedReason = m.reason;
        break;
      case 'error':
        this.emit('error', new ProtocolError(m.error?.code ?? 'internal', m.error?.message ?? ''));
        break;
    }
  }

  _findTrack(info) {
    if (!info) return undefined;
    const p = this.participants.get(info.session_id);
    if (p) return p.tracks.get(info.id);
    for (const q of this.participants.values()) if (q.tracks.has(info.id)) return q.tracks.get(info.id);
    return undefined;
  }

  // _ownTrackPublished learns the id the SFU gave one of our tracks.
  _ownTrackPublished(info) {
    if (this.localTracks.some((l) => l.id === info.id)) return;
    const l = this.localTracks.find((x) => !x.id && x.kind === info.kind && (x.source === info.source || info.source === Source.Unknown));
    if (!l) return;
    l.id = info.id;
    this.emit('localTrackPublished', l);
    // A mute made before the id was known.
    if (l.muted) this._request({ type: 'mute', track_id: l.id, muted: true }).catch(() => {});
  }

  _onSpeakers(list) {
    const levels = new Map(list.map((s) => [s.session_id, s.level]));
    for (const p of this.participants.values()) {
      p.isSpeaking = levels.has(p.sessionId);
      p.audioLevel = levels.get(p.sessionId) ?? 0;
    }
    const speakers = list.map((s) => ({
      participant: this.participants.get(s.session_id),
      identity: s.identity,
      sessionId: s.session_id,
      level: s.level,
      isLocal: s.session_id === this.sessionId,
    }));
    this.emit('activeSpeakers', speakers);
  }

  // ---- publishing ----

  /**
   * Publishes a MediaStreamTrack, or a LocalTrack made by
   * createLocalVideoTrack and friends (a preview); resolves with its
   * LocalTrack.
   */
  async publishTrack(track, opts = {}) {
    if (this.state === 'disconnected') throw new RtcError(ErrorCode.InvalidState, 'the room was left');
    let l;
    if (track instanceof LocalTrack) {
      if (track._room && track._room !== this) throw new RtcError(ErrorCode.InvalidState, 'the track belongs to another room');
      if (this.localTracks.includes(track)) return track;
      l = track;
      l._room = this;
      if (opts.name) l.name = opts.name;
      if (opts.simulcast !== undefined) l.simulcast = opts.simulcast;
      else if (l.source === Source.Camera) l.simulcast = autoSimulcast(l.mediaStreamTrack, l.source);
    } else {
      const { source = Source.Unknown, name = '', simulcast = autoSimulcast(track, source) } = opts;
      l = new LocalTrack(this, track, { source, name, simulcast });
    }
    const mediaStreamTrack = l.mediaStreamTrack;
    this.localTracks.push(l);
    try {
      await this.session.publish(l);
    } catch (err) {
      this.localTracks = this.localTracks.filter((x) => x !== l);
      if (track instanceof LocalTrack) l._room = null; // still a preview
      throw err;
    }
    mediaStreamTrack.addEventListener('ended', () => {
      if (this.localTracks.includes(l)) this.unpublish(l).catch(() => {});
    });
    return l;
  }

  /** Captures and publishes the camera (1280x720 by default, simulcast). */
  async publishCamera({ width = 1280, height = 720, frameRate = 30, deviceId, name = '' } = {}) {
    const video = { width: { ideal: width }, height: { ideal: height }, frameRate: { ideal: frameRate } };
    if (deviceId) video.deviceId = { exact: deviceId };
    const stream = await capture('getUserMedia', { video }, 'camera');
    return this.publishTrack(stream.getVideoTracks()[0], { source: Source.Camera, name });
  }

  /** Captures and publishes the microphone. */
  async publishMicrophone({ deviceId, name = '' } = {}) {
    const audio = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
    if (deviceId) audio.deviceId = { exact: deviceId };
    const stream = await capture('getUserMedia', { audio }, 'microphone');
    return this.publishTrack(stream.getAudioTracks()[0], { source: Source.Microphone, name });
  }

  /**
   * Asks the user for a screen, window or tab and publishes it; with
   * audio, also the tab's sound where the browser offers it (source
   * 'screen_audio'). Resolves with the video track; stopping the share
   * unpublishes both.
   */
  async publishScreen({ name = '', audio = false } = {}) {
    const [video, sound] = await createLocalScreenTracks({ audio });
    if (name) video.name = name;
    const published = await this.publishTrack(video, { simulcast: false });
    if (sound) {
      await this.publishTrack(sound);
      video.mediaStreamTrack.addEventListener('ended', () => {
        if (this.localTracks.includes(sound)) this.unpublish(sound).catch(() => {});
      });
    }
    return published;
  }

  /** Stops publishing a local track and stops its media. */
  async unpublish(local) {
    this.localTracks = this.localTracks.filter((x) => x !== local);
    local.mediaStreamTrack.stop();
    this.emit('localTrackUnpublished', local);
    if (this.session && this.state !== 'disconnected') await this.session.unpublish(local);
  }

  /** Switches the published camera to the next (or the given) video input. */
  async switchCamera(deviceId) {
    const cam = this.localTracks.find((l) => l.source === Source.Camera);
    if (!cam) throw new RtcError(ErrorCode.InvalidState, 'no camera is published');
    if (!deviceId) {
      const cams = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'videoinput');
      const current = cam.mediaStreamTrack.getSettings().deviceId;
      const i = cams.findIndex((d) => d.deviceId === current);
      deviceId = cams[(i + 1) % cams.length]?.deviceId;
    }
    const s = cam.mediaStreamTrack.getSettings();
    const stream = await capture(
      'getUserMedia',
      { video: { deviceId: deviceId ? { exact: deviceId } : undefined, width: { ideal: s.width || 1280 }, height: { ideal: s.height || 720 } } },
      'camera',
    );
    await cam.replaceTrack(stream.getVideoTracks()[0]);
    this.emit('localTrackReplaced', cam);
    return cam;
  }

  async _setMuted(local, muted) {
    local.muted = muted;
    local.mediaStreamTrack.enabled = !muted;
    this.emit('localTrackMuted', local);
    if (local.id && this.signal?.isOpen) await this._request({ type: 'mute', track_id: local.id, muted });
  }

  /** Switches the published microphone to the given audio input. */
  async switchMicrophone(deviceId) {
    const mic = this.localTracks.find((l) => l.source === Source.Microphone);
    if (!mic) throw new RtcError(ErrorCode.InvalidState, 'no microphone is published');
    const audio = { echoCancellation: true, noiseSuppression: true, autoGainControl: true, deviceId: deviceId ? { exact: deviceId } : undefined };
    const stream = await capture('getUserMedia', { audio }, 'microphone');
    await mic.replaceTrack(stream.getAudioTracks()[0]);
    this.emit('localTrackReplaced', mic);
    return mic;
  }

  /**
   * Switches a device: 'videoinput' (the published camera),
   * 'audioinput' (the published microphone) or 'audiooutput' (the
   * speaker every received track plays on, where the browser supports
   * setSinkId).
   * @param {'videoinput'|'audioinput'|'audiooutput'} kind
   * @param {string} deviceId
   */
  async switchDevice(kind, deviceId) {
    switch (kind) {
      case 'videoinput':
        await this.switchCamera(deviceId);
        return;
      case 'audioinput':
        await this.switchMicrophone(deviceId);
        return;
      case 'audiooutput': {
        if (typeof HTMLMediaElement === 'undefined' || !('setSinkId' in HTMLMediaElement.prototype)) {
          throw new RtcError(ErrorCode.NotSupported, 'this browser cannot choose the speaker (no setSinkId)');
        }
        this._sinkId = deviceId;
        const els = [];
        for (const p of this.participants.values()) for (const t of p.tracks.values()) els.push(...t._elements);
        const results = await Promise.allSettled(els.map((el) => /** @type {any} */ (el).setSinkId(deviceId)));
        const failed = /** @type {PromiseRejectedResult|undefined} */ (results.find((r) => r.status === 'rejected'));
        if (failed) {
          const err = failed.reason;
          throw new RtcError(ErrorCode.DeviceNotFound, `speaker ${deviceId}: ${err?.message ?? err}`, { cause: err });
        }
        return;
      }
    }
    throw new RtcError(ErrorCode.BadRequest, `unknown device kind ${kind}`);
  }

  /** The speaker chosen with switchDevice('audiooutput', id); '' = the default. */
  get speakerDeviceId() {
    return this._sinkId;
  }

  /**
   * Resumes playback the browser blocked for lack of a user gesture:
   * call it from a click handler when "audioPlaybackChanged" reported
   * false (or canPlaybackAudio is false).
   */
  async startAudio() {
    const els = [...this._blocked];
    this._blocked.clear();
    const results = await Promise.allSettled(els.map((el) => el.play()));
    results.forEach((r, i) => {
      if (r.status === 'rejected') this._blocked.add(els[i]);
    });
    this.emit('audioPlaybackChanged', this.canPlaybackAudio);
    if (!this.canPlaybackAudio) throw new RtcError(ErrorCode.AutoplayBlocked, 'the browser still refuses to play; call startAudio() from a user gesture');
  }

  _playbackBlocked(el) {
    const was = this.canPlaybackAudio;
    this._blocked.add(el);
    if (was) this.emit('audioPlaybackChanged', false);
  }

  // ---- subscribing ----

  /** Receives a remote track; layer '' lets the SFU choose. */
  subscribe(track, { layer = this.options.defaultLayer } = {}) {
    if (!this.session) return Promise.reject(new RtcError(ErrorCode.Disconnected, 'not connected'));
    if (!track.participant.tracks.has(track.id)) return Promise.reject(new RtcError(ErrorCode.NotFound, 'the track is not published'));
    track.requestedLayer = track.kind === 'video' ? layer : '';
    return this.session.subscribe(track, track.requestedLayer);
  }

  /** Stops receiving a remote track. */
  async unsubscribe(track) {
    if (!track.isSubscribed) return;
    this.emit('trackUnsubscribed', track, track.participant);
    await this.session?.unsubscribe(track);
  }

  /** Chooses the simulcast layer received for a subscribed video track. */
  async setLayer(track, layer) {
    track.requestedLayer = layer;
    if (!track.isSubscribed) return;
    await this._request({ type: 'set_layer', mid: track.mid, layer });
  }

  // ---- data ----

  /**
   * Sends an application message to everyone (or to the given identities).
   * Strings and objects are sent as UTF-8 JSON; Uint8Arrays as they are.
   */
  sendData(payload, { to } = {}) {
    if (!this.signal?.isOpen) throw new RtcError(ErrorCode.Disconnected, 'not connected');
    this.signal.send({ type: 'data', payload: encodePayload(payload), to: to?.length ? to : undefined });
  }

  // ---- leaving ----

  /** Leaves the room and stops local media. */
  async leave() {
    if (this.state === 'disconnected') return;
    const signal = this.signal;
    this._disconnect('left');
    if (signal?.isOpen) {
      try {
        signal.send({ type: 'leave' });
      } catch {
        // closing anyway
      }
      // Give the server a moment to answer "closed" before closing.
      await new Promise((resolve) => {
        const t = setTimeout(resolve, 500);
        signal.once('close', () => {
          clearTimeout(t);
          resolve();
        });
      });
      signal.close();
    }
  }

  _disconnect(reason) {
    if (this.state === 'disconnected') return;
    this._setState('disconnected');
    this._recovery.stop();
    this._quality.stop();
    this._stopDeviceWatch();
    const signal = this.signal;
    this.signal = null;
    if (reason !== 'left') signal?.close();
    this.session?.close();
    for (const l of this.localTracks) l.mediaStreamTrack.stop();
    this.emit('disconnected', reason);
  }

  _setState(s) {
    if (this.state === s) return;
    this.state = s;
    this.emit('stateChanged', s);
  }
}

/** Simulcast for camera-like video of 720p or more. */
function autoSimulcast(mediaStreamTrack, source) {
  const s = mediaStreamTrack.getSettings?.() ?? {};
  return mediaStreamTrack.kind === 'video' && source !== Source.Screen && Math.min(s.width ?? 0, s.height ?? 0) >= 720;
}

/**
 * Connects to a room. url is the signaling server ("https://host" or
 * "wss://host/ws"); token is an access token or a function that returns
 * one (called again for every rejoin).
 */
export async function connect(url, token, opts = {}) {
  const room = new Room(url, token, opts);
  await room.connect();
  return room;
}
