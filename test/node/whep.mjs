// Watches a publisher of an rtcloud room over WHEP with libdatachannel and
// reports the RTP packets received per second.
//
//   node whep.mjs --base http://127.0.0.1:7800 --room demo --identity node-view --watch alice
import nodeDataChannel from 'node-datachannel';
import { args, devToken, exchange, exitOnSignal, report, rtpPayloadType } from './lib.mjs';

const o = args({ base: '', room: '', identity: 'node-view', watch: '-', token: '-' });
const token = o.token === '-' ? await devToken(o.base, o.room, o.identity) : o.token;

const pc = new nodeDataChannel.PeerConnection('whep', { iceServers: [] });
const video = new nodeDataChannel.Video('0', 'RecvOnly');
video.addVP8Codec(96);
video.addH264Codec(102);
video.addVP9Codec(98);
const audio = new nodeDataChannel.Audio('1', 'RecvOnly');
audio.addOpusCodec(111);
const got = { video: 0, audio: 0, video_bytes: 0 };
function receive(track, kind) {
  // RtcpReceivingSession sends receiver reports and delivers RTP.
  track.setMediaHandler(new nodeDataChannel.RtcpReceivingSession());
  track.onMessage((buf) => {
    if (rtpPayloadType(buf) < 0) return;
    got[kind]++;
    if (kind === 'video') got.video_bytes += buf.length;
  });
}
receive(pc.addTrack(video), 'video');
receive(pc.addTrack(audio), 'audio');
pc.onStateChange((s) => report('state', { state: s }));

const endpoint = `${o.base}/whep/${o.room}` + (o.watch === '-' ? '' : `/${o.watch}`);
const resource = await exchange(pc, endpoint, token);
report('watching', { resource });

const timer = setInterval(
  () => report('stats', { video_packets: got.video, audio_packets: got.audio, video_bytes: got.video_bytes, state: pc.state() }),
  1000,
);
exitOnSignal(() => resource, token, () => {
  clearInterval(timer);
  pc.close();
});
