#!/usr/bin/python3
# A tiny stand-in for the gateway's pub/sub (issue 6 protocol subset), for checking ringgate-load's
# fanout mode without the gateway: one asyncio process, python3-websockets, 127.0.0.1, random ports.
# WebSocket (any path): sub / unsub / pub / ping -> ack (sub: the topic's last seq; pub: seq and
# delivered), msg to every subscriber in seq order, err for anything else. With --api it also
# serves POST /publish (Authorization: Bearer TOKEN) -> 200 {"delivered":N,"seq":S}, 401 otherwise.
# Fault injection for negative tests, counted over all deliveries:
#   --drop-every N   silently skip every Nth delivery (the client must report missing/out-of-order)
#   --gap-every N    skip every Nth delivery but send {"op":"gap"} first (allowed, reported as gaps)
# Prints "listening on ws://127.0.0.1:PORT" (and "api on http://127.0.0.1:PORT") once ready.
import argparse
import asyncio
import json

import websockets

args = None
topics = {}  # name -> [last seq, set of subscriber websockets]
deliveries = 0


def publish(topic, data):
    global deliveries
    t = topics.setdefault(topic, [0, set()])
    t[0] += 1
    seq = t[0]
    body = json.dumps(data, separators=(",", ":"))
    msg = '{"op":"msg","topic":%s,"seq":%d,"data":%s}' % (json.dumps(topic), seq, body)
    for ws in list(t[1]):
        deliveries += 1
        if args.drop_every and deliveries % args.drop_every == 0:
            continue
        if args.gap_every and deliveries % args.gap_every == 0:
            websockets.broadcast([ws], '{"op":"gap","topic":%s}' % json.dumps(topic))
            continue
        websockets.broadcast([ws], msg)  # synchronous write: per-connection order is kept
    return seq, len(t[1])


async def handler(ws, path=None):
    mine = set()
    try:
        async for raw in ws:
            try:
                m = json.loads(raw)
                op, rid = m.get("op"), m.get("id")
            except (ValueError, AttributeError):
                await ws.send('{"op":"err","code":"bad_request","message":"malformed"}')
                continue
            if op == "sub":
                t = topics.setdefault(m["topic"], [0, set()])
                t[1].add(ws)
                mine.add(m["topic"])
                await ws.send(json.dumps({"op": "ack", "id": rid, "seq": t[0]}))
            elif op == "unsub":
                topics.get(m["topic"], [0, set()])[1].discard(ws)
                mine.discard(m["topic"])
                await ws.send(json.dumps({"op": "ack", "id": rid}))
            elif op == "pub":
                seq, n = publish(m["topic"], m["data"])
                await ws.send(json.dumps({"op": "ack", "id": rid, "seq": seq, "delivered": n}))
            elif op == "ping":
                await ws.send(json.dumps({"op": "ack", "id": rid}))
            else:
                await ws.send(json.dumps({"op": "err", "id": rid, "code": "unknown_op", "message": str(op)}))
    except websockets.ConnectionClosed:
        pass
    finally:
        for name in mine:
            topics[name][1].discard(ws)


async def api(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target = lines[0].split(" ")[:2]
            headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            if method != "POST" or target != "/publish":
                status, out = "404 Not Found", {"error": "not_found"}
            elif headers.get("authorization") != "Bearer " + args.token:
                status, out = "401 Unauthorized", {"error": "unauthorized"}
            else:
                m = json.loads(body)
                seq, n = publish(m["topic"], m["data"])
                status, out = "200 OK", {"delivered": n, "seq": seq}
            payload = json.dumps(out).encode()
            writer.write(b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" %
                         (status.encode(), len(payload)) + payload)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main():
    async with websockets.serve(handler, "127.0.0.1", 0, max_size=None, compression=None) as server:
        print(f"listening on ws://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
        if args.api:
            http = await asyncio.start_server(api, "127.0.0.1", 0)
            print(f"api on http://127.0.0.1:{http.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--api", action="store_true")
    p.add_argument("--token", default="secret")
    p.add_argument("--drop-every", type=int, default=0)
    p.add_argument("--gap-every", type=int, default=0)
    args = p.parse_args()
    asyncio.run(main())
