#!/usr/bin/env node
// Node `ws` echo server: the comparison point for Ringgate's load benchmark.
// One process, path /echo only, permessage-deflate off, echoes with the same opcode.
// Usage: node node-ws-echo.js [--port N] [--host H] [--procs N]   (port 0 = kernel picks)
// --procs N forks N worker processes with node's cluster module (they share one port); needed past
// ~19k connections because every process is capped at 20,000 open files (RLIMIT_NOFILE).
// Prints "listening on ws://HOST:PORT" on stderr once bound (same form as ringgate).
'use strict';
const http = require('http');
const { WebSocketServer } = require('ws');

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const cluster = require('cluster');
const procs = Number(arg('--procs', '1'));
if (procs > 1 && cluster.isPrimary) {
  // Round-robin scheduling: the primary accepts and hands each socket to a worker (and closes its copy).
  cluster.schedulingPolicy = cluster.SCHED_RR;
  let announced = false;
  for (let i = 0; i < procs; ++i) {
    const w = cluster.fork();
    w.on('message', (m) => {
      if (!announced && m && m.listening) { announced = true; process.stderr.write(m.listening); }
    });
  }
  for (const sig of ['SIGTERM', 'SIGINT']) {
    process.on(sig, () => { for (const id in cluster.workers) cluster.workers[id].kill(); process.exit(0); });
  }
  return;
}
const host = arg('--host', '127.0.0.1');
const port = Number(arg('--port', '0'));

let bufferutil = 'no';
try { require('bufferutil'); bufferutil = 'yes'; } catch (_) { /* optional */ }

const server = http.createServer((req, res) => {
  res.writeHead(404, { 'Content-Type': 'text/plain', Connection: 'close' });
  res.end('not found\n');
});
const wss = new WebSocketServer({
  noServer: true,
  perMessageDeflate: false,
  clientTracking: false,
  maxPayload: 16 * 1024 * 1024,
});

server.on('upgrade', (req, socket, head) => {
  const path = (req.url || '').split('?')[0];
  if (path !== '/echo') {
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 10\r\n\r\nnot found\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => {});
  });
});

server.listen(port, host, () => {
  const a = server.address();
  const line = `node-ws-echo: listening on ws://${a.address}:${a.port} ` +
    `(ws ${require('ws/package.json').version}, bufferutil ${bufferutil}, node ${process.version}` +
    `${procs > 1 ? `, ${procs} processes` : ''})\n`;
  if (procs > 1) process.send({ listening: line }); else process.stderr.write(line);
});

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
