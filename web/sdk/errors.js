// Errors with stable codes, so applications can tell what went wrong
// without parsing messages.

/**
 * Stable error codes (RtcError.code).
 * - Connecting: 'connection_failed' (the server could not be reached),
 *   'timeout' (no answer in time), 'disconnected' (the connection ended).
 * - The server refused: 'unauthorized' (token missing, malformed,
 *   expired, unknown key), 'forbidden' (the token does not grant it),
 *   'not_found', 'bad_request', 'unavailable' (no media server can take
 *   the session now), 'unsupported', 'internal'.
 * - Devices: 'permission_denied', 'device_not_found', 'device_in_use',
 *   'not_supported' (the browser lacks the API, or the page is not a
 *   secure context).
 * - Playback: 'autoplay_blocked'.
 * - 'invalid_state': the call does not fit the room's state.
 */
export const ErrorCode = Object.freeze({
  ConnectionFailed: 'connection_failed',
  Timeout: 'timeout',
  Disconnected: 'disconnected',
  Unauthorized: 'unauthorized',
  Forbidden: 'forbidden',
  NotFound: 'not_found',
  BadRequest: 'bad_request',
  Unavailable: 'unavailable',
  Unsupported: 'unsupported',
  Internal: 'internal',
  PermissionDenied: 'permission_denied',
  DeviceNotFound: 'device_not_found',
  DeviceInUse: 'device_in_use',
  NotSupported: 'not_supported',
  AutoplayBlocked: 'autoplay_blocked',
  InvalidState: 'invalid_state',
});

/** An SDK error: a stable code, a plain message and the cause, if any. */
export class RtcError extends Error {
  /**
   * @param {string} code one of ErrorCode
   * @param {string} message
   * @param {{cause?: unknown}} [opts]
   */
  constructor(code, message, opts) {
    super(message, opts);
    this.name = 'RtcError';
    this.code = code;
  }
}

/** An error the server answered with; code is one of the protocol codes. */
export class ProtocolError extends RtcError {
  /**
   * @param {string} code
   * @param {string} message
   */
  constructor(code, message) {
    super(code, plainMessage(code, message));
    this.name = 'ProtocolError';
  }
}

/**
 * The ErrorCode of an HTTP error status (the server's HTTP endpoints).
 * @param {number} status
 */
export function codeOfStatus(status) {
  return (
    { 400: ErrorCode.BadRequest, 401: ErrorCode.Unauthorized, 403: ErrorCode.Forbidden, 404: ErrorCode.NotFound }[status] ??
    ErrorCode.Internal
  );
}

// Prefixes that servers put before the part a person needs: the code
// again, and the names of internal components.
const internalPrefix = /^\s*(?:sfu|signal|signaling|controller|bus|node|join|allocate|offer|subscribe|publish request|rtcloud|error)\s*:\s*/i;

/**
 * Strips repeated codes and internal prefixes from a server message:
 * "forbidden: forbidden: sfu: not allowed by grants: publish" with code
 * forbidden becomes "not allowed by grants: publish".
 * @param {string} code
 * @param {string} message
 */
export function plainMessage(code, message) {
  let m = String(message ?? '').trim();
  const codePrefix = new RegExp(`^\\s*${code.replace(/[^a-z_]/gi, '')}\\s*:\\s*`, 'i');
  for (let i = 0; i < 10; i++) {
    const next = m.replace(codePrefix, '').replace(internalPrefix, '');
    if (next === m) break;
    m = next;
  }
  return m || defaultMessages[code] || code;
}

const defaultMessages = {
  unauthorized: 'the access token is missing, invalid or expired',
  forbidden: 'the access token does not allow this',
  not_found: 'not found',
  unavailable: 'no media server can take the session now; try again later',
  internal: 'the server failed',
};

/**
 * Turns a getUserMedia/getDisplayMedia failure into an RtcError.
 * @param {unknown} err
 * @param {string} what "camera", "microphone", "screen"
 */
export function mediaError(err, what) {
  const name = /** @type {any} */ (err)?.name ?? '';
  const detail = /** @type {any} */ (err)?.message ?? String(err);
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return new RtcError(ErrorCode.PermissionDenied, `${what}: permission denied`, { cause: err });
    case 'NotFoundError':
    case 'OverconstrainedError':
      return new RtcError(ErrorCode.DeviceNotFound, `${what}: no such device`, { cause: err });
    case 'NotReadableError':
    case 'AbortError':
      return new RtcError(ErrorCode.DeviceInUse, `${what}: the device cannot be started (in use elsewhere?)`, { cause: err });
    case 'TypeError':
    case 'NotSupportedError':
      return new RtcError(ErrorCode.NotSupported, `${what}: not supported here (${detail})`, { cause: err });
  }
  return new RtcError(ErrorCode.Internal, `${what}: ${detail}`, { cause: err });
}

/**
 * Calls navigator.mediaDevices[fn](constraints), turning failures into
 * RtcErrors.
 * @param {'getUserMedia'|'getDisplayMedia'} fn
 * @param {MediaStreamConstraints|DisplayMediaStreamOptions} constraints
 * @param {string} what
 * @returns {Promise<MediaStream>}
 */
export async function capture(fn, constraints, what) {
  const md = typeof navigator !== 'undefined' ? navigator.mediaDevices : undefined;
  if (!md || typeof md[fn] !== 'function') {
    throw new RtcError(ErrorCode.NotSupported, `${what}: capture is not available (the page must be served over HTTPS or from localhost)`);
  }
  try {
    return await /** @type {any} */ (md)[fn](constraints);
  } catch (err) {
    throw mediaError(err, what);
  }
}
