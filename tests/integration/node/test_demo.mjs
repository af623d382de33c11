// The demo page (GET /) in headless Debian Chromium against the real ringgate: it connects to /ws,
// subscribes to "demo", publishes from the page, shows a message published through the HTTP API
// in seq order, shows an err for a bad topic; a node ws subscriber on the same topic receives both
// messages with their data verbatim. Every wait is bounded.
// Run: RINGGATE_BIN=/path/to/ringgate node test_demo.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';
import { waitMetrics, withServer, withTimeout } from './lib/ringgate.mjs';

const CHROMIUM = process.env.RINGGATE_CHROMIUM || '/usr/bin/chromium';
// Same flags as test_chromium.mjs (see there for LocalNetworkAccessChecks).
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-features=LocalNetworkAccessChecks'];
const T = 10000;
const TOKEN = 't0ken';
const SERVER_ARGS = ['--workers', '2', '--client-publish', 'on', '--api', '127.0.0.1:0', '--api-token', TOKEN];
let browser;

before(async () => {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: run tools/install-test-deps.sh (Debian package chromium)`);
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 60000 });
});

after(async () => {
  if (browser) await withTimeout(browser.close(), 20000, 'browser.close');
});

// A ws subscriber whose text frames are queued as { raw, json } so none is lost between awaits.
function openClient(url) {
  const ws = new WebSocket(url, 'ringgate.v1');
  ws.queue = [];
  ws.waiters = [];
  ws.on('message', (data, isBinary) => {
    const raw = data.toString();
    const frame = { raw, isBinary, json: isBinary ? null : JSON.parse(raw) };
    const w = ws.waiters.shift();
    if (w) w(frame); else ws.queue.push(frame);
  });
  return withTimeout(new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  }), T, `open ${url}`);
}

function nextFrame(ws, what) {
  const f = ws.queue.shift();
  if (f) return Promise.resolve(f);
  return withTimeout(new Promise((resolve) => ws.waiters.push(resolve)), T, what);
}

function apiPublish(server, body, token = TOKEN) {
  const headers = { 'Content-Type': 'application/json' };
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  return fetch(`http://127.0.0.1:${server.apiPort}/publish`, {
    method: 'POST', headers, body, signal: AbortSignal.timeout(5000),
  });
}

// What the page shows: [{ topic, seq, text }] of #messages and [{ cls, text }] of #log.
const readMessages = (page) => page.$$eval('#messages li.msg', (lis) => lis.map((li) => (
  { topic: li.dataset.topic, seq: Number(li.dataset.seq), text: li.textContent })));
const readLog = (page) => page.$$eval('#log li', (lis) => lis.map((li) => ({ cls: li.className, text: li.textContent })));

test('demo page: subscribe, publish from the page and the HTTP API, errors', { timeout: 120000 },
  () => withServer(SERVER_ARGS, async (server) => {
    assert.ok(server.apiPort > 0, 'no "api on http://HOST:PORT" line in the log');
    const pageUrl = `http://127.0.0.1:${server.port}/`;

    const res = await fetch(pageUrl, { signal: AbortSignal.timeout(5000) });
    const html = await res.text();
    assert.equal(res.status, 200, `GET / -> ${res.status}: ${html.slice(0, 200)}`);
    assert.match(res.headers.get('content-type') || '', /^text\/html/);
    for (const id of ['topic', 'subscribe', 'status', 'messages', 'data', 'publish', 'log']) {
      assert.ok(html.includes(`id="${id}"`), `#${id} missing from the page`);
    }

    // The node subscriber first, so it is in place before anything is published.
    const sub = await openClient(server.url('/ws'));
    try {
      assert.equal(sub.protocol, 'ringgate.v1');
      sub.send(JSON.stringify({ op: 'sub', id: 1, topic: 'demo' }));
      const ack = (await nextFrame(sub, 'sub ack')).json;
      assert.deepEqual(ack, { op: 'ack', id: 1, seq: 0 }, 'sub ack on a fresh topic');

      const page = await browser.newPage();
      page.setDefaultTimeout(T);
      const pageErrors = [];
      page.on('pageerror', (e) => pageErrors.push(String(e)));
      try {
        await page.goto(pageUrl, { timeout: T });
        await page.waitForFunction(() => document.getElementById('status').textContent === 'connected',
          null, { timeout: T });

        await page.fill('#topic', 'demo');
        await page.click('#subscribe');
        // The page shows no ack; the gauge says when both subscriptions exist.
        const subs = await waitMetrics(server, (m) => m.get('ringgate_pubsub_subscriptions') >= 2, T);
        assert.equal(subs.get('ringgate_pubsub_subscriptions'), 2, 'subscriptions: node client + page');

        // (a) From the page: JSON input is sent as JSON.
        await page.fill('#data', '{"from":"page"}');
        await page.click('#publish');
        await page.waitForFunction(() => document.querySelectorAll('#messages li.msg').length >= 1, null, { timeout: T });
        const [first] = await readMessages(page);
        assert.deepEqual(first, { topic: 'demo', seq: 1, text: '{"from":"page"}' });

        // (b) Through the HTTP API: the next seq, shown after the first.
        const body = '{"topic":"demo","data":{"hello":"api"}}';
        const pub = await apiPublish(server, body);
        const pubText = await pub.text();
        assert.equal(pub.status, 200, `POST /publish -> ${pub.status}: ${pubText}`);
        assert.deepEqual(JSON.parse(pubText), { delivered: 2, seq: 2 });
        await page.waitForFunction(() => document.querySelectorAll('#messages li.msg').length >= 2, null, { timeout: T });
        const shown = await readMessages(page);
        assert.deepEqual(shown, [
          { topic: 'demo', seq: 1, text: '{"from":"page"}' },
          { topic: 'demo', seq: 2, text: '{"hello":"api"}' },
        ]);

        // (c) The node subscriber got both, in order, data byte for byte.
        const m1 = await nextFrame(sub, 'msg seq 1');
        const m2 = await nextFrame(sub, 'msg seq 2');
        assert.deepEqual(m1.json, { op: 'msg', topic: 'demo', seq: 1, data: { from: 'page' } });
        assert.deepEqual(m2.json, { op: 'msg', topic: 'demo', seq: 2, data: { hello: 'api' } });
        assert.ok(m2.raw.includes('"data":{"hello":"api"}'), `data not verbatim: ${m2.raw}`);
        assert.ok(!m1.isBinary && !m2.isBinary, 'msg frames must be text');

        // A plain string (not JSON) from the page arrives as a JSON string.
        await page.fill('#data', 'just text');
        await page.click('#publish');
        const m3 = await nextFrame(sub, 'msg seq 3');
        assert.deepEqual(m3.json, { op: 'msg', topic: 'demo', seq: 3, data: 'just text' });
        await page.waitForFunction(() => document.querySelectorAll('#messages li.msg').length >= 3, null, { timeout: T });
        assert.deepEqual((await readMessages(page))[2], { topic: 'demo', seq: 3, text: 'just text' });

        // Errors: a bad topic from the page shows as li.err; a wrong token is 401 and publishes nothing.
        assert.deepEqual(await readLog(page), [], 'nothing in #log before the errors');
        await page.fill('#topic', 'a..b');
        await page.click('#publish');
        await page.waitForFunction(() => document.querySelectorAll('#log li.err').length >= 1, null, { timeout: T });
        const log = await readLog(page);
        assert.equal(log.length, 1, JSON.stringify(log));
        assert.match(log[0].text, /bad_topic/);

        const bad = await apiPublish(server, body, 'wrong');
        assert.equal(bad.status, 401);
        assert.match(bad.headers.get('www-authenticate') || '', /^Bearer/);
        assert.deepEqual(await bad.json(), { error: 'unauthorized' });
        const noAuth = await apiPublish(server, body, null);
        assert.equal(noAuth.status, 401);
        await noAuth.arrayBuffer();

        // Nothing else reached either subscriber; the status stayed connected throughout.
        sub.send(JSON.stringify({ op: 'ping', id: 9 }));
        assert.deepEqual((await nextFrame(sub, 'ping ack')).json, { op: 'ack', id: 9 });
        assert.equal((await readMessages(page)).length, 3);
        assert.equal(await page.textContent('#status'), 'connected');
        assert.deepEqual(pageErrors, [], 'uncaught errors in the page');

        const m = await waitMetrics(server, (s) => s.get('ringgate_pubsub_published_total{source="api"}') >= 1
          && s.get('ringgate_pubsub_published_total{source="ws"}') >= 2, T);
        assert.equal(m.get('ringgate_pubsub_published_total{source="ws"}'), 2);
        assert.equal(m.get('ringgate_pubsub_published_total{source="api"}'), 1);
      } finally {
        await withTimeout(page.close(), T, 'page.close');
      }
    } finally {
      sub.close();
    }
  }));
