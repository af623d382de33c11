#!/usr/bin/python3
# A small wss:// (or ws://) echo server for trying ringgate-load's TLS paths without the gateway:
# Debian's python3-websockets on 127.0.0.1, a random port, printed as "listening on wss://...".
#   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
#     -subj /CN=localhost -keyout k.pem -out c.pem
#   /usr/bin/python3 tools/load/wss_echo_server.py c.pem k.pem [--tls12] [--plain] [--log-sni]
# --tls12 caps the server at TLS 1.2; --plain serves ws:// (for the "not TLS" failure path);
# --log-sni prints each ClientHello's server name. Single-threaded asyncio: a functional check,
# not a performance reference.
import asyncio
import ssl
import sys

import websockets


async def echo(ws, path=None):
    try:
        async for message in ws:
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass


async def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    if "--tls12" in sys.argv:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if "--log-sni" in sys.argv:
        ctx.sni_callback = lambda sock, name, c: print("sni", name, flush=True)
    scheme = "wss"
    if "--plain" in sys.argv:
        ctx, scheme = None, "ws"
    async with websockets.serve(echo, "127.0.0.1", 0, ssl=ctx, max_size=None, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"listening on {scheme}://127.0.0.1:{port}", flush=True)
        await asyncio.Future()


asyncio.run(main())
