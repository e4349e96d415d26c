// Type declarations of the rtcloud browser SDK (web/sdk/rtcloud.js).

export type LayerName = '' | 'low' | 'medium' | 'high';
export type SourceName = 'camera' | 'microphone' | 'screen' | 'unknown';
export type RoomState = 'connecting' | 'connected' | 'reconnecting' | 'disconnected';
export type TokenSource = string | (() => string | Promise<string>);

export declare const Layer: Readonly<{ Auto: ''; Low: 'low'; Medium: 'medium'; High: 'high' }>;
export declare const Source: Readonly<{ Camera: 'camera'; Microphone: 'microphone'; Screen: 'screen'; Unknown: 'unknown' }>;

export interface ConnectOptions {
  /** Display name (default: the token's). */
  name?: string;
  /** Application metadata of this participant (default: the token's). */
  metadata?: string;
  /** Subscribe to every track as it is published (default true). */
  autoSubscribe?: boolean;
  /** Layer new video subscriptions start at ('' = the SFU chooses). */
  defaultLayer?: LayerName;
  iceServers?: RTCIceServer[];
}

/** Statistics of one sent or received track, rates since the previous sample. */
export interface TrackStats {
  width: number;
  height: number;
  fps: number;
  /** bits per second */
  bitrate: number;
  bytes: number;
  packets: number;
  packetsLost: number;
  lossPercent: number;
  /** round-trip time in ms, when known */
  rtt?: number;
  codec: string;
  /** received tracks: frames decoded so far */
  framesDecoded?: number;
  /** sent tracks: simulcast layers being sent */
  layers?: number;
}

export declare class StatsMeter {
  constructor(source: RTCRtpSender | RTCRtpReceiver);
  sample(): Promise<TrackStats>;
}

export declare class RemoteParticipant {
  readonly sessionId: string;
  readonly identity: string;
  readonly name: string;
  readonly metadata: string;
  /** how it signals: WebSocket, WHIP publisher or WHEP viewer ('' from older servers) */
  readonly kind: 'ws' | 'whip' | 'whep' | '';
  /** a passive WHEP viewer (kind 'whep'): it watches and never publishes */
  readonly isViewer: boolean;
  readonly joinedAt: Date;
  readonly tracks: Map<string, RemoteTrack>;
  /** 0..1, from the last active-speakers event */
  readonly audioLevel: number;
  readonly isSpeaking: boolean;
  trackBySource(source: SourceName): RemoteTrack | undefined;
}

export declare class RemoteTrack {
  readonly id: string;
  readonly participant: RemoteParticipant;
  readonly kind: 'audio' | 'video';
  readonly source: SourceName;
  readonly name: string;
  readonly mimeType: string;
  /** simulcast layers the SFU receives, low to high */
  readonly layers: string[];
  readonly muted: boolean;
  readonly isSubscribed: boolean;
  readonly mid: string | null;
  readonly mediaStreamTrack: MediaStreamTrack | null;
  readonly transceiver: RTCRtpTransceiver | null;
  /** a MediaStream holding only this track, when subscribed */
  readonly stream: MediaStream | null;
  readonly requestedLayer: LayerName;
  /** the layer the SFU says it sends */
  readonly currentLayer: string;
  subscribe(opts?: { layer?: LayerName }): Promise<void>;
  unsubscribe(): Promise<void>;
  setLayer(layer: LayerName): Promise<void>;
  getStats(): Promise<TrackStats | null>;
}

export declare class LocalTrack {
  readonly kind: 'audio' | 'video';
  readonly source: SourceName;
  readonly name: string;
  readonly simulcast: boolean;
  /** the SFU's track id, once published */
  readonly id: string | null;
  readonly mid: string | null;
  readonly mediaStreamTrack: MediaStreamTrack;
  readonly transceiver: RTCRtpTransceiver | null;
  readonly stream: MediaStream;
  readonly muted: boolean;
  mute(): Promise<void>;
  unmute(): Promise<void>;
  replaceTrack(track: MediaStreamTrack): Promise<void>;
  unpublish(): Promise<void>;
  getStats(): Promise<TrackStats | null>;
}

export interface ActiveSpeaker {
  participant?: RemoteParticipant;
  identity: string;
  sessionId: string;
  /** 0..1 */
  level: number;
  /** this client is speaking */
  isLocal: boolean;
}

export interface RoomEvents {
  participantJoined: (p: RemoteParticipant) => void;
  participantLeft: (p: RemoteParticipant) => void;
  trackPublished: (t: RemoteTrack, p: RemoteParticipant) => void;
  trackUnpublished: (t: RemoteTrack, p: RemoteParticipant) => void;
  trackSubscribed: (t: RemoteTrack, p: RemoteParticipant) => void;
  trackUnsubscribed: (t: RemoteTrack, p: RemoteParticipant) => void;
  trackMuted: (t: RemoteTrack, p: RemoteParticipant) => void;
  layerChanged: (t: RemoteTrack, layer: string) => void;
  localTrackPublished: (t: LocalTrack) => void;
  localTrackUnpublished: (t: LocalTrack) => void;
  localTrackMuted: (t: LocalTrack) => void;
  localTrackReplaced: (t: LocalTrack) => void;
  activeSpeakers: (speakers: ActiveSpeaker[]) => void;
  /** payload: the JSON value sent, or the raw bytes */
  data: (payload: unknown, from: RemoteParticipant | undefined, fromIdentity: string) => void;
  reconnecting: (cause: 'media' | 'signal' | 'session') => void;
  reconnected: (info: { resumed: boolean; how: 'ice-restart' | 'resume' | 'rejoin' }) => void;
  disconnected: (reason: string) => void;
  stateChanged: (state: RoomState) => void;
  mediaState: (iceConnectionState: RTCIceConnectionState) => void;
  error: (err: Error) => void;
}

export declare class Room {
  constructor(url: string, token: TokenSource, opts?: ConnectOptions);
  readonly url: string;
  readonly state: RoomState;
  readonly name: string;
  readonly namespace: string;
  readonly self: { identity: string; sessionId: string; name: string; metadata: string } | null;
  readonly sessionId: string;
  readonly participants: Map<string, RemoteParticipant>;
  readonly localTracks: LocalTrack[];
  readonly peerConnection: RTCPeerConnection | null;

  on<E extends keyof RoomEvents>(event: E, fn: RoomEvents[E]): () => void;
  once<E extends keyof RoomEvents>(event: E, fn: RoomEvents[E]): () => void;
  off<E extends keyof RoomEvents>(event: E, fn: RoomEvents[E]): void;

  /** Joins; use instead of connect() to register handlers first. */
  connect(): Promise<Room>;
  publishTrack(track: MediaStreamTrack, opts?: { source?: SourceName; name?: string; simulcast?: boolean }): Promise<LocalTrack>;
  publishCamera(opts?: { width?: number; height?: number; frameRate?: number; deviceId?: string; name?: string }): Promise<LocalTrack>;
  publishMicrophone(opts?: { deviceId?: string; name?: string }): Promise<LocalTrack>;
  publishScreen(opts?: { name?: string }): Promise<LocalTrack>;
  unpublish(track: LocalTrack): Promise<void>;
  switchCamera(deviceId?: string): Promise<LocalTrack>;
  subscribe(track: RemoteTrack, opts?: { layer?: LayerName }): Promise<void>;
  unsubscribe(track: RemoteTrack): Promise<void>;
  setLayer(track: RemoteTrack, layer: LayerName): Promise<void>;
  /** Strings and objects go as UTF-8 JSON, Uint8Array/ArrayBuffer as bytes; `to` lists identities. */
  sendData(payload: unknown, opts?: { to?: string[] }): void;
  leave(): Promise<void>;
}

/** Connects to a room: url is "https://host" or "wss://host/ws". */
export declare function connect(url: string, token: TokenSource, opts?: ConnectOptions): Promise<Room>;
export declare function wsURL(url: string): string;
export declare function devToken(base: string | undefined, opts: { room: string; identity: string; name?: string }): Promise<string>;
export declare function simulcastEncodings(): RTCRtpEncodingParameters[];

export declare class ProtocolError extends Error {
  readonly code: string;
}

export type WHEPState = 'idle' | 'waiting' | 'connecting' | 'playing' | 'stopped';

/** Plays a room over WHEP: POST /whep/{room}[/{identity}]. */
export declare class WHEPClient {
  constructor(endpoint: string, token: TokenSource, opts?: { iceServers?: RTCIceServer[]; retryDelay?: number });
  readonly stream: MediaStream;
  readonly state: WHEPState;
  readonly pc: RTCPeerConnection | null;
  on(event: 'state', fn: (s: WHEPState) => void): () => void;
  on(event: 'track', fn: (t: MediaStreamTrack, stream: MediaStream) => void): () => void;
  start(): Promise<MediaStream>;
  stop(): Promise<void>;
}
