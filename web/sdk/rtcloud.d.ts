// Type declarations of the rtcloud browser SDK (web/sdk/rtcloud.js).

export type LayerName = '' | 'low' | 'medium' | 'high';
export type SourceName = 'camera' | 'microphone' | 'screen' | 'screen_audio' | 'unknown';
export type RoomState = 'connecting' | 'connected' | 'reconnecting' | 'disconnected';
export type TokenSource = string | (() => string | Promise<string>);

export declare const Layer: Readonly<{ Auto: ''; Low: 'low'; Medium: 'medium'; High: 'high' }>;
export declare const Source: Readonly<{ Camera: 'camera'; Microphone: 'microphone'; Screen: 'screen'; ScreenAudio: 'screen_audio'; Unknown: 'unknown' }>;

/** The SDK's version, as in package.json. */
export declare const VERSION: string;

export type ConnectionQualityName = 'excellent' | 'good' | 'poor' | 'lost' | 'unknown';
export declare const ConnectionQuality: Readonly<{ Excellent: 'excellent'; Good: 'good'; Poor: 'poor'; Lost: 'lost'; Unknown: 'unknown' }>;

export type ErrorCodeName =
  | 'connection_failed' | 'timeout' | 'disconnected'
  | 'unauthorized' | 'forbidden' | 'not_found' | 'bad_request' | 'unavailable' | 'unsupported' | 'internal'
  | 'permission_denied' | 'device_not_found' | 'device_in_use' | 'not_supported'
  | 'autoplay_blocked' | 'invalid_state';

/** Stable error codes of RtcError. */
export declare const ErrorCode: Readonly<{
  ConnectionFailed: 'connection_failed'; Timeout: 'timeout'; Disconnected: 'disconnected';
  Unauthorized: 'unauthorized'; Forbidden: 'forbidden'; NotFound: 'not_found'; BadRequest: 'bad_request';
  Unavailable: 'unavailable'; Unsupported: 'unsupported'; Internal: 'internal';
  PermissionDenied: 'permission_denied'; DeviceNotFound: 'device_not_found'; DeviceInUse: 'device_in_use';
  NotSupported: 'not_supported'; AutoplayBlocked: 'autoplay_blocked'; InvalidState: 'invalid_state';
}>;

/** Every error the SDK throws or emits: a stable code and a plain message. */
export declare class RtcError extends Error {
  constructor(code: ErrorCodeName | string, message: string, opts?: { cause?: unknown });
  readonly code: ErrorCodeName | string;
}

/** An error the server answered with (its code is a protocol code). */
export declare class ProtocolError extends RtcError {}

export interface DeviceInfo {
  deviceId: string;
  kind: MediaDeviceKind;
  /** empty until the page was granted camera or microphone access once */
  label: string;
  groupId: string;
}

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
  readonly connectionQuality: ConnectionQualityName;
  /** moving to another media node (its node failed or drains): between participantReconnecting and participantReconnected */
  readonly reconnecting: boolean;
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
  readonly isLocal: false;
  /** the elements the track plays in */
  readonly attachedElements: HTMLMediaElement[];
  /** Plays the track in element (a new <video> or <audio> if none) and returns it. */
  attach(element?: HTMLMediaElement): HTMLMediaElement;
  /** Stops playing it in element (or in all); returns the elements. */
  detach(element?: HTMLMediaElement): HTMLMediaElement[];
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
  readonly isLocal: true;
  /** published to a room */
  readonly isPublished: boolean;
  readonly attachedElements: HTMLMediaElement[];
  /** Shows the track in element (a new muted <video> or <audio> if none): a preview. */
  attach(element?: HTMLMediaElement): HTMLMediaElement;
  detach(element?: HTMLMediaElement): HTMLMediaElement[];
  /** Stops the media (and unpublishes a published track). */
  stop(): Promise<void>;
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
  /** its media node failed or drains: it left to join again elsewhere (its tracks are gone); reason 'node failed' | 'node draining' */
  participantReconnecting: (p: RemoteParticipant, reason: string) => void;
  /** back in a new session (new sessionId; its tracks are published again) */
  participantReconnected: (p: RemoteParticipant) => void;
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
  /** participant null: this client */
  connectionQualityChanged: (quality: ConnectionQualityName, participant: RemoteParticipant | null) => void;
  /** a device was plugged in or removed */
  deviceChanged: (devices: DeviceInfo[]) => void;
  /** false: the browser blocked playback until a user gesture; call startAudio() */
  audioPlaybackChanged: (canPlayback: boolean) => void;
  error: (err: RtcError) => void;
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
  /** false while the browser blocks playback; see startAudio() */
  readonly canPlaybackAudio: boolean;
  readonly localConnectionQuality: ConnectionQualityName;
  /** the speaker chosen with switchDevice('audiooutput', id); '' = default */
  readonly speakerDeviceId: string;

  on<E extends keyof RoomEvents>(event: E, fn: RoomEvents[E]): () => void;
  once<E extends keyof RoomEvents>(event: E, fn: RoomEvents[E]): () => void;
  off<E extends keyof RoomEvents>(event: E, fn: RoomEvents[E]): void;

  /** Joins; use instead of connect() to register handlers first. */
  connect(): Promise<Room>;
  publishTrack(track: MediaStreamTrack | LocalTrack, opts?: { source?: SourceName; name?: string; simulcast?: boolean }): Promise<LocalTrack>;
  publishCamera(opts?: { width?: number; height?: number; frameRate?: number; deviceId?: string; name?: string }): Promise<LocalTrack>;
  publishMicrophone(opts?: { deviceId?: string; name?: string }): Promise<LocalTrack>;
  /** with audio: the tab's sound too, where the browser offers it (source 'screen_audio') */
  publishScreen(opts?: { name?: string; audio?: boolean }): Promise<LocalTrack>;
  unpublish(track: LocalTrack): Promise<void>;
  switchCamera(deviceId?: string): Promise<LocalTrack>;
  switchMicrophone(deviceId?: string): Promise<LocalTrack>;
  switchDevice(kind: 'videoinput' | 'audioinput' | 'audiooutput', deviceId: string): Promise<void>;
  /** Resumes blocked playback; call it from a user gesture. */
  startAudio(): Promise<void>;
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

export declare function listDevices(kind?: MediaDeviceKind): Promise<DeviceInfo[]>;
export declare function onDeviceChange(fn: (devices: DeviceInfo[]) => void): () => void;
export declare function createLocalTracks(opts?: { audio?: boolean; video?: boolean }): Promise<LocalTrack[]>;
export declare function createLocalVideoTrack(opts?: { width?: number; height?: number; frameRate?: number; deviceId?: string; name?: string }): Promise<LocalTrack>;
export declare function createLocalAudioTrack(opts?: { deviceId?: string; name?: string }): Promise<LocalTrack>;
/** The video track, then the audio track when the browser shared sound. */
export declare function createLocalScreenTracks(opts?: { audio?: boolean; frameRate?: number }): Promise<LocalTrack[]>;

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
