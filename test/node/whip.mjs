// Publishes a test pattern (VP8) and a tone (Opus) to an rtcloud room over
// WHIP with libdatachannel. ffmpeg encodes and sends RTP to local UDP
// ports; this script forwards the packets into the WebRTC tracks.
//
//   node whip.mjs --base http://127.0.0.1:7800 --room demo --identity node-pub
import dgram from 'node:dgram';
import { spawn } from 'node:child_process';
import nodeDataChannel from 'node-datachannel';
import { args, devToken, exchange, exitOnSignal, fail, report } from './lib.mjs';

const VIDEO_PT = 96;
const AUDIO_PT = 111;
const VIDEO_SSRC = 0x1a2b3c01;
const AUDIO_SSRC = 0x1a2b3c02;

const o = args({ base: '', room: '', identity: 'node-pub', token: '-' });
const token = o.token === '-' ? await devToken(o.base, o.room, o.identity) : o.token;

const pc = new nodeDataChannel.PeerConnection('whip', { iceServers: [] });
const video = new nodeDataChannel.Video('0', 'SendOnly');
video.addVP8Codec(VIDEO_PT);
video.addSSRC(VIDEO_SSRC, 'node-video', 'node-stream', 'node-video');
const audio = new nodeDataChannel.Audio('1', 'SendOnly');
audio.addOpusCodec(AUDIO_PT);
audio.addSSRC(AUDIO_SSRC, 'node-audio', 'node-stream', 'node-audio');
const vtrack = pc.addTrack(video);
const atrack = pc.addTrack(audio);
pc.onStateChange((s) => report('state', { state: s }));

const sent = { video: 0, audio: 0 };
async function listen(track, kind) {
  const sock = dgram.createSocket('udp4');
  sock.on('message', (msg) => {
    if (track.isOpen() && track.sendMessageBinary(msg)) sent[kind]++;
  });
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  return sock;
}
const vsock = await listen(vtrack, 'video');
const asock = await listen(atrack, 'audio');

const resource = await exchange(pc, `${o.base}/whip/${o.room}`, token);
report('published', { resource });

const rtp = (port, ssrc, pt) => ['-ssrc', String(ssrc), '-payload_type', String(pt), '-rtpflags', 'skip_rtcp',
  '-f', 'rtp', `rtp://127.0.0.1:${port}?pkt_size=1200`];
const ffmpeg = spawn('ffmpeg', [
  '-hide_banner', '-loglevel', 'error',
  '-re', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30',
  '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
  '-map', '0:v', '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '600k',
  '-g', '30', '-keyint_min', '30', '-auto-alt-ref', '0', '-error-resilient', '1',
  ...rtp(vsock.address().port, VIDEO_SSRC, VIDEO_PT),
  '-map', '1:a', '-c:a', 'libopus', '-b:a', '48k', '-application', 'voip',
  ...rtp(asock.address().port, AUDIO_SSRC, AUDIO_PT),
], { stdio: ['ignore', 'ignore', 'inherit'] });
ffmpeg.on('exit', (code) => code !== null && code !== 0 && fail(`ffmpeg exited with ${code}`));

const timer = setInterval(() => report('stats', { video_packets: sent.video, audio_packets: sent.audio, state: pc.state() }), 1000);
exitOnSignal(() => resource, token, () => {
  clearInterval(timer);
  ffmpeg.kill('SIGKILL');
  vsock.close();
  asock.close();
  pc.close();
});
