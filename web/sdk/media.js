// Media elements and devices: attaching tracks to <video>/<audio>,
// autoplay handling, listing devices and capturing local tracks before
// publishing (a preview).
import { capture, ErrorCode, RtcError } from './errors.js';
import { LocalTrack, Source } from './tracks.js';

/**
 * Plays a track in a media element (a new <video> or <audio> when none is
 * given) and returns the element. Local video is muted so a preview never
 * echoes. A play() the browser refuses for lack of a user gesture is
 * reported to the room ("audioPlaybackChanged" false); room.startAudio()
 * in a click handler resumes every refused element.
 * @param {any} track a LocalTrack or RemoteTrack
 * @param {HTMLMediaElement} [element]
 */
export function attachTrack(track, element) {
  const el = element ?? document.createElement(track.kind === 'video' ? 'video' : 'audio');
  el.autoplay = true;
  if ('playsInline' in el) /** @type {HTMLVideoElement} */ (el).playsInline = true;
  if (track.isLocal) el.muted = true;
  track._elements.add(el);
  bindElement(track, el);
  return el;
}

/**
 * Stops playing a track in element (every element when none is given)
 * and returns the elements it was detached from.
 * @param {any} track
 * @param {HTMLMediaElement} [element]
 * @returns {HTMLMediaElement[]}
 */
export function detachTrack(track, element) {
  const els = element ? [element] : [...track._elements];
  for (const el of els) {
    if (!track._elements.delete(el)) continue;
    el.srcObject = null;
  }
  return els.filter((e) => e);
}

/** Points every attached element at the track's current media. */
export function refreshElements(track) {
  for (const el of track._elements) bindElement(track, el);
}

function bindElement(track, el) {
  const stream = track.stream;
  if (el.srcObject !== stream) el.srcObject = stream;
  const room = track._room;
  const sink = room?._sinkId;
  if (!track.isLocal && sink && typeof (/** @type {any} */ (el).setSinkId) === 'function') {
    /** @type {any} */ (el).setSinkId(sink).catch(() => {});
  }
  if (!stream) return;
  const p = el.play();
  if (p && typeof p.catch === 'function') {
    p.catch((err) => {
      if (err?.name === 'NotAllowedError') room?._playbackBlocked(el);
    });
  }
}

/**
 * @typedef {{deviceId: string, kind: MediaDeviceKind, label: string, groupId: string}} DeviceInfo
 */

/**
 * Lists media devices, optionally of one kind ('audioinput',
 * 'videoinput', 'audiooutput'). Labels are empty until the page was
 * granted camera or microphone access once.
 * @param {MediaDeviceKind} [kind]
 * @returns {Promise<DeviceInfo[]>}
 */
export async function listDevices(kind) {
  if (!navigator.mediaDevices?.enumerateDevices) {
    throw new RtcError(ErrorCode.NotSupported, 'this browser cannot list devices');
  }
  const all = await navigator.mediaDevices.enumerateDevices();
  return all
    .filter((d) => !kind || d.kind === kind)
    .map((d) => ({ deviceId: d.deviceId, kind: d.kind, label: d.label, groupId: d.groupId }));
}

/**
 * Calls fn with the new device list whenever a device is plugged in or
 * removed; returns a function that stops it.
 * @param {(devices: DeviceInfo[]) => void} fn
 * @returns {() => void}
 */
export function onDeviceChange(fn) {
  const md = navigator.mediaDevices;
  if (!md?.addEventListener) return () => {};
  const handler = () => {
    listDevices().then(fn, () => {});
  };
  md.addEventListener('devicechange', handler);
  return () => md.removeEventListener('devicechange', handler);
}

/**
 * Captures the camera as a LocalTrack that is not published yet: attach()
 * it for a preview, then room.publishTrack(track).
 * @param {{width?: number, height?: number, frameRate?: number, deviceId?: string, name?: string}} [opts]
 */
export async function createLocalVideoTrack({ width = 1280, height = 720, frameRate = 30, deviceId, name = '' } = {}) {
  /** @type {MediaTrackConstraints} */
  const video = { width: { ideal: width }, height: { ideal: height }, frameRate: { ideal: frameRate } };
  if (deviceId) video.deviceId = { exact: deviceId };
  const stream = await capture('getUserMedia', { video }, 'camera');
  return new LocalTrack(null, stream.getVideoTracks()[0], { source: Source.Camera, name });
}

/**
 * Captures the microphone as an unpublished LocalTrack.
 * @param {{deviceId?: string, name?: string}} [opts]
 */
export async function createLocalAudioTrack({ deviceId, name = '' } = {}) {
  /** @type {MediaTrackConstraints} */
  const audio = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
  if (deviceId) audio.deviceId = { exact: deviceId };
  const stream = await capture('getUserMedia', { audio }, 'microphone');
  return new LocalTrack(null, stream.getAudioTracks()[0], { source: Source.Microphone, name });
}

/**
 * Captures camera and/or microphone with one permission prompt.
 * @param {{audio?: boolean, video?: boolean}} [opts]
 * @returns {Promise<LocalTrack[]>}
 */
export async function createLocalTracks({ audio = true, video = true } = {}) {
  /** @type {MediaStreamConstraints} */
  const c = {};
  if (video) c.video = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };
  if (audio) c.audio = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
  const stream = await capture('getUserMedia', c, audio && video ? 'camera and microphone' : video ? 'camera' : 'microphone');
  return stream
    .getTracks()
    .map((t) => new LocalTrack(null, t, { source: t.kind === 'video' ? Source.Camera : Source.Microphone }));
}

/**
 * Asks the user for a screen, window or tab. With audio, a tab's (or the
 * system's) sound comes as a second track where the browser offers it
 * (Chromium: tabs, and whole screens on Windows and ChromeOS).
 * @param {{audio?: boolean, frameRate?: number}} [opts]
 * @returns {Promise<LocalTrack[]>} the video track, then the audio track if any
 */
export async function createLocalScreenTracks({ audio = false, frameRate = 15 } = {}) {
  /** @type {any} */
  const c = { video: { frameRate: { ideal: frameRate } }, audio };
  if (audio) c.systemAudio = 'include';
  const stream = await capture('getDisplayMedia', c, 'screen');
  const video = stream.getVideoTracks()[0];
  if ('contentHint' in video) video.contentHint = 'detail';
  const out = [new LocalTrack(null, video, { source: Source.Screen, simulcast: false })];
  const a = stream.getAudioTracks()[0];
  if (a) out.push(new LocalTrack(null, a, { source: Source.ScreenAudio }));
  return out;
}
