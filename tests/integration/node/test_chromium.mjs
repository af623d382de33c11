// Headless Debian Chromium (/usr/bin/chromium) driven by playwright-core opens a real browser
// WebSocket to ringgate: text, ArrayBuffer binary, 1 MiB binary, close(1000) and the close
// event's code; and a refused path, which the browser reports as error + close 1006.
// Browsers cannot send pings, so there is no ping test here.
// Run: RINGGATE_BIN=/path/to/ringgate node test_chromium.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { chromium } from 'playwright-core';
import { waitMetrics, withServer, withTimeout } from './lib/ringgate.mjs';

const CHROMIUM = process.env.RINGGATE_CHROMIUM || '/usr/bin/chromium';
// Chromium 156 blocks about:blank -> ws://127.0.0.1 with net::ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS
// (Local Network Access; an opaque origin cannot be granted the permission), hence the last flag.
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-features=LocalNetworkAccessChecks'];
let browser;
let page;

before(async () => {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: run tools/install-test-deps.sh (Debian package chromium)`);
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 60000 });
  page = await browser.newPage();
  await page.goto('about:blank');
});

after(async () => {
  if (browser) await withTimeout(browser.close(), 20000, 'browser.close');
});

// Runs in the page: the whole session with one WebSocket, every step bounded by a timer. Returns
// what it saw so far, plus `error` naming the step that failed, so a failure shows which steps passed.
async function browserSession({ url }) {
  const STEP_MS = 10000;
  const result = { log: [] };
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  const inbox = [];
  const waiters = [];
  ws.onmessage = (ev) => { const w = waiters.shift(); if (w) w(ev.data); else inbox.push(ev.data); };
  ws.onerror = () => result.log.push('error');
  const closed = new Promise((resolve) => {
    ws.onclose = (ev) => resolve({ code: ev.code, reason: ev.reason, wasClean: ev.wasClean });
  });
  const bounded = (p, what) => Promise.race([p, new Promise((_, reject) =>
    setTimeout(() => reject(new Error(`timeout: ${what}`)), STEP_MS))]);
  const next = (what) => bounded(inbox.length ? Promise.resolve(inbox.shift())
    : new Promise((resolve) => waiters.push(resolve)), what);

  async function steps() {
    await bounded(new Promise((resolve, reject) => {
      ws.onopen = resolve;
      closed.then((c) => reject(new Error(`closed before open: ${JSON.stringify(c)}`)));
    }), 'open');
    result.extensions = ws.extensions;
    result.protocol = ws.protocol;

    ws.send('hello from chromium \u2713');
    result.text = await next('text echo');

    const small = new Uint8Array(256).map((_, i) => i);
    ws.send(small.buffer);
    const smallEcho = await next('binary echo');
    result.binaryIsArrayBuffer = smallEcho instanceof ArrayBuffer;
    result.binaryEqual = smallEcho.byteLength === 256 && new Uint8Array(smallEcho).every((b, i) => b === i);

    const big = new Uint8Array(1 << 20);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 10)) & 0xff;
    ws.send(big.buffer);
    const bigEcho = await next('1 MiB echo');
    const bigView = new Uint8Array(bigEcho);
    result.bigLength = bigEcho.byteLength;
    result.bigEqual = bigView.length === big.length && bigView.every((b, i) => b === big[i]);

    ws.close(1000, 'done');
    result.close = await bounded(closed, 'close event after close(1000)');
  }

  try {
    await steps();
  } catch (e) {
    result.error = String((e && e.message) || e);
  }
  return result;
}

test('browser WebSocket: text, binary, 1 MiB, close 1000', { timeout: 90000 }, () => withServer([], async (server) => {
  const r = await page.evaluate(browserSession, { url: server.url('/echo') });
  console.log(`# browser session: ${JSON.stringify(r)}`);
  assert.equal(r.error, undefined, `browser session stopped: ${r.error}`);
  assert.equal(r.extensions, '', 'no extension may be negotiated (the browser offers permessage-deflate)');
  assert.equal(r.protocol, '');
  assert.equal(r.text, 'hello from chromium \u2713');
  assert.ok(r.binaryIsArrayBuffer, 'binary echo arrived as text');
  assert.ok(r.binaryEqual, 'binary echo differs');
  assert.equal(r.bigLength, 1 << 20);
  assert.ok(r.bigEqual, '1 MiB echo differs');
  // The spec promises the code back, not the reason text.
  assert.deepEqual({ code: r.close.code, wasClean: r.close.wasClean }, { code: 1000, wasClean: true },
    `close event ${JSON.stringify(r.close)}: the server must echo code 1000`);
  assert.deepEqual(r.log, [], 'error events seen');
  const m = await waitMetrics(server, (m) => m.get('ringgate_closes_total{code="1000"}') >= 1);
  assert.equal(m.get('ringgate_closes_total{code="1000"}'), 1);
}));

test('browser WebSocket to a refused path: error then close 1006', { timeout: 60000 }, () => withServer([], async (server) => {
  const before = await server.metrics();
  const r = await page.evaluate(async ({ url }) => {
    const ws = new WebSocket(url);
    const events = [];
    return Promise.race([
      new Promise((resolve) => {
        ws.onopen = () => events.push('open');
        ws.onerror = () => events.push('error');
        ws.onclose = (ev) => resolve({ events, code: ev.code });
      }),
      new Promise((resolve) => setTimeout(() => resolve({ events, code: 'timeout' }), 10000)),
    ]);
  }, { url: server.url('/nope') });
  assert.deepEqual(r, { events: ['error'], code: 1006 });
  const key = 'ringgate_handshake_rejected_total{reason="not_found"}';
  const m = await waitMetrics(server, (m) => m.get(key) > before.get(key));
  assert.equal(m.get(key) - before.get(key), 1, key);
}));
