// Small SVG charts and the topology picture, no dependencies.

export const palette = ['#39d0b4', '#5b8cff', '#c9a7ff', '#9ad0ff', '#ff8fd0', '#3ccf7a', '#f2b84b', '#ef5b5b'];

export function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

export function bits(n) {
  if (!n) return '0 b/s';
  const u = ['b/s', 'kb/s', 'Mb/s', 'Gb/s', 'Tb/s'];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return `${n >= 100 ? n.toFixed(0) : n.toFixed(1)} ${u[i]}`;
}

export function bytes(n) {
  if (!n) return '0 B';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n >= 100 ? n.toFixed(0) : n.toFixed(1)} ${u[i]}`;
}

// lineChart draws series [{name, color, points: [[t, v], ...]}] over the
// last `window` seconds ending now.
export function lineChart(series, { fmt = (v) => String(Math.round(v)), window = 900, height = 200, minStep = 0 } = {}) {
  const W = 600, H = height, L = 62, R = 8, T = 8, B = 18;
  const now = Date.now() / 1000, t0 = now - window;
  let max = 0;
  for (const s of series) for (const [, v] of s.points) max = Math.max(max, v);
  const step = Math.max(minStep, max > 0 ? niceCeil(max / 4) : 0.25);
  max = step * 4;
  const x = (t) => L + ((t - t0) / window) * (W - L - R);
  const y = (v) => T + (1 - v / max) * (H - T - B);
  let out = `<svg viewBox="0 0 ${W} ${H}">`;
  for (let i = 0; i <= 4; i++) {
    const v = step * i;
    out += `<line class="axis" x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke-dasharray="${i ? '2 4' : ''}"/>`;
    out += `<text x="${L - 6}" y="${y(v) + 3}" text-anchor="end">${esc(fmt(v))}</text>`;
  }
  for (const m of [15, 10, 5, 0]) out += `<text x="${x(now - m * 60)}" y="${H - 4}" text-anchor="${m ? 'middle' : 'end'}">${m ? `-${m}m` : 'now'}</text>`;
  for (const s of series) {
    const pts = s.points.filter(([t]) => t >= t0);
    if (!pts.length) continue;
    const d = pts.map(([t, v], i) => `${i ? 'L' : 'M'}${x(t).toFixed(1)},${y(v).toFixed(1)}`).join('');
    const area = `${d}L${x(pts[pts.length - 1][0]).toFixed(1)},${y(0)}L${x(pts[0][0]).toFixed(1)},${y(0)}Z`;
    out += `<path d="${area}" fill="${s.color}" opacity=".08"/>`;
    out += `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.8" vector-effect="non-scaling-stroke"/>`;
    const [lt, lv] = pts[pts.length - 1];
    out += `<circle cx="${x(lt).toFixed(1)}" cy="${y(lv).toFixed(1)}" r="3" fill="${s.color}"><title>${esc(s.name)}: ${esc(fmt(lv))}</title></circle>`;
  }
  return out + '</svg>';
}

function niceCeil(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

// topologySVG places regions on a ring, their nodes around each region,
// relay links between nodes (with RTT/loss and the streams crossing), and
// each room as a dot beside the node(s) it lives on.
export function topologySVG(topo) {
  const W = 1100, H = 600, cx = W / 2, cy = H / 2;
  const regions = topo.regions || [];
  const pos = {};
  const rr = regions.length > 1 ? Math.min(W, H) * 0.32 : 0;
  regions.forEach((g, i) => {
    const a = (2 * Math.PI * i) / Math.max(regions.length, 1) - Math.PI / 2;
    const gx = cx + rr * 1.35 * Math.cos(a), gy = cy + rr * Math.sin(a);
    g._x = gx; g._y = gy;
    const n = g.nodes.length, nr = n > 1 ? 46 + 10 * n : 0;
    g.nodes.forEach((node, j) => {
      const b = (2 * Math.PI * j) / n - Math.PI / 2;
      pos[node.id] = { x: gx + nr * Math.cos(b), y: gy + nr * Math.sin(b), node, color: palette[i % palette.length] };
    });
    g._r = nr + 72;
  });
  let out = `<svg viewBox="0 0 ${W} ${H}">`;
  for (const g of regions) {
    out += `<circle cx="${g._x}" cy="${g._y}" r="${g._r}" fill="rgba(91,140,255,.04)" stroke="#243041" stroke-dasharray="3 5"/>`;
    out += `<text x="${g._x}" y="${g._y - g._r - 8}" text-anchor="middle" fill="#8b98a9" font-size="12" font-weight="600">${esc(g.region || 'no region')}</text>`;
  }
  for (const l of pairLinks(linksOf(topo.links))) {
    const a = pos[l.from], b = pos[l.to];
    if (!a || !b) continue;
    const bad = !l.up || (l.loss || 0) > 0.02 || (l.rtt_ms || 0) > 150;
    const w = 1.5 + Math.min(6, (l.streams || 0) / 2);
    out += `<line x1="${a.x}" y1="${a.y}" x2="${b.x}" y2="${b.y}" stroke="${!l.up ? '#ef5b5b' : bad ? '#f2b84b' : '#5b8cff'}" stroke-width="${w}" opacity=".85"${l.up ? '' : ' stroke-dasharray="6 5"'}/>`;
    const label = l.up ? [l.rtt_ms != null ? `${l.rtt_ms < 10 ? l.rtt_ms.toFixed(1) : Math.round(l.rtt_ms)} ms` : '', l.loss != null ? `${(l.loss * 100).toFixed(1)}%` : '', l.streams ? `${l.streams} str` : ''].filter(Boolean).join(' · ') : 'down';
    if (label) {
      const mx = (a.x + b.x) / 2, my = (a.y + b.y) / 2;
      out += `<rect x="${mx - label.length * 3.3 - 4}" y="${my - 9}" width="${label.length * 6.6 + 8}" height="17" rx="4" fill="#121821" stroke="#243041"/>`;
      out += `<text x="${mx}" y="${my + 3.5}" text-anchor="middle" fill="#e6edf3" font-size="10.5" class="mono">${esc(label)}</text>`;
    }
  }
  const roomsOn = {};
  for (const r of topo.rooms || []) for (const id of Object.keys(r.nodes || {}).length ? Object.keys(r.nodes) : [r.node_id]) {
    if (id) (roomsOn[id] ||= []).push(r);
  }
  for (const [id, p] of Object.entries(pos)) {
    const n = p.node, st = n.state;
    const fill = st === 'dead' ? '#ef5b5b' : st === 'draining' ? '#f2b84b' : p.color;
    const load = Math.min(1, n.load_score || 0);
    out += `<circle cx="${p.x}" cy="${p.y}" r="24" fill="#18202b" stroke="${fill}" stroke-width="2"/>`;
    if (load > 0) {
      const end = 2 * Math.PI * load - Math.PI / 2, large = load > 0.5 ? 1 : 0;
      out += `<path d="M${p.x},${p.y - 28} A28,28 0 ${large} 1 ${p.x + 28 * Math.cos(end)},${p.y + 28 * Math.sin(end)}" fill="none" stroke="${fill}" stroke-width="3" opacity=".7"/>`;
    }
    out += `<text x="${p.x}" y="${p.y + 4}" text-anchor="middle" fill="#e6edf3" font-size="11" font-weight="700">${n.load?.participants ?? 0}</text>`;
    out += `<text x="${p.x}" y="${p.y + 42}" text-anchor="middle" fill="#8b98a9" font-size="10.5" class="mono">${esc(id.length > 16 ? id.slice(0, 15) + '…' : id)}</text>`;
    const list = roomsOn[id] || [];
    list.slice(0, 4).forEach((r, k) => {
      const ry = p.y + 60 + k * 15;
      out += `<circle cx="${p.x - 46}" cy="${ry - 3.5}" r="3.5" fill="#c9a7ff"/>`;
      out += `<text x="${p.x - 38}" y="${ry}" fill="#c8d1dc" font-size="10.5"><title>${esc(r.namespace + '/' + r.room)}: ${r.nodes?.[id] ?? r.participants} here, ${r.participants} in all</title>${esc((r.room.length > 16 ? r.room.slice(0, 15) + '…' : r.room))} <tspan fill="#8b98a9">· ${r.nodes?.[id] ?? r.participants}</tspan></text>`;
    });
    if (list.length > 4) out += `<text x="${p.x - 38}" y="${p.y + 60 + 4 * 15}" fill="#8b98a9" font-size="10.5">+${list.length - 4} more</text>`;
  }
  return out + '</svg>';
}

// pairLinks folds the two directions of each link into one line: up only
// if both are, the worse RTT and loss, the streams of both directions.
export function pairLinks(links) {
  const m = new Map();
  for (const l of links) {
    const k = [l.from, l.to].sort().join('|');
    const p = m.get(k);
    if (!p) { m.set(k, { ...l, up: l.up !== false }); continue; }
    p.up = p.up && l.up !== false;
    p.rtt_ms = Math.max(p.rtt_ms ?? 0, l.rtt_ms ?? 0);
    p.loss = Math.max(p.loss ?? 0, l.loss ?? 0);
    p.streams = (p.streams || 0) + (l.streams || 0);
  }
  return [...m.values()];
}

// linksOf accepts the relay's links in the shapes an admin API may give
// ({links: [...]} or [...]) with from/to or a/b node ids.
export function linksOf(raw) {
  const list = Array.isArray(raw) ? raw : raw && Array.isArray(raw.links) ? raw.links : [];
  return list.map((l) => ({
    from: l.from ?? l.src ?? l.a ?? l.node_a ?? l.local,
    to: l.to ?? l.dst ?? l.b ?? l.node_b ?? l.remote,
    rtt_ms: l.rtt_ms ?? (l.rtt != null ? l.rtt / 1e6 : undefined),
    loss: l.loss ?? l.loss_ratio,
    streams: l.streams ?? (Array.isArray(l.stream_ids) ? l.stream_ids.length : undefined),
    jitter_ms: l.jitter_ms,
    up: l.up !== false,
  }));
}
