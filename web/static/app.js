// The conference page: a lobby form, then a grid of video tiles built on
// the rtcloud SDK. window.rtcloudApp exposes the state for debugging and
// tests.
import { Room, Source, devToken } from '/sdk/rtcloud.js';
import { Tiles } from '/static/tiles.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const app = { room: null, tiles: null, camera: null, mic: null, screen: null, preview: null };
window.rtcloudApp = app;

function toast(text, ms = 3500) {
  const t = $('toast');
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (t.hidden = true), ms);
}

function randomId(n = 6) {
  const a = new Uint8Array(n);
  crypto.getRandomValues(a);
  return [...a].map((b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('');
}

function identityFor(name) {
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 24) || 'guest';
  return `${slug}-${randomId(4)}`;
}

// ---- lobby ----

async function startPreview() {
  stopPreview();
  const video = $('with-camera').checked;
  const audio = $('with-mic').checked;
  if (!video && !audio) return updatePreview();
  try {
    app.preview = await navigator.mediaDevices.getUserMedia({
      video: video ? { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } } : false,
      audio: audio ? { echoCancellation: true, noiseSuppression: true, autoGainControl: true } : false,
    });
  } catch (err) {
    app.preview = null;
    toast(`Camera or microphone unavailable: ${err.message}`);
  }
  updatePreview();
}

function stopPreview() {
  app.preview?.getTracks().forEach((t) => t.stop());
  app.preview = null;
}

function updatePreview() {
  const v = app.preview?.getVideoTracks()[0];
  $('preview').srcObject = v ? new MediaStream([v]) : null;
  $('preview-off').hidden = !!v;
}

function showLobby(message = '') {
  $('lobby').hidden = false;
  $('stage').hidden = true;
  $('controls').hidden = true;
  $('room-info').hidden = true;
  $('banner').hidden = true;
  $('join').disabled = false;
  $('join-error').textContent = message;
  startPreview();
}

// ---- joining ----

async function join(name, roomName) {
  $('join').disabled = true;
  $('join-error').textContent = '';
  localStorage.setItem('rtcloud.name', name);
  const identity = identityFor(name);
  // ?token=T joins with the application's token (production); without
  // it the page asks the dev server for one (rtcloud dev).
  const pageToken = new URLSearchParams(location.search).get('token');
  const token = pageToken ?? (() => devToken(location.origin, { room: roomName, identity, name }));
  const room = new Room(location.origin, token, { name });
  app.room = room;
  app.tiles = new Tiles($('grid'), room, { localName: name });
  wireRoom(room);
  try {
    await room.connect();
  } catch (err) {
    app.tiles.clear();
    app.room = null;
    showLobby(`Could not join: ${err.message}`);
    return;
  }
  if (!pageToken) history.replaceState(null, '', `/?room=${encodeURIComponent(roomName)}`);
  $('lobby').hidden = true;
  $('stage').hidden = false;
  $('controls').hidden = false;
  $('room-info').hidden = false;
  $('room-name').textContent = room.name;
  document.title = `${room.name} · rtcloud`;
  app.tiles.render();
  await publishLocal(room);
}

async function publishLocal(room) {
  let stream = app.preview;
  app.preview = null;
  $('preview').srcObject = null;
  const video = stream?.getVideoTracks()[0];
  const audio = stream?.getAudioTracks()[0];
  const jobs = [];
  if (video) jobs.push(room.publishTrack(video, { source: Source.Camera }).then((t) => (app.camera = t)));
  if (audio) jobs.push(room.publishTrack(audio, { source: Source.Microphone }).then((t) => (app.mic = t)));
  const results = await Promise.allSettled(jobs);
  for (const r of results) if (r.status === 'rejected') toast(`Publishing failed: ${r.reason.message}`);
  app.tiles.render();
  updateControls();
}

function wireRoom(room) {
  const count = () => {
    const all = [...room.participants.values()];
    const viewers = all.filter((p) => p.isViewer).length;
    $('room-count').textContent = `${all.length - viewers + 1} in the room`;
    $('room-viewers').textContent = `${viewers} watching`;
    $('room-viewers').hidden = viewers === 0;
  };
  room.on('participantJoined', count);
  room.on('participantLeft', (p) => {
    count();
    toast(`${p.name} left`);
  });
  // A track may end without the buttons (the browser's "Stop sharing", an
  // unplugged device): forget it so the buttons tell the truth.
  room.on('localTrackUnpublished', (l) => {
    for (const key of ['camera', 'mic', 'screen']) if (app[key] === l) app[key] = null;
    updateControls();
  });
  room.on('stateChanged', (s) => ($('banner').hidden = s !== 'reconnecting'));
  room.on('reconnected', ({ resumed }) => toast(resumed ? 'Reconnected' : 'Reconnected (new session)'));
  room.on('disconnected', (reason) => {
    app.tiles?.clear();
    app.camera = app.mic = app.screen = null;
    app.room = null;
    showLobby(reason === 'left' ? '' : `Disconnected: ${reason}`);
  });
  room.on('data', (payload, from) => {
    if (payload?.chat) toast(`${from?.name ?? 'someone'}: ${payload.chat}`);
  });
  room.on('error', (err) => console.warn('rtcloud:', err));
  count();
}

// ---- controls ----

function setButton(id, off, label, title) {
  const b = $(id);
  b.classList.toggle('off', off);
  b.querySelector('.label').textContent = label;
  b.title = title;
}

function updateControls() {
  const micOff = !app.mic || app.mic.muted;
  const camOff = !app.camera || app.camera.muted;
  setButton('btn-mic', micOff, micOff ? 'Unmute' : 'Mute', micOff ? 'Unmute microphone' : 'Mute microphone');
  setButton('btn-cam', camOff, camOff ? 'Start video' : 'Stop video', camOff ? 'Start camera' : 'Stop camera');
  $('btn-screen').classList.toggle('on', !!app.screen);
  $('btn-screen').querySelector('.label').textContent = app.screen ? 'Stop share' : 'Share';
  $('btn-stats').classList.toggle('on', !document.body.classList.contains('no-stats'));
  app.tiles?.render();
}

async function toggle(kind) {
  const room = app.room;
  if (!room) return;
  const key = kind === 'audio' ? 'mic' : 'camera';
  try {
    const t = app[key];
    if (!t) {
      app[key] = kind === 'audio' ? await room.publishMicrophone() : await room.publishCamera();
    } else if (t.muted) {
      await t.unmute();
    } else {
      await t.mute();
    }
  } catch (err) {
    toast(err.message);
  }
  updateControls();
}

async function toggleScreen() {
  const room = app.room;
  if (!room) return;
  try {
    if (app.screen) {
      const s = app.screen;
      app.screen = null;
      await room.unpublish(s);
    } else {
      app.screen = await room.publishScreen();
    }
  } catch (err) {
    if (err.name !== 'NotAllowedError') toast(`Screen sharing: ${err.message}`);
  }
  updateControls();
}

$('btn-mic').onclick = () => toggle('audio');
$('btn-cam').onclick = () => toggle('video');
$('btn-screen').onclick = toggleScreen;
$('btn-switch').onclick = async () => {
  try {
    await app.room?.switchCamera();
    app.tiles?.render();
  } catch (err) {
    toast(err.message);
  }
};
$('btn-stats').onclick = () => {
  document.body.classList.toggle('no-stats');
  updateControls();
};
$('btn-leave').onclick = () => app.room?.leave();
$('copy-link').onclick = async () => {
  try {
    await navigator.clipboard.writeText(location.href);
    toast('Link copied');
  } catch {
    toast(location.href);
  }
};
$('with-camera').onchange = startPreview;
$('with-mic').onchange = startPreview;
$('join-form').onsubmit = (ev) => {
  ev.preventDefault();
  join($('name').value.trim(), $('room').value.trim());
};
window.addEventListener('pagehide', () => app.room?.leave());

// ---- start ----

if (params.get('stats') === '0') document.body.classList.add('no-stats');
$('name').value = params.get('name') ?? localStorage.getItem('rtcloud.name') ?? '';
$('room').value = params.get('room') ?? '';
if (params.get('room')) {
  const name = $('name').value || `Guest ${randomId(3)}`;
  $('name').value = name;
  startPreview().then(() => join(name, params.get('room')));
} else {
  showLobby();
}
