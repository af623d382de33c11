// ws_floor_fanout: the smallest pub/sub fan-out server we could write, as a same-run calibration
// floor for bench/run-fanout.sh: what any server must at least pay per delivery on this machine.
// One thread, level-triggered epoll (the loop, upgrade and unmasking are ws_floor_echo's, shared in
// ws_floor.hpp). It speaks the subset of docs/protocol.md that `ringgate-load fanout` uses, with
// Ringgate's reply shapes (src/pubsub/codec.cpp):
//   {"op":"sub","id":N,"topic":T}          -> {"op":"ack","id":N,"seq":<T's last seq>}
//   {"op":"pub","id":N,"topic":T,"data":D} -> {"op":"msg","topic":T,"seq":S,"data":D} to every
//                                             subscriber of T, then {"op":"ack","id":N,"seq":S,"delivered":K}
//   {"op":"ping","id":N}                   -> {"op":"ack","id":N}
// Each message is encoded once and sent with one send() per delivery: no batching, no queue beyond
// a connection's output buffer when send() would block. Fields are found by a top-level key scan
// with no validation (no topic rules, no UTF-8, no escapes, no limits, no unsub, no history, no
// TLS): it is NOT a server to use, only a bound on the syscall and framing cost of fan-out.
//   ws_floor_fanout [--port N]   (0 = kernel picks; prints "listening on ws://127.0.0.1:PORT")
#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ws_floor.hpp"

namespace {

using floor_ws::Conn;

struct Topic {
  uint64_t seq = 0;
  std::vector<int> subs;  // subscriber fds
};
struct NameHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
std::unordered_map<std::string, uint32_t, NameHash, std::equal_to<>> g_index;  // name -> g_topics
std::vector<Topic> g_topics;
std::vector<uint8_t> g_frame;  // the msg frame being fanned out (header + JSON), reused
std::vector<int> g_broken;     // subscribers whose send failed during a fan-out: dropped after it

uint32_t topic_of(std::string_view name) {
  auto it = g_index.find(name);
  if (it != g_index.end()) return it->second;
  auto t = static_cast<uint32_t>(g_topics.size());
  g_topics.emplace_back();
  g_index.emplace(std::string(name), t);
  return t;
}

void unsubscribe_all(Conn& c) {
  for (uint32_t t : c.topics) {
    std::vector<int>& s = g_topics[t].subs;
    auto it = std::find(s.begin(), s.end(), c.fd);
    if (it == s.end()) continue;
    *it = s.back();
    s.pop_back();
  }
}

// ---- the field scan: top-level keys only, values as raw tokens (strings without their quotes)
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
void skip_ws(std::string_view s, size_t& i) {
  while (i < s.size() && is_space(s[i])) ++i;
}
bool skip_string(std::string_view s, size_t& i) {  // i at '"'; ends past the closing quote
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') ++i;
    else if (s[i] == '"') return ++i, true;
  }
  return false;
}
bool skip_value(std::string_view s, size_t& i) {
  if (i >= s.size()) return false;
  if (s[i] == '"') return skip_string(s, i);
  if (s[i] != '{' && s[i] != '[') {
    size_t start = i;
    while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && !is_space(s[i])) ++i;
    return i > start;
  }
  int depth = 0;
  while (i < s.size()) {
    if (s[i] == '"') {
      if (!skip_string(s, i)) return false;
      continue;
    }
    if (s[i] == '{' || s[i] == '[') ++depth;
    if ((s[i] == '}' || s[i] == ']') && --depth == 0) return ++i, true;
    ++i;
  }
  return false;
}

struct Fields {
  std::string_view op, id, topic, data;
};

void scan(std::string_view s, Fields& f) {
  size_t i = 0;
  skip_ws(s, i);
  if (i >= s.size() || s[i++] != '{') return;
  for (;;) {
    skip_ws(s, i);
    size_t k0 = i;
    if (i >= s.size() || s[i] != '"' || !skip_string(s, i)) return;
    std::string_view key = s.substr(k0 + 1, i - k0 - 2);
    skip_ws(s, i);
    if (i >= s.size() || s[i++] != ':') return;
    skip_ws(s, i);
    size_t v0 = i;
    if (!skip_value(s, i)) return;
    std::string_view v = s.substr(v0, i - v0);
    std::string_view unquoted = v.size() >= 2 && v[0] == '"' ? v.substr(1, v.size() - 2) : v;
    if (key == "op") f.op = unquoted;
    else if (key == "id") f.id = v;
    else if (key == "topic") f.topic = unquoted;
    else if (key == "data") f.data = v;
    skip_ws(s, i);
    if (i >= s.size() || s[i++] != ',') return;
  }
}

// ---- replies and fan-out
void reply(Conn& c, std::string_view json) { floor_ws::queue_frame(c, load::ws::kText, json.data(), json.size()); }

void reply_ack(Conn& c, std::string_view id, const char* tail) {
  std::string r = "{\"op\":\"ack\",\"id\":";
  r.append(id).append(tail).push_back('}');
  reply(c, r);
}

void append(std::vector<uint8_t>& v, std::string_view s) { v.insert(v.end(), s.begin(), s.end()); }

// g_frame = one text frame holding {"op":"msg","topic":T,"seq":S,"data":D}, as src/pubsub/frame.cpp.
void encode_msg(std::string_view topic, uint64_t seq, std::string_view data) {
  char digits[24];
  auto seq_len = static_cast<size_t>(std::to_chars(digits, digits + sizeof digits, seq).ptr - digits);
  constexpr std::string_view kHead = R"({"op":"msg","topic":")", kSeq = R"(","seq":)", kData = R"(,"data":)";
  size_t json = kHead.size() + topic.size() + kSeq.size() + seq_len + kData.size() + data.size() + 1;
  uint8_t hdr[10];
  size_t hl = floor_ws::frame_header(hdr, load::ws::kText, json);
  g_frame.assign(hdr, hdr + hl);
  append(g_frame, kHead);
  append(g_frame, topic);
  append(g_frame, kSeq);
  append(g_frame, std::string_view(digits, seq_len));
  append(g_frame, kData);
  append(g_frame, data);
  g_frame.push_back('}');
}

void subscribe(Conn& c, const Fields& f) {
  uint32_t t = topic_of(f.topic);
  g_topics[t].subs.push_back(c.fd);
  c.topics.push_back(t);
  reply_ack(c, f.id, (",\"seq\":" + std::to_string(g_topics[t].seq)).c_str());
}

void publish(Conn& c, const Fields& f) {
  Topic& t = g_topics[topic_of(f.topic)];
  uint64_t seq = ++t.seq;
  encode_msg(f.topic, seq, f.data);
  uint64_t delivered = 0;
  for (int fd : t.subs) {
    Conn* s = floor_ws::g_srv.conns[static_cast<size_t>(fd)].get();
    if (floor_ws::send_or_queue(*s, g_frame.data(), g_frame.size())) ++delivered;
    else g_broken.push_back(fd);
  }
  std::string tail = ",\"seq\":" + std::to_string(seq) + ",\"delivered\":" + std::to_string(delivered);
  reply_ack(c, f.id, tail.c_str());
}

void on_text(Conn& c, std::string_view text) {
  Fields f;
  scan(text, f);
  if (f.id.empty()) return reply(c, R"({"op":"err","code":"bad_request","message":"no id"})");
  if (f.op == "pub" && !f.topic.empty() && !f.data.empty()) return publish(c, f);
  if (f.op == "sub" && !f.topic.empty()) return subscribe(c, f);
  if (f.op == "ping") return reply_ack(c, f.id, "");
  std::string r = "{\"op\":\"err\",\"id\":";
  r.append(f.id).append(R"(,"code":"unknown_op","message":"not in the floor's subset"})");
  reply(c, r);
}

// Drops the subscribers a fan-out could not write to; false when c itself was one of them.
bool drop_broken(const Conn& c) {
  bool self = false;
  for (int fd : g_broken) {
    Conn* s = floor_ws::g_srv.conns[static_cast<size_t>(fd)].get();
    if (s == nullptr) continue;
    self = self || s == &c;
    floor_ws::drop(*s);
  }
  g_broken.clear();
  return !self;
}

// Handles every complete frame in c.in; returns false when the connection was dropped.
bool fanout_frames(Conn& c) {
  const bool walked = floor_ws::for_each_frame(c, [&](uint8_t op, uint8_t* payload, size_t len) {
    if (op == load::ws::kText) on_text(c, std::string_view(reinterpret_cast<char*>(payload), len));
    if (op == load::ws::kPing) floor_ws::queue_frame(c, load::ws::kPong, payload, len);
    if (op != load::ws::kClose) return true;
    floor_ws::queue_frame(c, load::ws::kClose, payload, len);
    if (drop_broken(c) && floor_ws::flush(c)) floor_ws::drop(c);
    return false;
  });
  return walked && drop_broken(c);
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string_view(argv[i]) == "--port") port = std::atoi(argv[i + 1]);
  floor_ws::g_srv.answer_subprotocol = true;
  floor_ws::g_srv.on_drop = unsubscribe_all;
  return floor_ws::serve("ws_floor_fanout", port, fanout_frames);
}
