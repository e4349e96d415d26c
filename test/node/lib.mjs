// Shared parts of the WHIP publisher and the WHEP viewer: arguments, dev
// tokens, and the one-request WHIP/WHEP exchange (RFC 9725).
import nodeDataChannel from 'node-datachannel';

/** Parses --key value arguments. */
export function args(defaults) {
  const out = { ...defaults };
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i += 2) {
    const k = a[i].replace(/^--/, '');
    if (!(k in defaults) || i + 1 >= a.length) fail(`unknown or incomplete argument ${a[i]}`);
    out[k] = a[i + 1];
  }
  for (const [k, v] of Object.entries(out)) if (v === '') fail(`--${k} is required`);
  return out;
}

/** Prints one JSON line on stdout: the Go test reads them. */
export function report(event, fields = {}) {
  process.stdout.write(JSON.stringify({ event, ...fields }) + '\n');
}

export function fail(message) {
  report('error', { message });
  process.exit(1);
}

/** Gets a token from `rtcloud dev`'s GET /dev/token. */
export async function devToken(base, room, identity) {
  const u = new URL('/dev/token', base);
  u.searchParams.set('room', room);
  u.searchParams.set('identity', identity);
  const res = await fetch(u);
  if (!res.ok) fail(`dev token: ${res.status} ${await res.text()}`);
  return (await res.json()).token;
}

/** Waits until the PeerConnection has gathered its candidates. */
export function gathered(pc) {
  return new Promise((resolve) => {
    if (pc.gatheringState() === 'complete') return resolve();
    pc.onGatheringStateChange((s) => s === 'complete' && resolve());
  });
}

/**
 * Offers to endpoint (a WHIP or WHEP URL), retrying while the server says
 * 409 (nothing to watch yet), and applies the answer. Returns the
 * resource URL for DELETE.
 */
export async function exchange(pc, endpoint, token, { deadlineMs = 30000 } = {}) {
  pc.setLocalDescription();
  await gathered(pc);
  const offer = pc.localDescription().sdp;
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const res = await fetch(endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` },
      body: offer,
    });
    if (res.status === 409 && Date.now() < deadline) {
      report('waiting', { status: 409 });
      await new Promise((r) => setTimeout(r, 1000));
      continue;
    }
    if (res.status !== 201) fail(`POST ${endpoint}: ${res.status} ${(await res.text()).trim()}`);
    pc.setRemoteDescription(await res.text(), 'answer');
    return new URL(res.headers.get('Location'), endpoint).toString();
  }
}

/** Deletes the resource, closes pc and exits on SIGTERM or SIGINT. */
export function exitOnSignal(getResource, token, cleanup) {
  const stop = async () => {
    const resource = getResource();
    if (resource) {
      try {
        await fetch(resource, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } });
      } catch {
        // the server ends the session when media stops anyway
      }
    }
    cleanup();
    nodeDataChannel.cleanup();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/** The RTP payload type of a packet, or -1 for RTCP and garbage. */
export function rtpPayloadType(buf) {
  if (buf.length < 12 || buf[0] >> 6 !== 2) return -1;
  const pt = buf[1] & 0x7f;
  return pt >= 72 && pt <= 76 ? -1 : pt; // RTCP packet types 200-204
}
