"""Timeouts and heartbeats on the real binary, with short intervals: pings keep answering clients
alive, a client that never answers is closed at interval + pong deadline, a silent TCP connection
is cut at the handshake deadline, idle and lifetime limits close with their codes, and a drain
spreads its 1001 closes over the window."""
import asyncio
import signal
import socket
import struct
import time
import unittest

import websockets

import ringgate_harness as rh

TICK = 0.05   # never early by more than the wheel's 10 ms tick and clock granularity
SLACK = 0.3   # late by at most this: one tick plus a loaded 2-core CI machine's scheduling


class HeartbeatTest(unittest.IsolatedAsyncioTestCase, rh.IntegrationCase):
    INTERVAL = 0.5
    PONG = 0.5

    def setUp(self):
        self.server = rh.start_server(self, "--ping-interval", str(self.INTERVAL),
                                      "--pong-timeout", str(self.PONG), "--workers", "1")

    async def test_answering_client_stays_connected(self):
        # python3-websockets answers pings by itself; it sends nothing for 4+ intervals.
        async with websockets.connect(self.server.url(), ping_interval=None) as ws:
            await asyncio.sleep(self.INTERVAL * 5)
            await ws.send("still here")
            self.assertEqual(await asyncio.wait_for(ws.recv(), 5), "still here")
        m = self.server.metrics()
        self.assertGreaterEqual(m.get("ringgate_pings_sent_total"), 3)
        self.assertGreaterEqual(m.get("ringgate_pongs_received_total"), 3)
        self.assertGreaterEqual(m.get("ringgate_pong_rtt_seconds_count"), 3)
        self.assertEqual(m.get("ringgate_timeouts_total", kind="pong"), 0)

    def test_silent_client_is_closed_after_interval_plus_pong_deadline(self):
        ws = rh.RawWs(self.server.port)
        try:
            t0 = time.monotonic()
            ws.sock.settimeout(10)
            fin, opcode, payload = ws.recv_frame()
            t_ping = time.monotonic() - t0
            self.assertEqual(opcode, 0x9, "first frame is a ping")
            # +-10 % jitter on the interval
            self.assertGreater(t_ping, self.INTERVAL * 0.9 - TICK)
            self.assertLess(t_ping, self.INTERVAL * 1.1 + SLACK)
            code = ws.recv_close()  # never answer the ping
            t_close = time.monotonic() - t0
            self.assertEqual(code, 1011)
            self.assertGreater(t_close, t_ping + self.PONG - TICK)
            self.assertLess(t_close, t_ping + self.PONG + SLACK)
        finally:
            ws.close()
        m = self.server.wait_metrics(lambda m: m.get("ringgate_timeouts_total", kind="pong") >= 1)
        self.assertEqual(m.get("ringgate_timeouts_total", kind="pong"), 1)

class DeadlineTest(unittest.IsolatedAsyncioTestCase, rh.IntegrationCase):
    def test_silent_tcp_is_cut_at_the_handshake_deadline(self):
        server = rh.start_server(self, "--handshake-timeout", "0.5", "--workers", "1")
        s = rh.connect(server.port)
        try:
            s.settimeout(5)
            t0 = time.monotonic()
            self.assertEqual(s.recv(1), b"", "the server closes the connection")
            elapsed = time.monotonic() - t0
            self.assertGreater(elapsed, 0.5 - TICK)
            self.assertLess(elapsed, 0.5 + SLACK)
        finally:
            s.close()
        m = server.wait_metrics(lambda m: m.get("ringgate_timeouts_total", kind="handshake") >= 1)
        self.assertEqual(m.get("ringgate_timeouts_total", kind="handshake"), 1)

    async def test_idle_timeout_closes_1000(self):
        server = rh.start_server(self, "--idle-timeout", "0.6", "--ping-interval", "0.2")
        async with websockets.connect(server.url()) as ws:
            t0 = time.monotonic()
            await ws.send("one")  # a message resets the idle clock; pings do not
            await ws.recv()
            with self.assertRaises(websockets.ConnectionClosed) as cm:
                await asyncio.wait_for(ws.recv(), 5)
            elapsed = time.monotonic() - t0
        self.assertEqual(cm.exception.rcvd.code, 1000)
        self.assertEqual(cm.exception.rcvd.reason, "idle timeout")
        self.assertGreater(elapsed, 0.6 - TICK)
        self.assertLess(elapsed, 0.6 + SLACK)
        m = server.wait_metrics(lambda m: m.get("ringgate_timeouts_total", kind="idle") >= 1)
        self.assertEqual(m.get("ringgate_timeouts_total", kind="idle"), 1)

    async def test_max_lifetime_closes_1001_even_when_busy(self):
        server = rh.start_server(self, "--max-lifetime", "0.7")
        async with websockets.connect(server.url()) as ws:
            t0 = time.monotonic()
            with self.assertRaises(websockets.ConnectionClosed) as cm:
                while True:
                    await ws.send("busy")
                    await asyncio.wait_for(ws.recv(), 5)
                    await asyncio.sleep(0.05)
            elapsed = time.monotonic() - t0
        self.assertEqual(cm.exception.rcvd.code, 1001)
        self.assertGreater(elapsed, 0.7 - TICK)
        self.assertLess(elapsed, 0.7 + SLACK)
        m = server.wait_metrics(lambda m: m.get("ringgate_timeouts_total", kind="lifetime") >= 1)
        self.assertEqual(m.get("ringgate_timeouts_total", kind="lifetime"), 1)


class DrainWindowTest(rh.IntegrationCase):
    WINDOW = 2.0

    def test_closes_are_spread_over_the_window(self):
        server = rh.start_server(self, "--drain-window", str(self.WINDOW), "--drain-timeout", "3",
                                 "--workers", "1")
        clients = [rh.RawWs(server.port) for _ in range(10)]
        try:
            t0 = time.monotonic()
            server.signal(signal.SIGTERM)
            times = []
            for ws in clients:
                ws.sock.settimeout(self.WINDOW + 3)
            # Read every client's close (they arrive in some order; poll them in turn).
            pending = list(clients)
            while pending:
                for ws in list(pending):
                    ws.sock.settimeout(0.02)
                    try:
                        code = ws.recv_close()
                    except (socket.timeout, BlockingIOError):
                        continue
                    self.assertEqual(code, 1001)
                    times.append(time.monotonic() - t0)
                    ws.send(0x8, struct.pack("!H", 1001))  # answer, as a client does
                    pending.remove(ws)
                if time.monotonic() - t0 > self.WINDOW + 3:
                    self.fail(f"{len(pending)} clients got no close within window + 3 s")
            times.sort()
            self.assertLess(times[0], self.WINDOW * 0.2 + SLACK, times)
            self.assertGreater(times[-1], self.WINDOW * 0.7, f"not spread over the window: {times}")
            self.assertLess(times[-1], self.WINDOW + SLACK, times)
            self.assertEqual(server.wait(self.WINDOW + 5), 0)
        finally:
            for ws in clients:
                ws.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
