// The cluster dashboard: sign-in, a live overview from the server's event
// stream, and views rendered from it. Plain ES modules, no build step.
import { esc, bits, bytes, lineChart, topologySVG, palette, linksOf } from './charts.js';

const $ = (s) => document.querySelector(s);
const state = { token: sessionStorage.getItem('rtcloud.dash.token') || '', overview: null, history: null, room: null, search: '', ns: '' };
window.rtcloudDashboard = state; // for tests and the curious

async function api(path, opts = {}) {
  const res = await fetch('/dashboard/api' + path, { ...opts, headers: { Authorization: 'Bearer ' + state.token, ...(opts.headers || {}) } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw Object.assign(new Error(body?.error?.message || res.statusText), { status: res.status });
  return body;
}

// ---- sign-in ----

async function start() {
  if (!state.token) {
    try { // rtcloud dev signs in by itself
      const r = await fetch('/dashboard/api/dev-token');
      if (r.ok) state.token = (await r.json()).token;
    } catch { /* not dev */ }
  }
  if (!state.token) return showSignin();
  try {
    state.overview = await api('/overview');
  } catch (e) {
    return showSignin(e.status === 401 || e.status === 403 ? e.message : 'cannot reach the controller: ' + e.message);
  }
  sessionStorage.setItem('rtcloud.dash.token', state.token);
  $('#signin').hidden = true;
  $('#app').hidden = false;
  stream();
  window.addEventListener('hashchange', render);
  render();
}

function showSignin(msg) {
  $('#app').hidden = true;
  $('#signin').hidden = false;
  $('#signin-error').hidden = !msg;
  $('#signin-error').textContent = msg || '';
}

$('#signin-form').addEventListener('submit', (e) => {
  e.preventDefault();
  state.token = $('#signin-token').value.trim();
  start();
});
$('#signout').addEventListener('click', () => {
  sessionStorage.removeItem('rtcloud.dash.token');
  state.token = '';
  location.hash = '';
  location.reload();
});

// ---- live stream (Server-Sent Events over fetch, so the token stays in a header) ----

async function stream() {
  let pause = 500;
  for (;;) {
    try {
      const res = await fetch('/dashboard/api/stream', { headers: { Authorization: 'Bearer ' + state.token } });
      if (res.status === 401 || res.status === 403) return showSignin('the token is no longer accepted');
      if (!res.ok) throw new Error(res.statusText);
      setLive(true);
      pause = 500;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          onEvent(buf.slice(0, i));
          buf = buf.slice(i + 2);
        }
      }
    } catch { /* reconnect below */ }
    setLive(false);
    await new Promise((r) => setTimeout(r, pause));
    pause = Math.min(pause * 2, 5000);
  }
}

function onEvent(block) {
  let event = 'message', data = '';
  for (const line of block.split('\n')) {
    if (line.startsWith('event: ')) event = line.slice(7);
    else if (line.startsWith('data: ')) data += line.slice(6);
  }
  if (!data) return;
  const v = JSON.parse(data);
  if (event === 'overview') {
    state.overview = v;
    state.updates = (state.updates || 0) + 1;
    render(true);
  } else if (event === 'history') {
    state.history = v;
    if (route().tab === 'history') render(true);
  }
}

function setLive(on) {
  $('#live').className = 'live ' + (on ? 'on' : 'off');
  $('#live span').textContent = on ? 'live' : 'reconnecting';
}

// ---- routing and chrome ----

function route() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const tab = ['overview', 'topology', 'rooms', 'history'].includes(parts[0]) ? parts[0] : 'overview';
  return { tab, ns: parts[1], room: parts[2] };
}

let lastKey = '';
function render(fromStream) {
  const o = state.overview;
  if (!o) return;
  const r = route();
  $('#ctl-id').textContent = o.controller;
  $('#leader-badge').textContent = o.leader === o.controller ? 'leader' : '';
  $('#ctl-id').parentElement.title = 'this controller: ' + o.controller + ' (rtcloud ' + o.version + ')\nleader: ' + (o.leader || 'none');
  $('#version').textContent = o.version;
  $('#viewer').innerHTML = `<span class="muted">${o.viewer.operator ? 'operator' : 'tenant'}</span> <b>${esc(o.viewer.namespace)}</b>`;
  for (const a of document.querySelectorAll('#tabs a')) {
    a.classList.toggle('active', a.dataset.tab === r.tab);
    a.hidden = !o.viewer.operator && (a.dataset.tab === 'topology' || a.dataset.tab === 'history');
  }
  const key = location.hash;
  const fresh = key !== lastKey;
  lastKey = key;
  const view = $('#view');
  if (r.tab === 'overview') view.innerHTML = overviewView(o);
  else if (r.tab === 'topology') topologyView(view, fresh);
  else if (r.tab === 'rooms' && r.room) roomView(view, r.ns, r.room, fresh || fromStream);
  else if (r.tab === 'rooms') roomsView(view, o, fresh);
  else historyView(view, fresh);
}

// ---- overview ----

function overviewView(o) {
  const t = o.totals;
  const nodes = o.regions.flatMap((g) => g.nodes);
  const cap = t.capacity ? `${Math.round((100 * t.participants) / t.capacity)}% of ${t.capacity}` : 'no limit set';
  const op = o.viewer.operator;
  let html = `<div class="kpis${op ? '' : ' narrow'}">
    ${op ? kpi('Nodes', `${t.live_nodes}<span class="muted" style="font-size:15px"> / ${t.nodes}</span>`, `${o.regions.length} region${o.regions.length === 1 ? '' : 's'}`, 'total-nodes') : ''}
    ${kpi('Rooms', t.rooms, `${o.namespaces.length} namespace${o.namespaces.length === 1 ? '' : 's'}`, 'total-rooms')}
    ${kpi('Participants', t.participants, op ? cap : 'in ' + o.viewer.namespace, 'total-participants')}
    ${op ? kpi('Tracks', t.tracks, 'on the nodes, relayed copies too', 'total-tracks') : ''}
    ${op ? kpi('Bandwidth in', bits(t.bits_in_per_s), 'from publishers and relays', 'total-in') : ''}
    ${op ? kpi('Bandwidth out', bits(t.bits_out_per_s), 'to subscribers and relays', 'total-out') : ''}
  </div>`;
  if (!o.viewer.operator) {
    html += `<h2>Rooms of ${esc(o.viewer.namespace)} <span class="count">${o.rooms.length}</span></h2>` + roomsTable(o.rooms);
    return html;
  }
  if (!nodes.length) html += `<h2>Nodes</h2><div class="empty">No SFU node has reported yet.</div>`;
  html += '<div class="regions">';
  for (const g of o.regions) {
    const part = g.nodes.reduce((s, n) => s + (n.load?.participants || 0), 0);
    html += `<div class="region"><div class="region-head"><span class="name">${esc(g.region || 'no region')}</span>
      <span class="muted">${g.nodes.length} node${g.nodes.length === 1 ? '' : 's'} · ${part} participants</span></div>
      <div class="nodes">${g.nodes.map(nodeCard).join('')}</div></div>`;
  }
  html += '</div>';
  const busiest = [...o.rooms].sort((a, b) => b.participants - a.participants).slice(0, 8);
  html += `<h2>Busiest rooms <span class="count">${o.rooms.length}</span> <a href="#/rooms" style="text-transform:none;letter-spacing:0;font-weight:500">all rooms →</a></h2>` + roomsTable(busiest);
  return html;
}

function kpi(label, value, sub, id) {
  return `<div class="kpi" data-kpi="${id}"><div class="label">${label}</div><div class="value" id="${id}">${value}</div><div class="sub">${esc(sub)}</div></div>`;
}

function nodeCard(n) {
  const l = n.load || {};
  const capPct = n.capacity ? Math.min(100, (100 * (l.participants || 0)) / n.capacity) : Math.min(100, 100 * (n.load_score || 0));
  const cpu = Math.min(100, 100 * (l.cpu || 0));
  const rooms = (n.rooms_here || []).slice(0, 6).map((r) => `<a class="tag" href="#/rooms/${r.split('/').map(encodeURIComponent).join('/')}">${esc(r)}</a>`).join('');
  const more = (n.rooms_here || []).length > 6 ? `<span class="tag">+${n.rooms_here.length - 6}</span>` : '';
  const action = n.state === 'dead' ? '' : n.state === 'draining'
    ? `<button class="small ghost" data-undrain="${esc(n.id)}">Undrain</button>`
    : `<button class="small warn" data-drain="${esc(n.id)}">Drain</button>`;
  return `<div class="node ${n.state}" data-node="${esc(n.id)}">
    <div class="node-head"><span class="id" title="${esc(n.id)}">${esc(n.id)}</span><span class="pill ${n.state}">${n.state}</span>
      <span class="spacer"></span>${action}</div>
    <div class="stats">
      <div class="stat"><div class="k">rooms</div><div class="v" data-f="rooms">${l.rooms || 0}</div></div>
      <div class="stat"><div class="k">participants</div><div class="v" data-f="participants">${l.participants || 0}</div></div>
      <div class="stat"><div class="k">tracks</div><div class="v" data-f="tracks">${l.tracks || 0}</div></div>
    </div>
    <div class="meter"><span class="k">CPU</span><div class="bar ${cpu > 80 ? 'hot' : ''}"><span style="width:${cpu.toFixed(1)}%"></span></div><span class="v">${cpu.toFixed(0)}%</span></div>
    <div class="meter"><span class="k">capacity</span><div class="bar ${capPct > 85 ? 'hot' : ''}"><span style="width:${capPct.toFixed(1)}%"></span></div><span class="v">${n.capacity ? `${l.participants || 0}/${n.capacity}` : `${Math.round(capPct)}%`}</span></div>
    <div class="meter"><span class="k">memory</span><span class="muted">${bytes(l.memory_bytes)}</span><span class="v"></span></div>
    <div class="meter"><span class="k">in / out</span><span>${bits(l.bits_in_per_s)} <span class="muted">/</span> ${bits(l.bits_out_per_s)}</span><span class="v"></span></div>
    ${n.relay_links ? `<div class="meter" data-f="relay"><span class="k">relay</span><span class="${n.relay_up < n.relay_links ? 'error' : ''}">${n.relay_up}/${n.relay_links} links up</span><span class="v"></span></div>` : ''}
    <div class="node-rooms">${rooms}${more}</div>
  </div>`;
}

// ---- rooms ----

function roomsView(view, o, fresh) {
  if (fresh || !view.querySelector('#room-search')) {
    view.innerHTML = `<div class="toolbar">
      <input type="search" id="room-search" placeholder="Search rooms…" value="${esc(state.search)}">
      <select id="room-ns"><option value="">all namespaces</option></select>
      <span class="muted" id="room-count"></span></div><div id="rooms-table"></div>`;
    $('#room-search').addEventListener('input', (e) => { state.search = e.target.value; roomsView(view, state.overview, false); });
    $('#room-ns').addEventListener('change', (e) => { state.ns = e.target.value; roomsView(view, state.overview, false); });
  }
  const sel = $('#room-ns');
  const opts = ['', ...o.namespaces];
  if (sel.options.length !== opts.length) sel.innerHTML = opts.map((n) => `<option value="${esc(n)}">${n ? esc(n) : 'all namespaces'}</option>`).join('');
  sel.value = state.ns;
  const q = state.search.toLowerCase();
  const rooms = o.rooms.filter((r) => (!state.ns || r.namespace === state.ns) && (!q || (r.namespace + '/' + r.room).toLowerCase().includes(q)));
  $('#room-count').textContent = `${rooms.length} of ${o.rooms.length} rooms`;
  $('#rooms-table').innerHTML = roomsTable(rooms);
}

function roomsTable(rooms) {
  if (!rooms.length) return `<div class="empty">No rooms.</div>`;
  const regionOf = nodeRegions();
  return `<table><thead><tr><th>Namespace</th><th>Room</th><th>Nodes</th><th class="num">Participants</th><th>Started</th></tr></thead><tbody>
    ${rooms.map((r) => {
      const nodes = Object.keys(r.nodes || {}).length ? Object.entries(r.nodes) : r.node_id ? [[r.node_id, 0]] : [];
      return `<tr class="link" data-room="${esc(r.namespace + '/' + r.room)}">
      <td class="muted">${esc(r.namespace)}</td><td><b>${esc(r.room)}</b>${r.egress ? ` <span class="rec" title="${r.egress} egress running">REC</span>` : ''}</td>
      <td>${nodes.map(([id, n]) => `<span class="tag" title="${n} here">${esc(id)}${regionOf[id] ? ' · ' + esc(regionOf[id]) : ''}</span>`).join(' ')}</td>
      <td class="num participants">${r.participants}</td><td class="muted">${r.created_at ? ago(r.created_at) : ''}</td></tr>`;
    }).join('')}</tbody></table>`;
}

function nodeRegions() {
  const m = {};
  for (const g of state.overview?.regions || []) for (const n of g.nodes) m[n.id] = g.region;
  return m;
}

let roomFetch = 0;
async function roomView(view, ns, room, refetch) {
  if (!view.querySelector('#room-page') || view.dataset.room !== ns + '/' + room) {
    view.dataset.room = ns + '/' + room;
    view.innerHTML = `<div id="room-page"><div class="muted">Loading ${esc(ns)}/${esc(room)}…</div></div>`;
    refetch = true;
  }
  if (!refetch) return;
  const my = ++roomFetch;
  let st, err;
  try { st = await api(`/rooms/${encodeURIComponent(ns)}/${encodeURIComponent(room)}`); } catch (e) { err = e; }
  if (my !== roomFetch || route().room !== room) return;
  const page = $('#room-page');
  if (!page) return;
  if (err) { page.innerHTML = `<p><a href="#/rooms">← Rooms</a></p><div class="empty">${esc(err.message)}</div>`; return; }
  state.room = st;
  const regionOf = nodeRegions();
  const tracks = st.participants.reduce((s, p) => s + (p.tracks || []).length, 0);
  const nodes = [...new Set(st.participants.map((p) => p.node_id).concat(st.node_id ? [st.node_id] : []))];
  page.innerHTML = `<p class="crumb"><a href="#/rooms">Rooms</a> / ${esc(st.namespace)}</p>
    <div class="room-head"><h1>${esc(st.room)}</h1>
      <span class="chip"><span class="muted">participants</span> <b id="room-participants">${st.participants.length}</b></span>
      <span class="chip"><span class="muted">tracks</span> <b>${tracks}</b></span>
      <span class="chip"><span class="muted">started</span> ${esc(ago(st.created_at))}</span>
      ${nodes.map((n) => `<span class="chip"><span class="muted">node</span> <span class="mono">${esc(n)}</span> ${regionOf[n] ? `<span class="muted">${esc(regionOf[n])}</span>` : ''}
        ${state.overview.viewer.operator ? `<button class="small warn" data-drain="${esc(n)}">Drain</button>` : ''}</span>`).join('')}
    </div>
    ${st.unreachable_nodes?.length ? `<p class="error">Did not answer: ${st.unreachable_nodes.map(esc).join(', ')}</p>` : ''}
    <h2>Participants <span class="count">${st.participants.length}</span></h2>
    ${st.participants.length ? `<table><thead><tr><th>Identity</th><th>Kind</th><th>Node</th><th>Tracks</th><th>Connection</th><th>Joined</th><th></th></tr></thead><tbody>
      ${st.participants.map((p) => `<tr data-identity="${esc(p.identity)}">
        <td><b>${esc(p.identity)}</b>${p.name && p.name !== p.identity ? ` <span class="muted">${esc(p.name)}</span>` : ''}</td>
        <td class="muted">${esc(p.kind || 'ws')}</td>
        <td><span class="mono">${esc(p.node_id)}</span> <span class="muted">${esc(regionOf[p.node_id] || '')}</span></td>
        <td>${[...(p.tracks || [])].sort((a, b) => (b.kind || '').localeCompare(a.kind || '')).map(trackTag).join(' ') || '<span class="muted">none</span>'}</td>
        <td>${connection(p)}</td>
        <td class="muted">${esc(ago(p.joined_at))}</td>
        <td style="text-align:right"><button class="small danger kick" data-kick="${esc(p.identity)}">Kick</button></td></tr>`).join('')}
    </tbody></table>` : '<div class="empty">Nobody is in this room.</div>'}
    ${egressTable(st.egress || [])}`;
}

// egressTable lists the room's recordings and streams out (running, or
// ended within the hour).
function egressTable(list) {
  if (!list.length) return '';
  const out = (o) => o.file ? `file ${o.file}` : o.hls ? `HLS ${o.hls}` : o.rtmp ? o.rtmp.replace(/\/[^/]*$/, '/…') : '';
  const pill = (st) => ({ active: 'live', starting: 'draining', ending: 'draining', complete: 'live', failed: 'dead' }[st] || '');
  return `<h2>Egress <span class="count">${list.length}</span></h2><table><thead><tr><th>Egress</th><th>Type</th><th>Status</th><th>Outputs</th><th class="num">Duration</th><th class="num">Written</th><th>Started</th></tr></thead><tbody>
    ${list.map((e) => `<tr data-egress="${esc(e.egress_id)}"><td class="mono">${esc(e.egress_id)}</td><td>${esc(e.type)}${e.layout ? ` <span class="muted">${esc(e.layout)}</span>` : ''}${e.track_id ? ` <span class="mono muted">${esc(e.track_id)}</span>` : ''}</td>
      <td><span class="pill ${pill(e.status)} status">${esc(e.status)}</span>${e.reason ? ` <span class="muted">${esc(e.reason)}</span>` : ''}</td>
      <td>${(e.outputs || []).map((o) => `<span class="tag">${esc(out(o))}</span>`).join(' ')}</td>
      <td class="num">${e.duration ? Math.round(e.duration) + ' s' : '–'}</td><td class="num">${bytes(e.bytes)}</td><td class="muted">${esc(ago(e.started_at))}</td></tr>`).join('')}
  </tbody></table>`;
}

function trackTag(t) {
  const codec = (t.mime_type || '').split('/')[1] || t.kind;
  const layers = t.layers?.length ? ' ' + t.layers.map((l) => l[0]).join('') : '';
  const rate = t.bitrate_bps ? ' ' + bits(t.bitrate_bps) : t.bits_per_s ? ' ' + bits(t.bits_per_s) : '';
  return `<span class="tag ${t.kind} ${t.muted ? 'muted' : ''}" title="${esc(t.source || '')} ${esc(t.mime_type || '')}${t.layers?.length ? ' layers ' + esc(t.layers.join(',')) : ''}">${esc(codec)}${esc(layers)}${esc(rate)}</span>`;
}

// connection shows the PeerConnection's state on the node, and a quality
// score when the node reports one.
function connection(p) {
  const st = p.connection || '';
  const cls = p.quality || { connected: 'good', connecting: 'poor', new: 'poor', disconnected: 'poor', failed: 'lost', closed: 'lost' }[st] || '';
  if (!st && !p.quality) return '<span class="q"><i></i><span class="muted">no media</span></span>';
  return `<span class="q ${esc(cls)}"><i></i>${esc(st)}${p.quality ? ` <span class="muted">${esc(p.quality)}</span>` : ''}</span>`;
}

// ---- topology ----

async function topologyView(view, fresh) {
  if (!state.overview.viewer.operator) { view.innerHTML = '<div class="empty">The topology needs an operator token.</div>'; return; }
  let t;
  try { t = await api('/topology'); } catch (e) { view.innerHTML = `<div class="empty">${esc(e.message)}</div>`; return; }
  if (route().tab !== 'topology') return;
  const links = linksOf(t.links);
  const streams = t.streams || [];
  const routes = Object.entries(t.routes || {});
  const ms = (v) => (v != null ? `${v < 10 ? v.toFixed(1) : Math.round(v)} ms` : '–');
  view.innerHTML = `<div class="topo">${topologySVG(t)}
    <div class="legend"><span><i style="background:#39d0b4"></i>node (ring: load; number: participants)</span>
      <span><i style="background:#c9a7ff;border-radius:50%"></i>room living there</span>
      <span><i style="background:#5b8cff"></i>relay link (width: streams crossing)</span><span><i style="background:#f2b84b"></i>loss &gt; 2% or RTT &gt; 150 ms</span>
      <span><i style="background:#ef5b5b"></i>link down</span></div>
    <p class="note muted">${links.length ? `${links.length} link directions measured by the nodes; ${streams.filter((s) => Object.keys(s.holders || {}).length).length} of ${streams.length} published stream${streams.length === 1 ? '' : 's'} relayed to other nodes.` : 'No relay links reported: each room lives on its node. Links, their RTT and loss, and the streams crossing them appear here as soon as the nodes report them.'}</p></div>
    ${links.length ? `<h2>Relay links <span class="count">${links.length}</span></h2><table><thead><tr><th>From</th><th>To</th><th>State</th><th class="num">RTT</th><th class="num">Jitter</th><th class="num">Loss</th><th class="num">Streams</th></tr></thead><tbody>
      ${links.map((l) => `<tr data-link="${esc(l.from + '>' + l.to)}"><td class="mono">${esc(l.from)}</td><td class="mono">${esc(l.to)}</td><td>${l.up ? '<span class="pill live">up</span>' : '<span class="pill dead">down</span>'}</td>
      <td class="num">${ms(l.rtt_ms)}</td><td class="num">${ms(l.jitter_ms)}</td>
      <td class="num">${l.loss != null ? (100 * l.loss).toFixed(1) + '%' : '–'}</td><td class="num streams">${l.streams ?? 0}</td></tr>`).join('')}</tbody></table>` : ''}
    ${streams.length ? `<h2>Streams <span class="count">${streams.length}</span></h2><table><thead><tr><th>Room</th><th>Track</th><th>Origin</th><th>Relayed to (path)</th></tr></thead><tbody>
      ${streams.map((s) => `<tr><td>${esc(s.namespace + '/' + s.room)}</td><td>${trackTag(s.track || {})} <span class="muted">${esc(s.track?.identity || '')}</span></td><td class="mono">${esc(s.origin)}</td>
      <td>${Object.entries(s.holders || {}).map(([h, v]) => `<span class="tag">${esc((v.path && v.path.length ? v.path : [v.from, h]).join(' → '))}</span>`).join(' ') || '<span class="muted">only on its origin</span>'}</td></tr>`).join('')}</tbody></table>` : ''}
    ${routes.length ? `<h2>Routes</h2><table><thead><tr><th>Node</th><th>Destination</th><th>Next hop</th><th class="num">Cost</th><th>Alternate</th><th>Why</th></tr></thead><tbody>
      ${routes.flatMap(([src, m]) => Object.entries(m).map(([dst, r]) => `<tr data-route="${esc(src + '>' + dst)}"><td class="mono">${esc(src)}</td><td class="mono">${esc(dst)}</td><td class="mono">${esc(r.next_hop)}</td>
      <td class="num">${r.cost != null ? r.cost.toFixed(1) : '–'}</td><td class="mono muted">${esc(r.alternate || '')}</td><td class="muted">${esc(r.reason || '')}</td></tr>`)).join('')}</tbody></table>` : ''}`;
}

// ---- history ----

async function historyView(view, fresh) {
  if (!state.overview.viewer.operator) { view.innerHTML = '<div class="empty">Node history needs an operator token.</div>'; return; }
  if (!state.history || fresh) {
    try { state.history = await api('/history'); } catch (e) { view.innerHTML = `<div class="empty">${esc(e.message)}</div>`; return; }
  }
  if (route().tab !== 'history') return;
  const nodes = state.history.nodes;
  const color = (i) => palette[i % palette.length];
  const ser = (f) => nodes.map((n, i) => ({ name: n.id, color: color(i), points: n.points.map((p) => [p[0], f(p)]) }));
  const last = (f) => nodes.reduce((s, n) => s + (n.points.length ? f(n.points[n.points.length - 1]) : 0), 0);
  const chart = (title, now, series, fmt, minStep = 0) => `<div class="chart"><h3>${title}<b>${now}</b></h3>${lineChart(series, { fmt, minStep })}</div>`;
  view.innerHTML = `<div class="legend">${nodes.map((n, i) => `<span><i style="background:${color(i)}"></i>${esc(n.id)} <span class="muted">${esc(n.region || '')}</span></span>`).join('')}</div>
    <div class="charts">
      ${chart('Participants', last((p) => p[1]), ser((p) => p[1]), (v) => String(Math.round(v)), 1)}
      ${chart('Bandwidth out', bits(last((p) => p[3])), ser((p) => p[3]), bits, 25e3)}
      ${chart('Bandwidth in', bits(last((p) => p[2])), ser((p) => p[2]), bits, 25e3)}
      ${chart('CPU', '', ser((p) => 100 * p[4]), (v) => (v < 10 && v % 1 ? v.toFixed(1) : Math.round(v)) + '%', 0.5)}
    </div><p class="muted">Last 15 minutes, one point per ${state.history.step_seconds} s per node, kept in the controller's memory.</p>`;
}

// ---- actions (kick, drain) with confirmation ----

document.addEventListener('click', async (e) => {
  const row = e.target.closest('tr[data-room]');
  if (row && !e.target.closest('a')) {
    location.hash = '#/rooms/' + row.dataset.room.split('/').map(encodeURIComponent).join('/');
    return;
  }
  const b = e.target.closest('button');
  if (!b) return;
  if (b.dataset.kick) {
    const st = state.room;
    if (await confirmBox(`Kick ${b.dataset.kick}?`, `Every session of ${b.dataset.kick} in ${st.namespace}/${st.room} is closed now. The client may join again with a valid token.`, 'Kick')) {
      act(() => api(`/rooms/${encodeURIComponent(st.namespace)}/${encodeURIComponent(st.room)}/participants/${encodeURIComponent(b.dataset.kick)}/kick`, { method: 'POST' }), `${b.dataset.kick} kicked`);
    }
  } else if (b.dataset.drain) {
    if (await confirmBox(`Drain ${b.dataset.drain}?`, 'The node takes no new participants; those on it stay until they leave. Placement sends new clients elsewhere.', 'Drain')) {
      act(() => api(`/nodes/${encodeURIComponent(b.dataset.drain)}/drain`, { method: 'POST' }), `${b.dataset.drain} draining`);
    }
  } else if (b.dataset.undrain) {
    act(() => api(`/nodes/${encodeURIComponent(b.dataset.undrain)}/undrain`, { method: 'POST' }), `${b.dataset.undrain} takes new participants again`);
  }
});

async function act(fn, ok) {
  try { await fn(); toast(ok); } catch (e) { toast(e.message, true); }
  if (route().room) roomView($('#view'), route().ns, route().room, true);
}

function confirmBox(title, text, label) {
  $('#modal-title').textContent = title;
  $('#modal-text').textContent = text;
  $('#confirm-ok').textContent = label;
  $('#modal').hidden = false;
  return new Promise((resolve) => {
    const done = (v) => { $('#modal').hidden = true; $('#confirm-ok').onclick = $('#confirm-cancel').onclick = null; resolve(v); };
    $('#confirm-ok').onclick = () => done(true);
    $('#confirm-cancel').onclick = () => done(false);
  });
}

let toastTimer;
function toast(msg, bad) {
  const t = $('#toast');
  t.textContent = msg;
  t.className = 'toast' + (bad ? ' bad' : '');
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 3500);
}

function ago(ts) {
  if (!ts) return '';
  const s = Math.max(0, (Date.now() - new Date(ts).getTime()) / 1000);
  if (s < 60) return `${Math.round(s)}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return new Date(ts).toLocaleString();
}

start();
