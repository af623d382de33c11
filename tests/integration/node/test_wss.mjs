// wss:// against the real ringgate (--listen-tls, a self-signed certificate made per run with the
// openssl CLI): the ws client (pinned) echoes 100 messages of mixed type and size up to 100 KB,
// with and without certificate verification; headless Debian Chromium (playwright-core) opens
// `new WebSocket("wss://127.0.0.1:PORT/echo")` from a page and echoes text and binary.
// Run: RINGGATE_BIN=/path/to/ringgate node test_wss.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { chromium } from 'playwright-core';
import { waitMetrics, withServer, withTimeout } from './lib/ringgate.mjs';

const T = 10000;
const CHROMIUM = process.env.RINGGATE_CHROMIUM || '/usr/bin/chromium';
// As in test_chromium.mjs (Local Network Access checks off), plus: the certificate is self-signed.
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-features=LocalNetworkAccessChecks', '--ignore-certificate-errors'];
const WSS_RE = /listening on wss:\/\/([0-9.]+):(\d+)/;

let tmp;
let cert;
let key;
let browser;
let page;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ringgate-wss-'));
  cert = path.join(tmp, 'cert.pem');
  key = path.join(tmp, 'key.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-nodes', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout', key, '-out', cert], { encoding: 'utf8', timeout: T });
  if (r.status !== 0) throw new Error(`openssl req failed (${r.status}): ${r.stderr} ${r.error || ''}`);
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: run tools/install-test-deps.sh (Debian package chromium)`);
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 60000 });
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  page = await context.newPage();
  await page.goto('about:blank');
});

after(async () => {
  if (browser) await withTimeout(browser.close(), 20000, 'browser.close');
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const tlsArgs = () => ['--listen-tls', '127.0.0.1:0', '--tls-cert', cert, '--tls-key', key];

function wssPort(server) {
  const m = WSS_RE.exec(server.stderr());
  if (!m) throw new Error(`no "listening on wss://" line:\n${server.stderr()}`);
  return Number(m[2]);
}

function open(url, options) {
  const ws = new WebSocket(url, { maxPayload: 4 << 20, ...options });
  ws.queue = [];
  ws.waiters = [];
  ws.on('message', (data, isBinary) => {
    const msg = { data, isBinary };
    const w = ws.waiters.shift();
    if (w) w(msg); else ws.queue.push(msg);
  });
  return withTimeout(new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  }), T, `open ${url}`);
}

function next(ws) {
  const msg = ws.queue.shift();
  if (msg) return Promise.resolve(msg);
  return withTimeout(new Promise((resolve) => ws.waiters.push(resolve)), T, 'echoed message');
}

function closed(ws) {
  return withTimeout(new Promise((resolve) => ws.once('close', (code) => resolve(code))), T, 'close event');
}

// 100 messages: text and binary alternating over sizes around the frame-length boundaries, up to 100 KB.
function mixedMessages() {
  const sizes = [0, 1, 2, 100, 125, 126, 127, 1000, 4096, 16383, 16384, 16385, 65535, 65536, 65537, 100 * 1024];
  const out = [];
  for (let i = 0; i < 100; i++) {
    const n = sizes[i % sizes.length];
    if (i % 2) out.push({ binary: true, data: crypto.randomBytes(n) });
    else out.push({ binary: false, data: Buffer.from('é✓'.repeat(Math.ceil(n / 5)) + String(i)) });
  }
  return out;
}

async function echoMixed(ws) {
  const msgs = mixedMessages();
  for (const m of msgs) ws.send(m.data, { binary: m.binary });
  for (const [i, m] of msgs.entries()) {
    const got = await next(ws);
    assert.equal(got.isBinary, m.binary, `message ${i}: type`);
    assert.ok(Buffer.compare(got.data, m.data) === 0, `message ${i} (${m.data.length} B) differs`);
  }
}

test('ws over wss (no verification): 100 mixed messages, close 1000, TLS metrics', { timeout: 60000 }, () => withServer(tlsArgs(), async (server) => {
  const port = wssPort(server);
  const ws = await open(`wss://127.0.0.1:${port}/echo`, { rejectUnauthorized: false });
  assert.equal(ws.extensions, '', 'no extension may be negotiated');
  const tlsSocket = ws._socket;
  assert.ok(tlsSocket.encrypted, 'not a TLS socket');
  assert.match(tlsSocket.getProtocol(), /^TLSv1\.[23]$/);
  await echoMixed(ws);
  ws.close(1000);
  assert.equal(await closed(ws), 1000);
  const m = await waitMetrics(server, (m) => m.get('ringgate_closes_total{code="1000"}') >= 1);
  assert.equal(m.get('ringgate_closes_total{code="1000"}'), 1);
  assert.equal(m.get('ringgate_tls_handshakes_total{kind="full"}'), 1);
  assert.equal(m.get('ringgate_handshakes_completed_total'), 1);
  // No kTLS on this host: --ktls auto falls back to user-space TLS and counts why.
  assert.equal(m.get('ringgate_tls_ktls_total{result="no_ulp"}'), 1);
  assert.ok(m.get('ringgate_bytes_received_total') > 100 * 1024 * 6, 'byte counters did not see the echo');
}));

test('ws over wss verifying the certificate (ca), and refusing it without', { timeout: 60000 }, () => withServer(tlsArgs(), async (server) => {
  const port = wssPort(server);
  const ws = await open(`wss://127.0.0.1:${port}/echo`, { ca: fs.readFileSync(cert) });
  ws.send('verified');
  assert.equal((await next(ws)).data.toString(), 'verified');
  ws.close(1000);
  assert.equal(await closed(ws), 1000);
  // Default verification against the system CAs must fail: the certificate is self-signed. (Node
  // checks the chain after its handshake completed, so the server sees a finished handshake that
  // the client then drops: the connection must still go away.)
  await assert.rejects(open(`wss://127.0.0.1:${port}/echo`, {}), /self[- ]signed|certificate/i);
  const m = await waitMetrics(server, (m) => m.get('ringgate_connections_active') === 0);
  assert.equal(m.get('ringgate_connections_active'), 0, 'the refused client left a connection behind');
  assert.equal(m.get('ringgate_handshakes_completed_total'), 1, 'only the verified client upgraded');
}));

// Runs in the page; every step bounded. Returns what it saw and `error` naming the failed step.
async function browserSession({ url }) {
  const STEP_MS = 10000;
  const result = { log: [] };
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  const inbox = [];
  const waiters = [];
  ws.onmessage = (ev) => { const w = waiters.shift(); if (w) w(ev.data); else inbox.push(ev.data); };
  ws.onerror = () => result.log.push('error');
  const closedP = new Promise((resolve) => {
    ws.onclose = (ev) => resolve({ code: ev.code, wasClean: ev.wasClean });
  });
  const bounded = (p, what) => Promise.race([p, new Promise((_, reject) =>
    setTimeout(() => reject(new Error(`timeout: ${what}`)), STEP_MS))]);
  const next = (what) => bounded(inbox.length ? Promise.resolve(inbox.shift())
    : new Promise((resolve) => waiters.push(resolve)), what);
  try {
    await bounded(new Promise((resolve, reject) => {
      ws.onopen = resolve;
      closedP.then((c) => reject(new Error(`closed before open: ${JSON.stringify(c)}`)));
    }), 'open');
    ws.send('hello over wss \u2713');
    result.text = await next('text echo');
    const bin = new Uint8Array(100 * 1024).map((_, i) => (i * 7) & 0xff);
    ws.send(bin.buffer);
    const echo = await next('binary echo');
    result.binaryIsArrayBuffer = echo instanceof ArrayBuffer;
    result.binaryEqual = echo.byteLength === bin.length && new Uint8Array(echo).every((b, i) => b === bin[i]);
    ws.close(1000, 'done');
    result.close = await bounded(closedP, 'close event');
  } catch (e) {
    result.error = String((e && e.message) || e);
  }
  return result;
}

test('Chromium WebSocket over wss: text, 100 KB binary, close 1000', { timeout: 90000 }, () => withServer(tlsArgs(), async (server) => {
  const port = wssPort(server);
  const r = await page.evaluate(browserSession, { url: `wss://127.0.0.1:${port}/echo` });
  console.log(`# browser session: ${JSON.stringify(r)}`);
  assert.equal(r.error, undefined, `browser session stopped: ${r.error}`);
  assert.equal(r.text, 'hello over wss \u2713');
  assert.ok(r.binaryIsArrayBuffer, 'binary echo arrived as text');
  assert.ok(r.binaryEqual, 'binary echo differs');
  assert.deepEqual(r.close, { code: 1000, wasClean: true });
  assert.deepEqual(r.log, [], 'error events seen');
  const m = await waitMetrics(server, (m) => m.get('ringgate_closes_total{code="1000"}') >= 1);
  assert.equal(m.get('ringgate_closes_total{code="1000"}'), 1);
  assert.ok(m.get('ringgate_tls_handshakes_total{kind="full"}') + m.get('ringgate_tls_handshakes_total{kind="resumed"}') >= 1);
}));
