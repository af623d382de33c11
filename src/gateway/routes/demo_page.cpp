// GET / and /index.html: the demo page (see demo_page.hpp), one response, then close. Element ids are part of the contract with the browser test
// (tests/integration/node/test_demo.mjs): #topic #subscribe #status #messages #data #publish #log.
#include "ringgate/gateway/demo_page.hpp"

#include "../route.hpp"
#include "ringgate/http/upgrade.hpp"

namespace ringgate::gateway {
namespace {

constexpr std::string_view kDemoPage = R"rg(
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Ringgate pub/sub demo</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; max-width: 52rem; margin: 1.5rem auto; padding: 0 1rem; color: #1d1f21; }
  h1 { font-size: 1.3rem; margin: 0 0 .3rem; }
  form { display: flex; gap: .5rem; align-items: center; margin: .6rem 0; flex-wrap: wrap; }
  input { flex: 1; min-width: 10rem; padding: .35rem .5rem; font: inherit; border: 1px solid #999; border-radius: 4px; }
  button { padding: .35rem .9rem; font: inherit; border: 1px solid #245; border-radius: 4px; background: #2a5d8f; color: #fff; cursor: pointer; }
  button:focus-visible, input:focus-visible { outline: 3px solid #f2b632; outline-offset: 1px; }
  #status { font-weight: 600; color: #a21; }
  #status.on { color: #16713a; }
  ul { list-style: none; padding: 0; margin: 0; max-height: 40vh; overflow-y: auto; border: 1px solid #ddd; border-radius: 4px; }
  li { padding: .25rem .5rem; border-bottom: 1px solid #eee; font-family: ui-monospace, monospace; font-size: 13px; overflow-wrap: anywhere; }
  li.msg::before { content: attr(data-topic) " #" attr(data-seq) "  "; color: #666; }
  li.err { color: #a21; }
  li.gap { color: #8a5a00; }
  h2 { font-size: 1rem; margin: 1rem 0 .3rem; }
  label { min-width: 2.8rem; }
</style>
</head>
<body>
<h1>Ringgate pub/sub demo</h1>
<p>Status: <span id="status" role="status" aria-live="polite">closed</span></p>
<form id="subform">
  <label for="topic">Topic</label>
  <input id="topic" value="demo" autocomplete="off" required>
  <button id="subscribe" type="submit">Subscribe</button>
</form>
<form id="pubform">
  <label for="data">Data</label>
  <input id="data" value='{"hello":"world"}' autocomplete="off">
  <button id="publish" type="submit">Publish</button>
</form>
<h2 id="mh">Messages</h2>
<ul id="messages" aria-labelledby="mh" aria-live="polite"></ul>
<h2 id="lh">Errors and gaps</h2>
<ul id="log" aria-labelledby="lh" aria-live="polite"></ul>
<script>
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
  const KEEP = 500;              // list entries kept on screen
  const subs = new Map();        // topic -> last seq seen (null: none yet)
  const pending = new Map();     // request id -> {op, topic}
  let ws = null, nextId = 1, delay = 250;

  function add(list, cls, text, attrs) {
    const li = document.createElement("li");
    li.className = cls;
    li.textContent = text;
    for (const k in attrs || {}) li.setAttribute(k, attrs[k]);
    const ul = $(list);
    ul.appendChild(li);
    while (ul.children.length > KEEP) ul.removeChild(ul.firstChild);
    ul.scrollTop = ul.scrollHeight;
  }
  const logErr = (text) => add("log", "err", text);

  function setStatus(open) {
    $("status").textContent = open ? "connected" : "closed";
    $("status").className = open ? "on" : "";
  }

  function send(req) {
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    const frame = Object.assign({ op: req.op, id: nextId++ }, req);
    pending.set(frame.id, req);
    ws.send(JSON.stringify(frame));
    return true;
  }

  function subscribe(topic) {
    const req = { op: "sub", topic };
    const last = subs.get(topic);
    if (last !== null && last !== undefined) req.since = last;
    send(req);
  }

  function onFrame(text) {
    let m;
    try { m = JSON.parse(text); } catch (e) { logErr("unparsable frame: " + text); return; }
    const req = m.id !== undefined ? pending.get(m.id) : undefined;
    if (req) pending.delete(m.id);
    if (m.op === "msg") {
      if (subs.has(m.topic)) subs.set(m.topic, m.seq);
      const text = typeof m.data === "string" ? m.data : JSON.stringify(m.data);
      add("messages", "msg", text, { "data-topic": m.topic, "data-seq": String(m.seq) });
    } else if (m.op === "gap") {
      add("log", "gap", "gap on " + m.topic + ": messages may be missing");
    } else if (m.op === "err") {
      logErr((m.id !== undefined ? "request " + m.id + " " : "") + m.code + ": " + (m.message || ""));
      if (req && req.op === "sub") subs.delete(req.topic);
    } else if (m.op === "ack" && req && req.op === "sub" && subs.get(req.topic) === null) {
      subs.set(req.topic, m.seq); // the recovery point if we reconnect before any message
    }
  }

  function connect() {
    ws = new WebSocket(url, "ringgate.v1");
    ws.onopen = () => {
      delay = 250;
      pending.clear();
      setStatus(true);
      for (const topic of subs.keys()) subscribe(topic);
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data === "string") onFrame(ev.data);
    };
    ws.onclose = (ev) => {
      setStatus(false);
      const wait = Math.round(delay * (0.5 + Math.random() / 2));
      logErr("closed (" + ev.code + (ev.reason ? " " + ev.reason : "") + "), reconnecting in " + wait + " ms");
      delay = Math.min(delay * 2, 10000);
      setTimeout(connect, wait);
    };
  }

  $("subform").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const topic = $("topic").value.trim();
    if (!topic || subs.has(topic)) return;
    subs.set(topic, null);
    subscribe(topic);
  });

  $("pubform").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const raw = $("data").value;
    let data;
    try { data = JSON.parse(raw); } catch (e) { data = raw; }
    if (!send({ op: "pub", topic: $("topic").value.trim(), data })) logErr("not connected: nothing published");
  });

  connect();
})();
</script>
</body>
</html>
)rg";

}  // namespace

std::string_view demo_page_html() noexcept {
  return kDemoPage.substr(1);  // drop the newline after the raw string's opening delimiter
}

namespace {
class DemoPageRoute final : public RouteHandler {
 public:
  void on_request(ConnIo& io, const http::Request&) noexcept override {
    const std::string_view page = demo_page_html();
    char head[256];
    const std::size_t n = http::write_response_head(
        http::ResponseHead{200, "text/html; charset=utf-8", page.size(), false, "Cache-Control: no-cache\r\n"},
        head, sizeof head);
    if (n == 0 || !io.write(std::string_view(head, n)) || !io.write(page)) return;  // (out of memory: torn down)
    io.end_response(false);
  }
};
}  // namespace

std::unique_ptr<RouteHandler> make_demo_page_route(const RouteContext&) {
  return std::make_unique<DemoPageRoute>();
}

}  // namespace ringgate::gateway
