// rtcloud browser SDK: plain ES modules, no build step. See docs/sdk.md.
//
//   import { connect } from '@rtcloud/sdk';          // installed from npm pack
//   import { connect } from 'https://rtc.example.com/sdk/v0.2.0/rtcloud.js'; // from the server
//   const room = await connect('https://rtc.example.com', token);
//
import { ErrorCode, RtcError, codeOfStatus } from './errors.js';

export { VERSION } from './version.js';
export { connect, Room, wsURL } from './room.js';
export { LocalTrack, RemoteParticipant, RemoteTrack, Layer, Source, ConnectionQuality } from './tracks.js';
export { ErrorCode, RtcError, ProtocolError } from './errors.js';
export {
  listDevices,
  onDeviceChange,
  createLocalTracks,
  createLocalVideoTrack,
  createLocalAudioTrack,
  createLocalScreenTracks,
} from './media.js';
export { StatsMeter } from './stats.js';
export { WHEPClient } from './whep.js';
export { simulcastEncodings } from './session.js';

/** Fetches a token from the dev-only endpoint of `rtcloud dev`. */
export async function devToken(base, { room, identity, name } = {}) {
  const u = new URL('/dev/token', base ?? (typeof location !== 'undefined' ? location.href : undefined));
  u.searchParams.set('room', room);
  u.searchParams.set('identity', identity);
  if (name) u.searchParams.set('name', name);
  let res;
  try {
    res = await fetch(u);
  } catch (err) {
    throw new RtcError(ErrorCode.ConnectionFailed, `cannot reach ${u.origin}: ${err?.message ?? err}`, { cause: err });
  }
  if (!res.ok) {
    throw new RtcError(codeOfStatus(res.status), `dev token: HTTP ${res.status} ${(await res.text()).trim()}`);
  }
  const body = await res.json();
  return body.token;
}
