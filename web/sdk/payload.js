// Data message payloads are bytes, base64-encoded in the protocol's JSON.
// The SDK sends Uint8Arrays and ArrayBuffers as they are and anything else
// as UTF-8 JSON; on receipt, bytes that are UTF-8 JSON become that value.

function toBase64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

function fromBase64(b64) {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

export function encodePayload(value) {
  if (value instanceof Uint8Array) return toBase64(value);
  if (value instanceof ArrayBuffer) return toBase64(new Uint8Array(value));
  return toBase64(new TextEncoder().encode(JSON.stringify(value)));
}

export function decodePayload(b64) {
  if (!b64) return null;
  let bytes;
  try {
    bytes = fromBase64(b64);
  } catch {
    return null;
  }
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return bytes;
  }
}
