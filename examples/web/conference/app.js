// A conference page on @rtcloud/sdk: preview the camera, join, publish,
// show everyone, follow devices and connection quality, leave.
//
// Query parameters: server (the rtcloud URL, default this page's origin),
// room, identity, and token (the URL of your token endpoint, default
// /token on this origin: see examples/go/token-server and
// examples/node/token-server).
import { connect, createLocalTracks, listDevices, ErrorCode, RtcError, VERSION } from '@rtcloud/sdk';

const params = new URLSearchParams(location.search);
const server = params.get('server') ?? location.origin;
const room = params.get('room') ?? 'demo';
const identity = params.get('identity') ?? `guest-${Math.floor(Math.random() * 1e4)}`;
const tokenURL = params.get('token') ?? '/token';

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
/** @param {string} text */
const status = (text) => ($('status').textContent = text);

/** What the page did, for people and for tests. */
const state = {
  version: VERSION,
  phase: 'starting',
  previewWidth: 0,
  /** @type {{width: number, height: number} | null} */
  firstStats: null,
  /** @type {Record<string, string>} identity -> connection quality */
  quality: {},
  /** @type {string[]} */
  left: [],
  /** @type {string[]} */
  deviceKinds: [],
  error: '',
};

/** @returns {Promise<string>} */
async function fetchToken() {
  const u = new URL(tokenURL, location.href);
  u.searchParams.set('room', room);
  u.searchParams.set('identity', identity);
  const res = await fetch(u);
  if (!res.ok) throw new Error(`token: HTTP ${res.status}`);
  const body = /** @type {{token: string}} */ (await res.json());
  return body.token;
}

async function fillDevices() {
  for (const kind of /** @type {MediaDeviceKind[]} */ (['videoinput', 'audioinput', 'audiooutput'])) {
    const select = /** @type {HTMLSelectElement} */ ($(kind));
    select.replaceChildren();
    for (const d of await listDevices(kind)) {
      select.append(new Option(d.label || d.deviceId, d.deviceId));
      if (!state.deviceKinds.includes(kind)) state.deviceKinds.push(kind);
    }
  }
}

async function main() {
  // 1. Preview before joining.
  const tracks = await createLocalTracks({ audio: true, video: true });
  const video = tracks.find((t) => t.kind === 'video');
  if (video) {
    const el = /** @type {HTMLVideoElement} */ (video.attach(/** @type {HTMLVideoElement} */ ($('preview'))));
    await new Promise((resolve) => (el.videoWidth ? resolve(null) : el.addEventListener('loadedmetadata', resolve, { once: true })));
    state.previewWidth = el.videoWidth;
  }
  await fillDevices();

  // 2. Join; register handlers before the first events.
  status(`Joining ${room} as ${identity}…`);
  const r = await connect(server, fetchToken, { name: identity });
  window.app.room = r;
  r.on('trackSubscribed', (track, p) => {
    const tile = document.createElement('div');
    tile.className = 'tile';
    tile.id = `tile-${track.id}`;
    tile.dataset.identity = p.identity;
    const label = document.createElement('div');
    label.textContent = p.name;
    tile.append(track.attach(), label);
    if (track.kind === 'audio') tile.hidden = true;
    $('tiles').append(tile);
  });
  r.on('trackUnsubscribed', (track) => {
    track.detach();
    document.getElementById(`tile-${track.id}`)?.remove();
  });
  r.on('participantLeft', (p) => state.left.push(p.identity));
  r.on('connectionQualityChanged', (q, p) => (state.quality[p ? p.identity : identity] = q));
  r.on('audioPlaybackChanged', (ok) => ($('unmute').style.display = ok ? 'none' : 'inline'));
  r.on('deviceChanged', () => void fillDevices());
  r.on('disconnected', (reason) => status(`Disconnected: ${reason}`));
  $('unmute').onclick = () => void r.startAudio();
  for (const kind of /** @type {const} */ (['videoinput', 'audioinput', 'audiooutput'])) {
    const select = /** @type {HTMLSelectElement} */ ($(kind));
    select.onchange = () => r.switchDevice(kind, select.value).catch((err) => status(`${kind}: ${err.message}`));
  }
  $('leave').onclick = () => void r.leave().then(() => status('You left.'));

  // 3. Publish what was previewed.
  for (const t of tracks) await r.publishTrack(t);
  if (video) {
    const s = await video.getStats();
    state.firstStats = s && { width: s.width, height: s.height };
  }
  state.phase = 'joined';
  status(`In ${room} as ${identity} (SDK ${VERSION})`);
}

window.app = { state, room: null };
main().catch((err) => {
  state.phase = 'failed';
  state.error = err instanceof RtcError ? `${err.code}: ${err.message}` : String(err);
  if (err instanceof RtcError && err.code === ErrorCode.PermissionDenied) status('Allow the camera and microphone, then reload.');
  else status(`Failed: ${state.error}`);
});
