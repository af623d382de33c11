// The ws client (pinned in package-lock.json) against the real ringgate: text, binary, 1 MiB,
// ping/pong, close 1000, and many concurrent connections each echoing a stream of messages.
// Run: RINGGATE_BIN=/path/to/ringgate node test_ws_client.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import WebSocket from 'ws';
import { waitMetrics, withServer, withTimeout } from './lib/ringgate.mjs';

const T = 10000;

function open(url) {
  // ws offers permessage-deflate by default; the gateway must not accept it (checked on open).
  const ws = new WebSocket(url, { maxPayload: 4 << 20 });
  // Every message lands in a queue so none is lost between awaits.
  ws.queue = [];
  ws.waiters = [];
  ws.on('message', (data, isBinary) => {
    const msg = { data, isBinary };
    const w = ws.waiters.shift();
    if (w) w(msg); else ws.queue.push(msg);
  });
  return withTimeout(new Promise((resolve, reject) => {
    ws.once('open', () => (ws.extensions === '' ? resolve(ws)
      : reject(new Error(`unexpected extensions negotiated: ${ws.extensions}`))));
    ws.once('error', reject);
  }), T, `open ${url}`);
}

function next(ws) {
  const msg = ws.queue.shift();
  if (msg) return Promise.resolve(msg);
  return withTimeout(new Promise((resolve) => ws.waiters.push(resolve)), T, 'echoed message');
}

function closed(ws) {
  return withTimeout(new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }))),
    T, 'close event');
}

async function echo(ws, payload, binary) {
  ws.send(payload, { binary });
  return next(ws);
}

test('text echo', { timeout: 30000 }, () => withServer([], async (server) => {
  const ws = await open(server.url());
  for (const s of ['hello', '', 'h\u00e9llo \u2713 \u{1F600}', 'x'.repeat(70000)]) {
    const got = await echo(ws, s, false);
    assert.equal(got.isBinary, false);
    assert.equal(got.data.toString('utf8'), s);
  }
  ws.close(1000);
  assert.equal((await closed(ws)).code, 1000);
}));

test('binary echo', { timeout: 30000 }, () => withServer([], async (server) => {
  const ws = await open(server.url());
  for (const n of [0, 1, 125, 126, 65535, 65536]) {
    const b = crypto.randomBytes(n);
    const got = await echo(ws, b, true);
    assert.equal(got.isBinary, true);
    assert.ok(b.equals(got.data), `binary of ${n} bytes differs`);
  }
  ws.close(1000);
  assert.equal((await closed(ws)).code, 1000, "close code echoed after the echoes");
}));

test('1 MiB binary echo', { timeout: 30000 }, () => withServer([], async (server) => {
  const ws = await open(server.url());
  const b = crypto.randomBytes(1 << 20);
  const got = await echo(ws, b, true);
  assert.equal(got.isBinary, true);
  assert.equal(got.data.length, b.length);
  assert.ok(b.equals(got.data), '1 MiB echo differs');
  ws.close(1000);
  assert.equal((await closed(ws)).code, 1000, "close code echoed after the echoes");
}));

test('ping gets a pong with the same payload', { timeout: 30000 }, () => withServer([], async (server) => {
  const ws = await open(server.url());
  for (const payload of [Buffer.from('node-ping-42'), Buffer.alloc(0)]) {
    const pong = withTimeout(new Promise((resolve) => ws.once('pong', resolve)), T, 'pong');
    ws.ping(payload);
    assert.ok(payload.equals(await pong), 'pong payload differs from ping payload');
  }
  assert.equal((await echo(ws, 'after ping', false)).data.toString(), 'after ping');
  ws.close(1000);
  assert.equal((await closed(ws)).code, 1000, "close code echoed after the echoes");
}));

test('close 1000 is echoed', { timeout: 30000 }, () => withServer([], async (server) => {
  const ws = await open(server.url());
  const done = closed(ws);
  ws.close(1000, 'bye');
  const { code } = await done;
  assert.equal(code, 1000, `server answered close with ${code}`);
}));

test('refused path fails the handshake with 404', { timeout: 30000 }, () => withServer([], async (server) => {
  const ws = new WebSocket(server.url('/nope'));
  const status = await withTimeout(new Promise((resolve, reject) => {
    ws.once('unexpected-response', (req, res) => { resolve(res.statusCode); req.destroy(); });
    ws.once('open', () => reject(new Error('upgrade to /nope succeeded')));
    ws.once('error', () => {});
  }), T, 'unexpected-response');
  assert.equal(status, 404);
}));

test('200 concurrent connections each echo 50 messages in order', { timeout: 120000 }, () => withServer([], async (server) => {
  const CONNS = 200;
  const MSGS = 50;
  const before = await server.metrics();
  const sockets = await Promise.all(Array.from({ length: CONNS }, () => open(server.url())));
  await Promise.all(sockets.map(async (ws, c) => {
    const sent = [];
    for (let i = 0; i < MSGS; i++) {
      const binary = (i + c) % 2 === 1;
      const payload = binary ? crypto.randomBytes(1 + ((c * 131 + i * 17) % 4000))
        : `conn ${c} msg ${i} ${'.'.repeat((c + i) % 300)}`;
      sent.push({ payload, binary });
      ws.send(payload, { binary });  // pipelined: do not wait for each echo
    }
    for (let i = 0; i < MSGS; i++) {
      const got = await next(ws);
      const want = sent[i];
      assert.equal(got.isBinary, want.binary, `conn ${c} msg ${i}: wrong type`);
      if (want.binary) assert.ok(want.payload.equals(got.data), `conn ${c} msg ${i}: bytes differ`);
      else assert.equal(got.data.toString('utf8'), want.payload, `conn ${c} msg ${i}: text differs`);
    }
    const done = closed(ws);
    ws.close(1000);
    assert.equal((await done).code, 1000, `conn ${c}: close code`);
  }));
  const key = 'ringgate_handshakes_completed_total';
  const m = await waitMetrics(server, (m) => m.get('ringgate_connections_active') === 0
    && m.get('ringgate_closes_total{code="1000"}') - (before.get('ringgate_closes_total{code="1000"}') || 0) >= CONNS);
  assert.equal(m.get('ringgate_connections_active'), 0, 'connections_active after all closed');
  assert.equal(m.get(key) - before.get(key), CONNS, key);
  assert.equal(m.get('ringgate_closes_total{code="1000"}') - (before.get('ringgate_closes_total{code="1000"}') || 0), CONNS);
  assert.ok(m.get('ringgate_messages_received_total') - before.get('ringgate_messages_received_total') >= CONNS * MSGS);
  assert.ok(m.get('ringgate_messages_sent_total') - before.get('ringgate_messages_sent_total') >= CONNS * MSGS);
}));
