"""Echo route /echo through a real client library (Debian's python3-websockets 10.4, asyncio API)
and through raw frames: text, binary, large messages, fragments, ping/pong, close codes, the
message size limit (1009) and invalid UTF-8 (1007)."""
import asyncio
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringgate_harness as rh  # noqa: E402

try:
    import websockets  # noqa: E402
except ImportError as e:  # fail loudly: the tests must not silently skip
    raise SystemExit(f"python3-websockets is missing for {sys.executable}: {e}; "
                     "run tools/install-test-deps.sh") from e

T = 10.0  # seconds: bound on every single wait


def connect(server, **kw):
    kw.setdefault("max_size", 4 << 20)
    return websockets.connect(server.url(), open_timeout=T, close_timeout=T, ping_interval=None, **kw)


async def echo(ws, message):
    await asyncio.wait_for(ws.send(message), T)
    return await asyncio.wait_for(ws.recv(), T)


class EchoTest(unittest.IsolatedAsyncioTestCase, rh.IntegrationCase):
    def setUp(self):
        self.server = rh.start_server(self)

    async def test_text_echo(self):
        async with connect(self.server) as ws:
            for msg in ["hello", "", "h\u00e9llo \u2713 \U0001F600", "x" * 70000]:
                got = await echo(ws, msg)
                self.assertIsInstance(got, str)
                self.assertEqual(got, msg)

    async def test_binary_echo(self):
        async with connect(self.server) as ws:
            for msg in [bytes(range(256)), b"", b"\x00", os.urandom(125), os.urandom(126),
                        os.urandom(65535), os.urandom(65536)]:
                got = await echo(ws, msg)
                self.assertIsInstance(got, bytes)
                self.assertEqual(got, msg)

    async def test_one_mib_binary(self):
        msg = os.urandom(1 << 20)
        async with connect(self.server) as ws:
            got = await echo(ws, msg)
            self.assertIsInstance(got, bytes)
            self.assertEqual(len(got), len(msg))
            self.assertEqual(got, msg)
            await asyncio.wait_for(ws.close(code=1000), T)
            self.assertEqual(ws.close_code, 1000, "no close 1000 back after the 1 MiB echo")

    async def test_large_messages_then_more_traffic(self):
        # Echo frames of 1 MiB and more must leave the connection usable: more echoes, ping, close.
        async with connect(self.server) as ws:
            for n in [(1 << 20) - 20, 1 << 20, (1 << 20) + 1000, 3 << 20]:
                msg = os.urandom(n)
                self.assertEqual(await echo(ws, msg), msg, f"{n}-byte echo")
                self.assertEqual(await echo(ws, f"after {n}"), f"after {n}",
                                 f"no echo of a small message after a {n}-byte echo")
            await asyncio.wait_for(await asyncio.wait_for(ws.ping(b"p"), T), T)
            await asyncio.wait_for(ws.close(code=1000), T)
            self.assertEqual(ws.close_code, 1000)

    async def test_pipelined_messages_keep_order_and_type(self):
        msgs = [f"text-{i}" if i % 2 else os.urandom(i + 1) for i in range(200)]
        async with connect(self.server) as ws:
            for m in msgs:
                await asyncio.wait_for(ws.send(m), T)
            got = [await asyncio.wait_for(ws.recv(), T) for _ in msgs]
        self.assertEqual(got, msgs)

    async def test_fragmented_message_is_echoed_whole(self):
        async with connect(self.server) as ws:
            got = await echo(ws, [b"abc", b"", b"def", os.urandom(1000)])
            self.assertEqual(got[:6], b"abcdef")
            self.assertEqual(len(got), 1006)
            got = await echo(ws, ["caf", "\u00e9 ", "ok"])
            self.assertEqual(got, "caf\u00e9 ok")

    async def test_ping_gets_pong_with_same_payload(self):
        async with connect(self.server) as ws:
            for payload in [b"ping-payload-123", b""]:
                waiter = await asyncio.wait_for(ws.ping(payload), T)
                # websockets resolves the waiter only for a pong carrying this exact payload.
                await asyncio.wait_for(waiter, T)
            # The connection still echoes after control frames.
            self.assertEqual(await echo(ws, "after ping"), "after ping")

    async def test_close_1000_is_echoed(self):
        async with connect(self.server) as ws:
            self.assertEqual(await echo(ws, "bye soon"), "bye soon")
            await asyncio.wait_for(ws.close(code=1000, reason="bye"), T)
            self.assertEqual(ws.close_code, 1000, f"server answered close with {ws.close_code}")

    async def test_close_application_code_is_echoed(self):
        async with connect(self.server) as ws:
            await asyncio.wait_for(ws.close(code=4321, reason="app"), T)
            self.assertEqual(ws.close_code, 4321, f"server answered close with {ws.close_code}")


class OrdinaryDescriptorEchoTest(EchoTest):
    """The same echo cases with ordinary file descriptors (the fallback when the kernel refuses a
    fixed-file table), forced with --no-direct-descriptors."""

    def setUp(self):
        self.server = rh.start_server(self, "--no-direct-descriptors")

    def test_startup_line_names_the_mode(self):
        self.assertIn("ordinary descriptors", self.server.stderr_text())


class MessageLimitTest(unittest.IsolatedAsyncioTestCase, rh.IntegrationCase):
    LIMIT = 1024

    def setUp(self):
        self.server = rh.start_server(self, "--max-message-bytes", str(self.LIMIT))

    async def expect_close(self, ws, code):
        with self.assertRaises(websockets.exceptions.ConnectionClosed) as ctx:
            await asyncio.wait_for(ws.recv(), T)
        self.assertEqual(ctx.exception.rcvd.code if ctx.exception.rcvd else None, code,
                         f"expected close {code}, got {ctx.exception!r}")

    async def test_message_at_limit_is_echoed(self):
        async with connect(self.server) as ws:
            msg = os.urandom(self.LIMIT)
            self.assertEqual(await echo(ws, msg), msg)
            self.assertEqual(await echo(ws, "t" * self.LIMIT), "t" * self.LIMIT)

    async def test_message_over_limit_gets_1009(self):
        async with connect(self.server) as ws:
            await asyncio.wait_for(ws.send(os.urandom(self.LIMIT + 1)), T)
            await self.expect_close(ws, 1009)

    async def test_fragments_summing_over_limit_get_1009(self):
        async with connect(self.server) as ws:
            half = self.LIMIT // 2 + 1
            await asyncio.wait_for(ws.send([os.urandom(half), os.urandom(half)]), T)
            await self.expect_close(ws, 1009)

    async def test_1009_is_counted(self):
        async with connect(self.server) as ws:
            await asyncio.wait_for(ws.send(os.urandom(4 * self.LIMIT)), T)
            await self.expect_close(ws, 1009)
        m = self.server.wait_metrics(lambda m: m.get("ringgate_closes_total", code="1009") >= 1)
        self.assertEqual(m.get("ringgate_closes_total", code="1009"), 1, m.text)


class RawFrameTest(rh.IntegrationCase):
    def setUp(self):
        self.server = rh.start_server(self)

    def test_invalid_utf8_text_gets_1007(self):
        ws = rh.RawWs(self.server.port)
        try:
            ws.send(rh.OP_TEXT, b"ok \xff\xfe\xfd")
            self.assertEqual(ws.recv_close(), 1007)
        finally:
            ws.close()

    def test_invalid_utf8_across_fragments_gets_1007(self):
        ws = rh.RawWs(self.server.port)
        try:
            ws.send(rh.OP_TEXT, b"caf\xc3", fin=False)
            ws.send(rh.OP_CONT, b"(", fin=True)  # 0xC3 must be followed by a continuation byte
            self.assertEqual(ws.recv_close(), 1007)
        finally:
            ws.close()

    def test_utf8_char_split_across_fragments_is_valid(self):
        ws = rh.RawWs(self.server.port)
        try:
            ws.send(rh.OP_TEXT, b"caf\xc3", fin=False)
            ws.send(rh.OP_CONT, b"\xa9", fin=True)
            fin, opcode, payload = ws.recv_frame()
            self.assertEqual((opcode, payload), (rh.OP_TEXT, "caf\u00e9".encode()))
            self.assertTrue(fin)
        finally:
            ws.close()

    def test_raw_ping_pong_and_close(self):
        ws = rh.RawWs(self.server.port)
        try:
            ws.send(rh.OP_PING, b"raw-ping")
            self.assertEqual(ws.recv_frame(), (True, rh.OP_PONG, b"raw-ping"))
            ws.send(rh.OP_CLOSE, rh.close_payload(1000, b"done"))
            self.assertEqual(ws.recv_close(), 1000)
            closed, rest = rh.read_until_eof(ws.sock, timeout=T)
            self.assertTrue(closed, "server did not close TCP after the close handshake")
            self.assertEqual(rest, b"")
        finally:
            ws.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
