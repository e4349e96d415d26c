// rtcloud browser SDK: plain ES modules, no build step. See docs/sdk.md.
//
//   import { connect } from '/sdk/rtcloud.js';
//   const room = await connect('https://rtc.example.com', token);
//
export { connect, Room, wsURL } from './room.js';
export { LocalTrack, RemoteParticipant, RemoteTrack, Layer, Source } from './tracks.js';
export { ProtocolError } from './signaling.js';
export { StatsMeter } from './stats.js';
export { WHEPClient } from './whep.js';
export { simulcastEncodings } from './session.js';

/** Fetches a token from the dev-only endpoint of `rtcloud dev`. */
export async function devToken(base, { room, identity, name } = {}) {
  const u = new URL('/dev/token', base ?? (typeof location !== 'undefined' ? location.href : undefined));
  u.searchParams.set('room', room);
  u.searchParams.set('identity', identity);
  if (name) u.searchParams.set('name', name);
  const res = await fetch(u);
  if (!res.ok) throw new Error(`dev token: ${res.status} ${(await res.text()).trim()}`);
  const body = await res.json();
  return body.token;
}
