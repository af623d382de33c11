#!/usr/bin/env node
// Node `ws` echo server: the comparison point for Ringgate's load benchmark.
// One process, path /echo only, permessage-deflate off, echoes with the same opcode.
// Usage: node node-ws-echo.js [--port N] [--host H]   (port 0 = kernel picks)
// Prints "listening on ws://HOST:PORT" on stderr once bound (same form as ringgate).
'use strict';
const http = require('http');
const { WebSocketServer } = require('ws');

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
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
  process.stderr.write(`node-ws-echo: listening on ws://${a.address}:${a.port} ` +
    `(ws ${require('ws/package.json').version}, bufferutil ${bufferutil}, node ${process.version})\n`);
});

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
