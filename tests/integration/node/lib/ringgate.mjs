// Starts the real ringgate binary ($RINGGATE_BIN) on kernel-picked loopback ports for the node
// tests, parses the ports from its stderr (captured to a file), scrapes its admin /metrics, and
// kills only the PID it started: on stop(), and on process exit even when a test failed.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const LISTEN_RE = /listening on ws:\/\/([0-9.]+):(\d+)/;
const ADMIN_RE = /admin on http:\/\/([0-9.]+):(\d+)/;
const API_RE = /api on http:\/\/([0-9.]+):(\d+)/;
const START_TIMEOUT_MS = 10000;
const live = new Set();

process.on('exit', () => {
  for (const child of live) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

export function ringgateBin() {
  const bin = process.env.RINGGATE_BIN;
  if (!bin) throw new Error('RINGGATE_BIN is not set (path to the ringgate binary)');
  fs.accessSync(bin, fs.constants.X_OK);
  return bin;
}

// Rejects with `what` when `promise` has not settled within `ms`.
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export async function startServer(extraArgs = []) {
  const logDir = process.env.RINGGATE_TEST_LOGDIR || os.tmpdir();
  fs.mkdirSync(logDir, { recursive: true });
  const logPath = path.join(logDir, `ringgate-node-${process.pid}-${Date.now()}-${live.size}.stderr`);
  const fd = fs.openSync(logPath, 'w');
  const args = ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', ...extraArgs];
  const child = spawn(ringgateBin(), args, { stdio: ['ignore', 'ignore', fd] });
  fs.closeSync(fd);
  live.add(child);
  let exitCode = null;
  const exited = new Promise((resolve) => child.on('exit', (code, sig) => {
    exitCode = code ?? sig;
    live.delete(child);
    resolve(exitCode);
  }));
  const stderr = () => fs.readFileSync(logPath, 'utf8');

  const deadline = Date.now() + START_TIMEOUT_MS;
  let listen = null;
  let admin = null;
  let api = null;
  const wantApi = extraArgs.includes('--api');
  for (;;) {
    const text = stderr();
    listen = LISTEN_RE.exec(text);
    admin = ADMIN_RE.exec(text);
    api = API_RE.exec(text);
    if (listen && admin && (api || !wantApi)) break;
    if (exitCode !== null) throw new Error(`ringgate exited (${exitCode}) during start:\n${text}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`ringgate printed no listen/admin${wantApi ? '/api' : ''} line within ${START_TIMEOUT_MS} ms:\n${text}`);
    }
    await sleep(20);
  }
  const port = Number(listen[2]);
  const adminPort = Number(admin[2]);
  const apiPort = api ? Number(api[2]) : null; // with --api only

  return {
    pid: child.pid,
    port,
    adminPort,
    apiPort,
    logPath,
    stderr,
    url: (p = '/echo') => `ws://127.0.0.1:${port}${p}`,
    metrics: () => scrapeMetrics(adminPort),
    // SIGTERM, then SIGKILL if it has not exited within timeoutMs; resolves to the exit code.
    async stop(timeoutMs = 10000) {
      if (exitCode !== null) return exitCode;
      child.kill('SIGTERM');
      try {
        return await withTimeout(exited, timeoutMs, 'ringgate exit after SIGTERM');
      } catch (e) {
        child.kill('SIGKILL');
        throw e;
      }
    },
  };
}

// Prometheus text -> Map of 'name{labels as printed}' -> number.
export function parseMetrics(text) {
  const samples = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) throw new Error(`unparsable metrics line: ${JSON.stringify(line)}`);
    samples.set(m[1] + (m[2] || ''), Number(m[3]));
  }
  return samples;
}

export async function scrapeMetrics(adminPort) {
  const res = await fetch(`http://127.0.0.1:${adminPort}/metrics`, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET /metrics -> ${res.status}: ${text}`);
  return parseMetrics(text);
}

// Scrapes until predicate(samples) holds or timeoutMs passes; returns the last scrape.
export async function waitMetrics(server, predicate, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = await server.metrics();
    if (predicate(m) || Date.now() > deadline) return m;
    await sleep(50);
  }
}

// Runs fn(server) against a fresh ringgate, so one test's failure cannot cascade into the next.
// Afterwards SIGTERM: a clean exit (0) is part of the test; on failure the stderr tail is shown.
export async function withServer(extraArgs, fn) {
  const server = await startServer(extraArgs);
  let passed = false;
  try {
    await fn(server);
    passed = true;
  } finally {
    if (!passed) {
      const tail = server.stderr().split('\n').slice(-30).map((l) => `# | ${l}`).join('\n');
      console.log(`# ringgate stderr (${server.logPath}):\n${tail}`);
    }
    let code;
    try {
      code = await server.stop();
    } catch (e) {
      code = String(e.message);
    }
    if (passed && code !== 0) throw new Error(`ringgate did not exit 0 after SIGTERM: ${code}`);
  }
}
