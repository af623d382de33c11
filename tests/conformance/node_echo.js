#!/usr/bin/env node
// Reference echo server to validate the SUITE (not part of the CTest run): the Node `ws`
// library passes Autobahn, so a case failing against this server is a bug in the case.
// Same command-line shape as ringgate, so run.py can start it with --server-cmd:
//   node tests/conformance/node_echo.js [--listen HOST:PORT] [--max-message-bytes N]
// Uses the ws copy installed for the load benchmark (bench/load/node_modules), else require('ws').
'use strict';
const http = require('http');
const path = require('path');

let wsDir = path.join(__dirname, '../../bench/load/node_modules/ws');
let ws;
try { ws = require(wsDir); } catch (_) { wsDir = 'ws'; ws = require(wsDir); }

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}
const [host, port] = arg('--listen', '127.0.0.1:0').split(':');
// maxFragments/maxBufferedChunks 0: ws 8.23's DoS caps (16384 fragments) would refuse 9.3.1 with 1008.
const wss = new ws.WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false,
  maxFragments: 0, maxBufferedChunks: 0,
  maxPayload: Number(arg('--max-message-bytes', String(16 * 1024 * 1024))) });
const server = http.createServer((req, res) => { res.writeHead(404, { Connection: 'close' }); res.end('not found\n'); });
server.on('upgrade', (req, socket, head) => {
  if ((req.url || '').split('?')[0] !== '/echo') { socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'); return; }
  wss.handleUpgrade(req, socket, head, (c) => {
    c.on('message', (data, isBinary) => c.send(data, { binary: isBinary }));
    c.on('error', () => {});
  });
});
server.listen(Number(port), host, () => {
  const a = server.address();
  process.stderr.write(`node_echo: listening on ws://${a.address}:${a.port} (ws ${require(wsDir + '/package.json').version})\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
