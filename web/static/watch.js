// The viewer page /watch/{room}[?identity=I][&token=T]: plays the room's
// most recent publisher (or the one named) over WHEP.
import { WHEPClient, devToken } from '/sdk/rtcloud.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const room = decodeURIComponent(location.pathname.split('/').filter(Boolean)[1] ?? '');
const who = params.get('identity');
$('room-name').textContent = room + (who ? ` / ${who}` : '');
document.title = `${room} · watch · rtcloud`;

const viewer = `viewer-${Math.random().toString(36).slice(2, 8)}`;
const token = params.get('token') ?? (() => devToken(location.origin, { room, identity: viewer, name: 'Viewer' }));
const endpoint = `/whep/${encodeURIComponent(room)}` + (who ? `/${encodeURIComponent(who)}` : '');
const client = new WHEPClient(endpoint, token);
window.rtcloudViewer = client;

const status = {
  connecting: 'Connecting…',
  waiting: 'Nothing is published in this room yet; waiting…',
  playing: 'Playing',
  stopped: 'Stopped',
};
client.on('state', (s) => ($('status').textContent = status[s] ?? s));
client.on('track', () => {
  $('video').srcObject = client.stream;
  $('video').play().catch(() => {});
});
$('unmute').onclick = () => {
  const v = $('video');
  v.muted = !v.muted;
  $('unmute').textContent = v.muted ? 'Unmute' : 'Mute';
};
window.addEventListener('pagehide', () => client.stop());
client.start().catch((err) => ($('status').textContent = `Error: ${err.message}`));
