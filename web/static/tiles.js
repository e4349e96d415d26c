// The video grid of the conference page: one tile per participant (and
// per shared screen), kept in step with the room's state.
import { Source } from '/sdk/rtcloud.js';

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function initials(name) {
  const parts = (name || '?').trim().split(/\s+/);
  return ((parts[0]?.[0] ?? '?') + (parts.length > 1 ? parts[parts.length - 1][0] : '')).toUpperCase();
}

function fmtRate(bps) {
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(2)} Mbps`;
  return `${Math.round(bps / 1e3)} kbps`;
}

export class Tiles {
  constructor(grid, room, { localName = '' } = {}) {
    this.grid = grid;
    this.room = room;
    this.localName = localName;
    /** @type {Map<string, HTMLElement>} */
    this.tiles = new Map();
    /** @type {Map<string, HTMLAudioElement>} by track id */
    this.audios = new Map();
    this.speaking = new Set();
    this._offs = [];
    const render = () => this.render();
    for (const ev of ['participantJoined', 'participantLeft', 'trackSubscribed', 'trackUnsubscribed', 'trackMuted',
      'trackPublished', 'trackUnpublished', 'localTrackPublished', 'localTrackUnpublished', 'localTrackMuted',
      'localTrackReplaced', 'layerChanged', 'reconnected', 'participantReconnecting', 'participantReconnected']) {
      this._offs.push(room.on(ev, render));
    }
    this._offs.push(room.on('activeSpeakers', (list) => {
      this.speaking = new Set(list.map((s) => (s.isLocal ? 'local' : s.sessionId)));
      this.render();
    }));
    this._timer = setInterval(() => this._updateStats(), 1000);
    this._resize = new ResizeObserver(() => this._layout());
    this._resize.observe(grid);
  }

  clear() {
    clearInterval(this._timer);
    this._resize.disconnect();
    for (const off of this._offs) off();
    for (const a of this.audios.values()) a.remove();
    this.audios.clear();
    this.tiles.clear();
    this.grid.replaceChildren();
  }

  /** The tiles that should exist now: key -> description. */
  _wanted() {
    const room = this.room;
    const want = new Map();
    const local = (src) => room.localTracks.find((l) => l.source === src);
    want.set('local', {
      local: true, name: `${this.localName || room.self?.name || 'You'} (you)`, identity: room.self?.identity ?? '',
      session: room.sessionId, source: Source.Camera, video: local(Source.Camera), audio: local(Source.Microphone),
    });
    if (local(Source.Screen)) {
      want.set('local:screen', { local: true, name: 'Your screen', session: room.sessionId, source: Source.Screen, video: local(Source.Screen) });
    }
    for (const p of room.participants.values()) {
      // A WHEP viewer only watches: it is counted, not shown.
      if (p.isViewer && p.tracks.size === 0) continue;
      // A participant that moves to another node keeps its tile (its first
      // session id), marked while it reconnects.
      const key = (p._tileKey ??= p.sessionId);
      want.set(key, {
        name: p.reconnecting ? `${p.name} (reconnecting…)` : p.name, identity: p.identity, session: p.sessionId, source: Source.Camera,
        video: p.trackBySource(Source.Camera) ?? [...p.tracks.values()].find((t) => t.kind === 'video' && t.source !== Source.Screen),
        audio: p.trackBySource(Source.Microphone) ?? [...p.tracks.values()].find((t) => t.kind === 'audio'),
      });
      const screen = p.trackBySource(Source.Screen);
      if (screen) want.set(`${key}:screen`, { name: `${p.name} (screen)`, identity: p.identity, session: p.sessionId, source: Source.Screen, video: screen });
    }
    return want;
  }

  render() {
    const want = this._wanted();
    for (const [key, tile] of this.tiles) {
      if (!want.has(key)) {
        tile.remove();
        this.tiles.delete(key);
      }
    }
    for (const [key, d] of want) {
      let tile = this.tiles.get(key);
      if (!tile) {
        tile = this._create(key, d);
        this.tiles.set(key, tile);
        this.grid.append(tile);
      }
      this._update(key, tile, d);
    }
    this._renderAudio();
    this._layout();
  }

  /**
   * Sizes the tiles so that all of them fit the grid's box: the column
   * count that gives the largest 16:9 tile wins.
   */
  _layout() {
    const n = this.tiles.size;
    const { width, height } = this.grid.getBoundingClientRect();
    if (!n || !width || !height) return;
    const gap = parseFloat(getComputedStyle(this.grid).columnGap) || 0;
    let best = 0;
    let bestCols = 1;
    for (let cols = 1; cols <= n; cols++) {
      const rows = Math.ceil(n / cols);
      const w = Math.min((width - gap * (cols - 1)) / cols, ((height - gap * (rows - 1)) / rows) * (16 / 9));
      if (w > best) {
        best = w;
        bestCols = cols;
      }
    }
    this.grid.style.setProperty('--tile-w', `${Math.max(0, Math.floor(best))}px`);
    this.grid.dataset.cols = String(bestCols);
  }

  _create(key, d) {
    const tile = el('div', 'tile');
    tile.dataset.key = key;
    const video = el('video', d.source === Source.Camera ? 'camera' : 'screen');
    video.autoplay = true;
    video.playsInline = true;
    video.muted = true; // audio plays through separate <audio> elements
    const avatar = el('div', 'avatar');
    avatar.append(el('span', '', initials(d.name.replace(/\s*\(.*\)$/, ''))));
    const plate = el('div', 'nameplate');
    const micOff = el('span', 'mic-off');
    micOff.title = 'Microphone muted';
    micOff.innerHTML = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M2 2l20 20"/><path d="M9 9v3a3 3 0 0 0 5.1 2.1M15 9.3V5a3 3 0 0 0-5.9-.6"/><path d="M17 16.9A7 7 0 0 1 5 12v-2m14 0v2c0 .8-.1 1.5-.4 2.2"/><path d="M12 19v3"/></svg>';
    plate.append(micOff, el('span', 'name', d.name));
    const stats = el('div', 'stats', '');
    tile.append(video, avatar, plate, stats);
    if (!d.local) {
      const q = el('select', 'quality');
      q.title = 'Received quality';
      for (const [v, label] of [['', 'Auto'], ['high', 'High'], ['medium', 'Medium'], ['low', 'Low']]) {
        const o = el('option', '', label);
        o.value = v;
        q.append(o);
      }
      q.onchange = () => this._tileVideo(key)?.setLayer(q.value).catch((err) => console.warn(err));
      tile.append(q);
    }
    return tile;
  }

  _tileVideo(key) {
    return this._wanted().get(key)?.video;
  }

  _update(key, tile, d) {
    tile.classList.toggle('local', !!d.local);
    tile.classList.toggle('screen', d.source === Source.Screen);
    tile.dataset.session = d.session ?? '';
    tile.dataset.identity = d.identity ?? '';
    tile.dataset.source = d.source;
    tile.querySelector('.name').textContent = d.name;
    const v = d.video;
    const media = v?.mediaStreamTrack ?? null;
    const video = tile.querySelector('video');
    if ((video.srcObject?.getTracks()[0] ?? null) !== media) {
      video.srcObject = media ? new MediaStream([media]) : null;
    }
    tile.classList.toggle('has-video', !!media && !v.muted);
    tile.classList.toggle('audio-muted', d.source === Source.Camera && (!d.audio || d.audio.muted));
    tile.classList.toggle('speaking', this.speaking.has(d.local ? 'local' : d.session) && d.source === Source.Camera && !!d.audio && !d.audio.muted);
    const q = tile.querySelector('.quality');
    if (q) q.hidden = !v || (v.layers?.length ?? 0) < 2; // nothing to choose without simulcast
    if (q && v && document.activeElement !== q) q.value = v.requestedLayer ?? '';
    tile._video = v;
  }

  _renderAudio() {
    const live = new Set();
    for (const p of this.room.participants.values()) {
      for (const t of p.tracks.values()) {
        if (t.kind !== 'audio' || !t.mediaStreamTrack) continue;
        live.add(t.id);
        let a = this.audios.get(t.id);
        if (!a) {
          a = el('audio');
          a.autoplay = true;
          a.dataset.track = t.id;
          document.body.append(a);
          this.audios.set(t.id, a);
        }
        if (a.srcObject?.getTracks()[0] !== t.mediaStreamTrack) a.srcObject = new MediaStream([t.mediaStreamTrack]);
      }
    }
    for (const [id, a] of this.audios) {
      if (!live.has(id)) {
        a.remove();
        this.audios.delete(id);
      }
    }
  }

  async _updateStats() {
    if (document.body.classList.contains('no-stats')) return;
    for (const tile of this.tiles.values()) {
      const v = tile._video;
      const box = tile.querySelector('.stats');
      if (!v || !v.transceiver) {
        box.hidden = true;
        continue;
      }
      let s;
      try {
        s = await v.getStats();
      } catch {
        s = null;
      }
      if (!s) continue;
      box.hidden = false;
      const lines = [
        s.width ? `${s.width}×${s.height}  ${Math.round(s.fps || 0)} fps` : 'starting…',
        `${fmtRate(s.bitrate)}  loss ${s.lossPercent.toFixed(1)}%`,
        `RTT ${s.rtt === undefined ? '–' : Math.round(s.rtt) + ' ms'}  ${(s.codec || '').replace(/^video\//, '')}`,
      ];
      if (s.layers !== undefined) lines.push(`${s.layers} layer${s.layers === 1 ? '' : 's'} sent`);
      else if (v.currentLayer) lines.push(`layer ${v.currentLayer}`);
      box.textContent = lines.join('\n');
    }
  }
}
