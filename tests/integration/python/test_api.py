"""The HTTP publish API (issue 6) against the real binary: POST /publish reaches WebSocket
subscribers on every worker with the data verbatim; bearer-token auth (flag and file); the 400,
401, 404, 405 and 413 answers; keep-alive; refusing to start without a token; the demo page on
the WebSocket listener; the api metrics."""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

import ringgate_harness as rh
from test_pubsub import TRICKY, PubSubCase, nested

TOKEN = "s3cret"
MAX_PUBLISH = 2048


class ApiTest(PubSubCase):
    def setUp(self):
        self.server = rh.start_server(self, "--workers", "2", "--api", "127.0.0.1:0",
                                      "--api-token", TOKEN, "--max-publish-bytes", str(MAX_PUBLISH))
        self.assertIsNotNone(self.server.api_port)

    def api(self):
        c = rh.ApiClient(self.server.api_port)
        self.addCleanup(c.close)
        return c

    def once(self, method, path, body=b"", token=TOKEN, **kw):
        """One request on a fresh connection."""
        return self.api().request(method, path, body, token=token, **kw)

    def assertJsonBody(self, resp, status, expected):
        self.assertEqual(resp.status, status, resp)
        self.assertEqual(json.loads(resp.body), expected, resp)

    def assertError(self, resp, status, code):
        self.assertEqual(resp.status, status, resp)
        body = json.loads(resp.body)
        self.assertEqual(body.get("error"), code, resp)

    def test_publish_reaches_websocket_subscribers(self):
        subs = [self.client(self.server) for _ in range(6)]
        for c in subs:
            self.assertEqual(c.sub("api.t")["op"], "ack")
        api = self.api()
        for i, data in enumerate(TRICKY):
            resp = api.publish(TOKEN, "api.t", data)
            self.assertJsonBody(resp, 200, {"delivered": 6, "seq": i + 1})
        for k, c in enumerate(subs):
            for i, data in enumerate(TRICKY):
                with self.subTest(subscriber=k, seq=i + 1):
                    raw, obj = c.recv()
                    self.assertMsg(raw, obj, "api.t", i + 1, data)
        resp = api.publish(TOKEN, "api.nobody", "1")
        self.assertJsonBody(resp, 200, {"delivered": 0, "seq": 1})
        n = len(TRICKY) + 1
        m = self.server.wait_metrics(
            lambda m: m.get("ringgate_pubsub_published_total", source="api") >= n)
        self.assertEqual(m.get("ringgate_pubsub_published_total", source="api"), n)
        self.assertEqual(m.get("ringgate_pubsub_published_total", source="ws"), 0)
        self.assertEqual(m.get("ringgate_api_requests_total", status="200"), n)

    def test_ws_publish_still_forbidden_without_client_publish(self):
        c = self.client(self.server)
        c.sub("mix")
        rid = c.send_pub("mix", "1")
        self.assertErr(c.reply(rid), "forbidden", rid)
        self.assertJsonBody(self.api().publish(TOKEN, "mix", "2"), 200, {"delivered": 1, "seq": 1})
        raw, obj = c.recv()
        self.assertMsg(raw, obj, "mix", 1, "2")

    def test_keep_alive(self):
        api = self.api()
        for seq in (1, 2, 3):
            resp = api.publish(TOKEN, "ka", '{"n":%d}' % seq)
            self.assertJsonBody(resp, 200, {"delivered": 0, "seq": seq})
            self.assertNotIn("close", [v.lower() for v in resp.header("Connection")])

    def test_drain_ends_keep_alive_connections_at_once(self):
        # A keep-alive connection that has served requests is idle between them: SIGTERM closes it
        # at once rather than at the drain deadline (so a publisher's pool moves on), and the
        # process exits long before --drain-timeout (10 s here).
        server = rh.start_server(self, "--api", "127.0.0.1:0", "--api-token", TOKEN, "--drain-timeout", "10")
        api = rh.ApiClient(server.api_port)
        self.addCleanup(api.close)
        for seq in (1, 2):
            self.assertJsonBody(api.publish(TOKEN, "drain", '{"n":%d}' % seq), 200, {"delivered": 0, "seq": seq})
        t0 = time.monotonic()
        server.signal(signal.SIGTERM)
        self.assertEqual(server.wait(5), 0)
        self.assertLess(time.monotonic() - t0, 3, "an idle keep-alive connection held the drain")
        closed, _ = rh.read_until_eof(api.sock, timeout=1)
        self.assertTrue(closed)

    def test_pipelining_beyond_the_buffer_limit(self):
        """2000 pipelined requests (~250 KB, over the per-connection request buffer) on one
        connection, topics owned by both workers: reading pauses and resumes, every request gets
        its 200 in order, sequence numbers per topic count up."""
        n = 2000
        body = '{"topic":"pl.%d","data":{"n":%d,"pad":"%s"}}'
        reqs = b"".join(
            b"POST /publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s"
            % (TOKEN.encode(), len(body % (i % 4, i, "p" * 40)), (body % (i % 4, i, "p" * 40)).encode())
            for i in range(n))
        sock = rh.connect(self.server.api_port)
        self.addCleanup(sock.close)
        sender = threading.Thread(target=sock.sendall, args=(reqs,), daemon=True)
        sender.start()
        data = b""
        deadline = time.monotonic() + 30
        while data.count(b"HTTP/1.1 ") < n and time.monotonic() < deadline:
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            data += chunk
        sender.join(timeout=5)
        statuses = re.findall(rb"HTTP/1.1 (\d+)", data)
        self.assertEqual(len(statuses), n, "responses received")
        self.assertEqual(set(statuses), {b"200"})
        seqs = [int(s) for s in re.findall(rb'"seq":(\d+)', data)]
        for t in range(4):
            self.assertEqual(seqs[t::4], list(range(1, n // 4 + 1)), "topic pl.%d" % t)

    def test_unauthorized(self):
        sub = self.client(self.server)
        sub.sub("auth")
        body = '{"topic":"auth","data":1}'
        cases = {"no token": [], "wrong token": [f"Authorization: Bearer {TOKEN}x"],
                 "prefix": [f"Authorization: Bearer {TOKEN[:-1]}"], "empty": ["Authorization: Bearer "],
                 "basic": ["Authorization: Basic czNjcmV0OnMzY3JldA=="],
                 "no scheme": [f"Authorization: {TOKEN}"]}
        for name, headers in cases.items():
            with self.subTest(name):
                resp = self.once("POST", "/publish", body, token=None, headers=headers)
                self.assertJsonBody(resp, 401, {"error": "unauthorized"})
                self.assertTrue(resp.header("WWW-Authenticate"), resp)
                self.assertTrue(resp.header("WWW-Authenticate")[0].startswith("Bearer"), resp)
        self.assertEqual(sub.quiet(0.3), [], "an unauthorized publish was delivered")
        m = self.server.wait_metrics(lambda m: m.get("ringgate_api_requests_total", status="401")
                                     >= len(cases))
        self.assertEqual(m.get("ringgate_api_requests_total", status="401"), len(cases))
        self.assertEqual(m.get("ringgate_pubsub_published_total", source="api"), 0)

    def test_bad_requests(self):
        cases = [('{"topic":"t",', "bad_request"), ('', "bad_request"), ('[1]', "bad_request"),
                 ('{"topic":"t"}', "bad_request"), ('{"data":1}', "bad_request"),
                 ('{"topic":7,"data":1}', "bad_request"), ('{"topic":"t","data":1}x', "bad_request"),
                 ('{"topic":"t","data":%s}' % nested(100), "bad_request"),
                 ('{"topic":"a..b","data":1}', "bad_topic"), ('{"topic":".a","data":1}', "bad_topic"),
                 ('{"topic":"a b","data":1}', "bad_topic")]
        for body, code in cases:
            with self.subTest(body=body):
                self.assertError(self.once("POST", "/publish", body), 400, code)
        # Still serving after all of them.
        self.assertJsonBody(self.api().publish(TOKEN, "ok", "1"), 200, {"delivered": 0, "seq": 1})

    def test_paths_and_methods(self):
        body = '{"topic":"t","data":1}'
        self.assertEqual(self.once("POST", "/other", body).status, 404)
        self.assertEqual(self.once("POST", "/publish/x", body).status, 404)
        self.assertEqual(self.once("GET", "/", content_length=False).status, 404)
        self.assertEqual(self.once("GET", "/publish", content_length=False).status, 405)
        self.assertEqual(self.once("PUT", "/publish", body).status, 405)
        self.assertEqual(self.once("DELETE", "/publish", content_length=False).status, 405)

    def test_too_large(self):
        data = '"' + "z" * (2 * MAX_PUBLISH) + '"'
        resp = self.once("POST", "/publish", '{"topic":"big","data":%s}' % data)
        self.assertEqual(resp.status, 413, resp)
        small = '"' + "z" * (MAX_PUBLISH // 2) + '"'
        self.assertJsonBody(self.api().publish(TOKEN, "big", small), 200, {"delivered": 0, "seq": 1})

    def test_missing_content_length(self):
        api = self.api()
        resp = api.request("POST", "/publish", b"", token=TOKEN, content_length=False)
        self.assertTrue(400 <= resp.status < 500, resp)

    def test_demo_page_on_the_websocket_listener(self):
        resp = rh.http_request(self.server.port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                                  b"Connection: close\r\n\r\n")
        self.assertEqual(resp.status, 200, resp)
        self.assertTrue(resp.header("Content-Type")[0].startswith("text/html"), resp.headers)
        page = resp.body.decode("utf-8")
        for element in ("topic", "subscribe", "status", "messages", "data", "publish", "log"):
            self.assertRegex(page, r"""id\s*=\s*["']%s["']""" % element)


class TokenConfigTest(PubSubCase):
    def test_token_file_strips_the_trailing_newline(self):
        d = tempfile.mkdtemp(prefix="ringgate-api-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "token")
        with open(path, "w") as f:
            f.write("file-token-123\n")
        server = rh.start_server(self, "--api", "127.0.0.1:0", "--api-token-file", path)
        api = rh.ApiClient(server.api_port)
        self.addCleanup(api.close)
        resp = api.publish("file-token-123", "tf", "1")
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(json.loads(resp.body), {"delivered": 0, "seq": 1})
        api2 = rh.ApiClient(server.api_port)
        self.addCleanup(api2.close)
        self.assertEqual(api2.publish("file-token-12", "tf", "1").status, 401)

    def assertRefusesToStart(self, *args):
        try:
            r = rh.run_binary(["--listen", "127.0.0.1:0", *args])
        except subprocess.TimeoutExpired:
            self.fail(f"ringgate {' '.join(args)} kept running")
        self.assertNotEqual(r.returncode, 0, r)
        self.assertTrue(r.stderr.strip(), "no message on stderr")
        return r

    def test_api_without_token_refuses_to_start(self):
        r = self.assertRefusesToStart("--api", "127.0.0.1:0")
        self.assertRegex(r.stderr.lower(), "token")

    def test_unreadable_token_file_refuses_to_start(self):
        self.assertRefusesToStart("--api", "127.0.0.1:0", "--api-token-file",
                                  "/nonexistent/ringgate-token")


if __name__ == "__main__":
    unittest.main(verbosity=2)
