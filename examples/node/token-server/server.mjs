// A token server for apps whose backend is JavaScript: Node.js only, no
// packages. It signs rtcloud access tokens (HS256 JWTs, docs/sdk.md).
//
//   RTCLOUD_API_KEY=devkey RTCLOUD_API_SECRET=secret PORT=8082 node server.mjs
//   curl 'localhost:8082/token?room=demo&identity=alice'
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';

const key = process.env.RTCLOUD_API_KEY;
const secret = process.env.RTCLOUD_API_SECRET;
if (!key || !secret) throw new Error('set RTCLOUD_API_KEY and RTCLOUD_API_SECRET');

const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** Signs a token admitting identity to room with the given rights. */
export function token({ identity, room, name = '', namespace = 'default', publish = true, subscribe = true, ttl = 6 * 3600 }) {
  const now = Math.floor(Date.now() / 1000);
  const head = b64({ alg: 'HS256', typ: 'JWT', kid: key });
  const body = b64({ iss: key, sub: identity, iat: now, nbf: now - 60, exp: now + ttl, name, rtc: { namespace, room, publish, subscribe } });
  const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  const identity = url.searchParams.get('identity');
  const room = url.searchParams.get('room');
  // Authenticate your user here; this example trusts the query.
  if (url.pathname !== '/token' || !identity || !room) {
    res.writeHead(400).end('GET /token?room=ROOM&identity=IDENTITY\n');
    return;
  }
  res.writeHead(200, { 'Content-Type': 'application/json', 'Access-Control-Allow-Origin': '*' });
  res.end(JSON.stringify({ token: token({ identity, room, name: url.searchParams.get('name') ?? '' }) }));
}).listen(Number(process.env.PORT ?? 8082), '127.0.0.1', function () {
  console.log(`token server on http://127.0.0.1:${this.address().port}/token`);
});
