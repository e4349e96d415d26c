// Turns RTCStatsReports into the few numbers people look at: resolution,
// frame rate, bitrate, packet loss and round-trip time.

/**
 * Samples the stats of one sender or receiver. Each call to sample()
 * returns rates computed since the previous call.
 */
export class StatsMeter {
  /** @param {RTCRtpSender|RTCRtpReceiver} source */
  constructor(source) {
    this.source = source;
    this._prev = null;
  }

  async sample() {
    const report = await this.source.getStats();
    const now = performance.now();
    const s = this.source instanceof RTCRtpSender ? fromOutbound(report) : fromInbound(report);
    const prev = this._prev;
    this._prev = { at: now, bytes: s.bytes, lost: s.packetsLost, packets: s.packets };
    let bitrate = 0;
    let lossPercent = 0;
    if (prev && now > prev.at) {
      bitrate = Math.max(0, ((s.bytes - prev.bytes) * 8 * 1000) / (now - prev.at));
      const lost = s.packetsLost - prev.lost;
      const total = lost + (s.packets - prev.packets);
      lossPercent = total > 0 ? Math.max(0, (100 * lost) / total) : 0;
    } else if (s.packets + s.packetsLost > 0) {
      lossPercent = (100 * s.packetsLost) / (s.packets + s.packetsLost);
    }
    return { ...s, bitrate, lossPercent };
  }
}

function selectedPairRTT(report) {
  let rtt;
  report.forEach((s) => {
    if (s.type === 'candidate-pair' && s.state === 'succeeded' && s.currentRoundTripTime !== undefined) {
      if (s.nominated || rtt === undefined) rtt = s.currentRoundTripTime;
    }
  });
  return rtt === undefined ? undefined : rtt * 1000;
}

function fromInbound(report) {
  const out = { width: 0, height: 0, fps: 0, bytes: 0, packets: 0, packetsLost: 0, framesDecoded: 0, rtt: undefined, codec: '' };
  const codecs = new Map();
  report.forEach((s) => {
    if (s.type === 'codec') codecs.set(s.id, s.mimeType);
  });
  report.forEach((s) => {
    if (s.type !== 'inbound-rtp') return;
    out.width = s.frameWidth ?? out.width;
    out.height = s.frameHeight ?? out.height;
    out.fps = s.framesPerSecond ?? out.fps;
    out.bytes += s.bytesReceived ?? 0;
    out.packets += s.packetsReceived ?? 0;
    out.packetsLost += Math.max(0, s.packetsLost ?? 0);
    out.framesDecoded += s.framesDecoded ?? 0;
    if (s.codecId) out.codec = codecs.get(s.codecId) ?? '';
  });
  out.rtt = selectedPairRTT(report);
  return out;
}

function fromOutbound(report) {
  const out = { width: 0, height: 0, fps: 0, bytes: 0, packets: 0, packetsLost: 0, layers: 0, rtt: undefined, codec: '' };
  const codecs = new Map();
  report.forEach((s) => {
    if (s.type === 'codec') codecs.set(s.id, s.mimeType);
  });
  let rtt;
  report.forEach((s) => {
    if (s.type === 'outbound-rtp') {
      out.bytes += s.bytesSent ?? 0;
      out.packets += s.packetsSent ?? 0;
      if ((s.frameWidth ?? 0) >= out.width) {
        out.width = s.frameWidth ?? 0;
        out.height = s.frameHeight ?? 0;
        out.fps = s.framesPerSecond ?? out.fps;
      }
      if ((s.bytesSent ?? 0) > 0) out.layers++;
      if (s.codecId) out.codec = codecs.get(s.codecId) ?? '';
    } else if (s.type === 'remote-inbound-rtp') {
      out.packetsLost += Math.max(0, s.packetsLost ?? 0);
      if (s.roundTripTime !== undefined) rtt = s.roundTripTime * 1000;
    }
  });
  out.rtt = rtt ?? selectedPairRTT(report);
  return out;
}
