// The routes against a recording ConnIo (no worker, no ring), the route table, the upgrade policy
// step and the one frame writer.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "gateway/message_writer.hpp"
#include "gateway/route.hpp"
#include "gateway/upgrade_policy.hpp"
#include "ringgate/gateway/connection.hpp"
#include "ringgate/gateway/demo_page.hpp"
#include "ringgate/http/upgrade.hpp"

namespace ringgate::gateway {
namespace {

struct Sent {
  ws::Opcode op;
  std::string payload;
};

class FakeIo final : public ConnIo {
 public:
  bool send(ws::Opcode op, std::span<const std::uint8_t> p) noexcept override {
    sent.push_back(Sent{op, std::string(reinterpret_cast<const char*>(p.data()), p.size())});
    return !fail_writes;
  }
  bool write(std::string_view bytes) noexcept override {
    written.append(bytes);
    return !fail_writes;
  }
  void close(std::uint16_t code, std::string_view reason) noexcept override {
    close_code = code;
    close_reason = reason;
  }
  void end_response(bool keep_alive) noexcept override { ended_ = keep_alive ? 2 : 1; }
  void pause_reading() noexcept override { paused = true; }
  void resume_reading() noexcept override { paused = false; }
  void arm_deadline(std::uint64_t ms) noexcept override { deadline_ms = ms; }
  std::uint64_t token() const noexcept override { return 0x100000007ull; }
  std::uint64_t held_bytes() const noexcept override { return 0; }
  std::uint8_t route_state() const noexcept override { return bits; }
  void set_route_state(std::uint8_t b) noexcept override { bits = b & 15u; }
  void abort() noexcept override { aborted = true; }
  bool ended() const noexcept override { return aborted || ended_ == 1; }
  // Like the worker's, the stash keeps `padding` writable bytes after what it holds.
  bool stash(std::span<const std::uint8_t> b, std::size_t limit, std::size_t padding) noexcept override {
    if (held_ + b.size() > limit) return false;
    stash_.resize(held_ + b.size() + padding);
    std::memcpy(stash_.data() + held_, b.data(), b.size());
    held_ += b.size();
    return true;
  }
  std::span<std::uint8_t> stashed() noexcept override { return std::span<std::uint8_t>(stash_.data(), held_); }
  void unstash(std::size_t n) noexcept override {
    std::memmove(stash_.data(), stash_.data() + n, held_ - n);
    held_ -= n;
  }
  bool draining() const noexcept override { return false; }

  std::vector<Sent> sent;
  std::string written;
  std::uint16_t close_code = 0;
  std::string close_reason;
  int ended_ = 0;  // 1: closed after the response, 2: kept alive
  bool paused = false, fail_writes = false, aborted = false;
  std::uint64_t deadline_ms = 0;
  std::uint8_t bits = 0;
  std::vector<std::uint8_t> stash_;
  std::size_t held_ = 0;
};

std::span<std::uint8_t> bytes(std::string& s) {
  return std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(s.data()), s.size());
}

Config config_with_subprotocols() {
  Config cfg;
  cfg.subprotocols = {"chat", "superchat"};
  return cfg;
}

TEST(RouteTable, EchoAndWsComeFirstAndPathsResolvePerKind) {
  const auto table = route_table();
  ASSERT_GE(table.size(), 4u);
  EXPECT_EQ(table[kRouteEcho - 1].path, "/echo");
  EXPECT_EQ(table[kRouteWs - 1].path, "/ws");
  EXPECT_EQ(find_route("/echo", RouteKind::websocket), kRouteEcho - 1);
  EXPECT_EQ(find_route("/ws", RouteKind::websocket), kRouteWs - 1);
  EXPECT_GE(find_route("/", RouteKind::page), 0);
  EXPECT_GE(find_route("/index.html", RouteKind::page), 0);
  EXPECT_EQ(find_route("/", RouteKind::websocket), -1) << "the page is not an upgrade target";
  EXPECT_EQ(find_route("/echo/", RouteKind::websocket), -1) << "exact match: nothing to bypass";
  EXPECT_EQ(find_route("/ECHO", RouteKind::websocket), -1);
  for (const RouteSpec& row : table) EXPECT_NE(row.make, nullptr) << row.path;
}

TEST(EchoRoute, SendsEveryMessageBackWithItsOpcodeAndOffersTheConfiguredProtocols) {
  Config cfg = config_with_subprotocols();
  WorkerMetrics metrics;
  auto route = make_echo_route(RouteContext{cfg, metrics, nullptr});
  ASSERT_EQ(route->subprotocols().size(), 2u);
  EXPECT_EQ(route->subprotocols()[0], "chat");
  EXPECT_EQ(route->refuse(ws::Opcode::binary), "") << "echo takes binary too";
  FakeIo io;
  std::string text = "hello", bin = std::string("\0\1\2", 3);
  route->on_message(io, ws::Opcode::text, bytes(text));
  route->on_message(io, ws::Opcode::binary, bytes(bin));
  ASSERT_EQ(io.sent.size(), 2u);
  EXPECT_EQ(io.sent[0].op, ws::Opcode::text);
  EXPECT_EQ(io.sent[0].payload, "hello");
  EXPECT_EQ(io.sent[1].op, ws::Opcode::binary);
  EXPECT_EQ(io.sent[1].payload, bin);
  EXPECT_EQ(io.close_code, 0);
}

TEST(DemoPageRoute, OneResponseWithTheWholePageThenClose) {
  Config cfg;
  WorkerMetrics metrics;
  auto route = make_demo_page_route(RouteContext{cfg, metrics, nullptr});
  FakeIo io;
  http::Request req;
  route->on_request(io, req);
  const std::string_view page = demo_page_html();
  ASSERT_GT(io.written.size(), page.size());
  EXPECT_TRUE(io.written.starts_with("HTTP/1.1 200 OK\r\n"));
  EXPECT_NE(io.written.find("Content-Length: " + std::to_string(page.size()) + "\r\n"), std::string::npos);
  EXPECT_NE(io.written.find("Cache-Control: no-cache\r\n"), std::string::npos);
  EXPECT_NE(io.written.find("Connection: close\r\n\r\n"), std::string::npos);
  EXPECT_TRUE(io.written.ends_with(page));
  EXPECT_EQ(io.ended_, 1) << "closed after the page";
}

TEST(DemoPageRoute, AFailedWriteEndsNothing) {
  Config cfg;
  WorkerMetrics metrics;
  auto route = make_demo_page_route(RouteContext{cfg, metrics, nullptr});
  FakeIo io;
  io.fail_writes = true;
  http::Request req;
  route->on_request(io, req);
  EXPECT_EQ(io.ended_, 0) << "the worker tore the connection down; nothing more to do";
}

// A node of one worker without a ring: the embedded broker answers at once, and the exchange's
// answers go to the route under test with the fake connection (as the worker's Delivery does).
struct Node final : pubsub::Delivery {
  explicit Node(Config c, pubsub::Hub* shared = nullptr, unsigned worker = 0)
      : cfg(std::move(c)), own(1), exchange(exchange_config(cfg, worker), shared ? *shared : own, *this, metrics, nullptr) {}
  static pubsub::ExchangeConfig exchange_config(const Config& cfg, unsigned worker) {
    pubsub::ExchangeConfig x;
    x.worker = worker;
    x.max_publish_bytes = cfg.max_publish_bytes;
    return x;
  }
  // begin_frame takes the frame's reference; end_frame gives it back (as the worker's LocalFrame does).
  bool begin_frame(pubsub::SharedFrame* f) noexcept override {
    frame = f;
    return true;
  }
  Append append(std::uint64_t, std::uint64_t) noexcept override { ++frames; return Append::queued; }
  bool replace(std::uint64_t) noexcept override { return false; }
  void end_frame() noexcept override { std::exchange(frame, nullptr)->release(); }
  void slow_close(std::uint64_t) noexcept override {}
  void want_drained(std::uint64_t) noexcept override {}
  bool open(std::uint64_t) noexcept override { return true; }
  bool gap(std::uint64_t, std::string_view) noexcept override { return true; }
  void subscribed(std::uint64_t, std::uint64_t id, std::uint64_t seq) noexcept override {
    route->answers()->subscribed(*io, id, seq);
  }
  void unsubscribed(std::uint64_t, std::uint64_t id) noexcept override { route->answers()->unsubscribed(*io, id); }
  void refused(std::uint64_t, std::uint64_t id, pubsub::ErrorCode c, std::string_view why) noexcept override {
    route->answers()->refused(*io, id, c, why);
  }
  void published(const PubAnswer& a) noexcept override { route->answers()->published(*io, a); }

  // Starts the exchange and makes the route under test on it; its answers go to `fake`.
  // nullptr: the exchange or the route could not start.
  std::unique_ptr<RouteHandler> start(std::unique_ptr<RouteHandler> (*make)(const RouteContext&), FakeIo& fake) {
    if (!exchange.start()) return nullptr;
    auto r = make(RouteContext{cfg, metrics, &exchange});
    route = r.get();
    io = &fake;
    return r;
  }

  Config cfg;
  WorkerMetrics metrics;
  pubsub::Hub own;
  pubsub::Exchange exchange;
  RouteHandler* route = nullptr;
  FakeIo* io = nullptr;
  int frames = 0;
  pubsub::SharedFrame* frame = nullptr;
};

void feed(RouteHandler& route, FakeIo& io, std::string text) {
  text.append(kMessagePadding, '\0');
  route.on_message(io, ws::Opcode::text, std::span<std::uint8_t>(bytes(text).data(), text.size() - kMessagePadding));
}

TEST(PubsubRoute, RequestsBecomeExchangeCallsAndAnswersJsonMessages) {
  Config cfg;
  cfg.client_publish = true;
  Node node(cfg);
  FakeIo io;
  auto route = node.start(make_pubsub_route, io);
  ASSERT_NE(route, nullptr);
  ASSERT_EQ(route->subprotocols().size(), 1u);
  EXPECT_EQ(route->subprotocols()[0], "ringgate.v1");
  EXPECT_EQ(route->refuse(ws::Opcode::binary), "binary frames are not supported");
  EXPECT_EQ(route->refuse(ws::Opcode::text), "");
  feed(*route, io, R"({"op":"ping","id":1})");
  feed(*route, io, R"({"op":"sub","id":2,"topic":"news"})");
  feed(*route, io, R"({"op":"pub","id":3,"topic":"news","data":"hi"})");
  feed(*route, io, R"({"op":"unsub","id":4,"topic":"news"})");
  feed(*route, io, R"({"op":"nope"})");
  ASSERT_EQ(io.sent.size(), 5u);
  for (const Sent& m : io.sent) EXPECT_EQ(m.op, ws::Opcode::text);
  EXPECT_NE(io.sent[0].payload.find(R"("id":1)"), std::string::npos) << io.sent[0].payload;
  EXPECT_NE(io.sent[1].payload.find(R"("id":2)"), std::string::npos) << io.sent[1].payload;
  EXPECT_NE(io.sent[2].payload.find(R"("seq":1)"), std::string::npos) << "the publish was numbered: " << io.sent[2].payload;
  EXPECT_NE(io.sent[3].payload.find(R"("id":4)"), std::string::npos) << io.sent[3].payload;
  EXPECT_NE(io.sent[4].payload.find(R"("op":"err")"), std::string::npos) << io.sent[4].payload;
  EXPECT_EQ(node.frames, 1) << "the subscriber got the published frame through the Delivery";
  route->on_oversize(io);
  EXPECT_NE(io.sent.back().payload.find("too_large"), std::string::npos) << io.sent.back().payload;
}

TEST(PubsubRoute, ClientPublishingIsRefusedUnlessEnabled) {
  Node node(Config{});
  FakeIo io;
  auto route = node.start(make_pubsub_route, io);
  ASSERT_NE(route, nullptr);
  feed(*route, io, R"({"op":"pub","id":7,"topic":"t","data":1})");
  ASSERT_EQ(io.sent.size(), 1u);
  EXPECT_NE(io.sent[0].payload.find("forbidden"), std::string::npos) << io.sent[0].payload;
}

std::string publish_request(std::string_view token, std::string_view body, bool close = false) {
  std::string r = "POST /publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ";
  r.append(token);
  r += "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  if (close) r += "Connection: close\r\n";
  r += "\r\n";
  r.append(body);
  return r;
}

TEST(ApiRoute, PublishesPipelinedRequestsInOrderAndClosesWhenAsked) {
  Config cfg;
  cfg.api_token = "secret";
  Node node(cfg);
  FakeIo io;
  auto route = node.start(make_api_route, io);
  ASSERT_NE(route, nullptr);
  std::string two = publish_request("secret", R"({"topic":"a","data":1})") +
                    publish_request("secret", R"({"topic":"a","data":2})", true);
  route->on_bytes(io, bytes(two));
  EXPECT_EQ(io.written.find("HTTP/1.1 200 OK\r\n"), 0u) << io.written;
  EXPECT_NE(io.written.find(R"({"delivered":0,"seq":1})"), std::string::npos) << io.written;
  EXPECT_NE(io.written.find(R"({"delivered":0,"seq":2})"), std::string::npos) << "the pipelined one too: " << io.written;
  EXPECT_EQ(io.ended_, 1) << "Connection: close on the second";
  EXPECT_TRUE(io.stashed().empty());
}

TEST(ApiRoute, RefusesAWrongTokenWith401AndEndsTheConnection) {
  Config cfg;
  cfg.api_token = "secret";
  Node node(cfg);
  FakeIo io;
  auto route = node.start(make_api_route, io);
  ASSERT_NE(route, nullptr);
  std::string req = publish_request("wrong", R"({"topic":"a","data":1})");
  route->on_bytes(io, bytes(req));
  EXPECT_EQ(io.written.find("HTTP/1.1 401 Unauthorized\r\n"), 0u) << io.written;
  EXPECT_NE(io.written.find("WWW-Authenticate: Bearer\r\n"), std::string::npos);
  EXPECT_EQ(io.ended_, 1);
  std::string more = publish_request("secret", "{}");
  const std::size_t before = io.written.size();
  route->on_bytes(io, bytes(more));
  EXPECT_EQ(io.written.size(), before) << "after a final answer the rest is discarded";
}

TEST(ApiRoute, PausesReadingWhilePipelinedRequestsPileUpBehindAPublishInFlight) {
  Config cfg;
  cfg.api_token = "secret";
  pubsub::Hub hub(2);
  Node node(cfg, &hub, 0), owner(cfg, &hub, 1);
  ASSERT_TRUE(owner.exchange.start());
  FakeIo io;
  auto route = node.start(make_api_route, io);
  ASSERT_NE(route, nullptr);
  std::string topic = "t";
  for (int i = 0; pubsub::topic_owner(topic, 2) != 1; ++i) topic = "t" + std::to_string(i);
  const std::string one = publish_request("secret", R"({"topic":")" + topic + R"(","data":1})");
  route->on_bytes(io, bytes(const_cast<std::string&>(one)));  // in flight: its owner is the other worker
  EXPECT_TRUE(io.written.empty());
  std::string pile;
  while (pile.size() <= cfg.max_head_bytes + cfg.max_publish_bytes + 1024) pile += one;
  route->on_bytes(io, bytes(pile));
  EXPECT_TRUE(io.paused) << "requests waiting beyond the limit pause reading";
  EXPECT_FALSE(io.ended());
  // The owner answers; every waiting request is then published in turn (each answered through the
  // mailboxes), and reading resumes once the wait is below half the limit.
  const std::size_t requests = 1 + pile.size() / one.size();
  for (int round = 0; round < 5000 && (!io.stashed().empty() || (io.bits & 1u)); ++round) {
    owner.exchange.pump(true);
    node.exchange.pump(true);
  }
  EXPECT_FALSE(io.paused);
  EXPECT_TRUE(io.stashed().empty()) << io.stashed().size() << " bytes left; answers: " << io.written.size()
                                    << " bytes, bits " << int(io.bits);
  EXPECT_EQ(io.written.find("HTTP/1.1 200 OK\r\n"), 0u) << io.written.substr(0, 200);
  std::size_t answers = 0;
  for (std::size_t at = 0; (at = io.written.find("HTTP/1.1 200 OK", at)) != std::string::npos; ++at) ++answers;
  EXPECT_EQ(answers, requests) << "every request answered once, in order";
}

http::Reject refuse_all(const void* state, const UpgradeRequest&) noexcept {
  ++*static_cast<int*>(const_cast<void*>(state));
  return http::Reject::not_found;
}
http::Reject allow_all(const void* state, const UpgradeRequest&) noexcept {
  ++*static_cast<int*>(const_cast<void*>(state));
  return http::Reject::none;
}

TEST(UpgradePolicy, ChecksRunInOrderAndTheFirstRefusalWins) {
  EXPECT_TRUE(upgrade_policy(Config{}).empty()) << "no check is configured by default";
  int a = 0, b = 0, c = 0;
  const UpgradeCheck policy[] = {{"a", allow_all, &a}, {"b", refuse_all, &b}, {"c", refuse_all, &c}};
  http::Request req;
  http::Upgrade up;
  const UpgradeRequest r{req, up, route_table()[0]};
  EXPECT_EQ(check_upgrade(policy, r), http::Reject::not_found);
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 1);
  EXPECT_EQ(c, 0) << "later checks do not run after a refusal";
  EXPECT_EQ(check_upgrade(std::span<const UpgradeCheck>(policy, 1), r), http::Reject::none);
}

std::string queued(OutQueue& q) {
  iovec iov[64];
  const std::size_t n = q.fill_iov(iov, 64);
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s.append(static_cast<char*>(iov[i].iov_base), iov[i].iov_len);
  return s;
}

TEST(MessageWriter, LargeAssembledMessagesAreQueuedInPlaceSmallOnesCopied) {
  ChunkPool pool;
  for (std::size_t len : {std::size_t(100), std::size_t(kCopyMessageBytes + 1)}) {
    OutQueue q;
    Chunk* in = pool.get(kHeadroom + len + kMessagePadding);
    ASSERT_NE(in, nullptr);
    in->begin = in->end = kHeadroom;
    std::memset(in->data + kHeadroom, 'x', len);
    in->end += std::uint32_t(len);
    Chunk* assembled = in;
    ASSERT_TRUE(write_message(q, pool, ws::Opcode::binary, std::span<const std::uint8_t>(in->data + kHeadroom, len),
                              assembled));
    const bool in_place = len > kCopyMessageBytes;
    EXPECT_EQ(assembled == nullptr, in_place) << len;
    EXPECT_EQ(q.head() == in, in_place) << len;
    std::uint8_t header[ws::kMaxHeaderBytes];
    const std::size_t h = ws::write_header(header, ws::Opcode::binary, true, len);
    EXPECT_EQ(queued(q), std::string(reinterpret_cast<char*>(header), h) + std::string(len, 'x'));
    if (assembled != nullptr) pool.put(assembled);
    q.clear(pool);
  }
}

TEST(MessageWriter, ControlFramesJumpQueuedDataAndCloseFollowsIt) {
  ChunkPool pool;
  OutQueue q;
  Chunk* none = nullptr;
  const std::uint8_t data[3] = {'a', 'b', 'c'};
  ASSERT_TRUE(write_message(q, pool, ws::Opcode::text, data, none));
  ASSERT_TRUE(write_message(q, pool, ws::Opcode::ping, {}, none));
  ASSERT_TRUE(write_close(q, pool, 1000, "bye"));
  const std::string out = queued(q);
  ASSERT_GE(out.size(), 2u);
  EXPECT_EQ(std::uint8_t(out[0]), 0x89) << "the ping goes first";
  EXPECT_EQ(std::uint8_t(out[2]), 0x81) << "then the data";
  EXPECT_EQ(std::uint8_t(out[7]), 0x88) << "then the close, in order";
  const std::uint8_t big[ws::kMaxControlPayload + 1] = {};
  EXPECT_FALSE(write_message(q, pool, ws::Opcode::pong, big, none)) << "a control payload over 125 bytes is refused";
  q.clear(pool);
}

TEST(ResponseHead, OneWriterForEveryResponse) {
  char buf[512];
  std::size_t n = http::write_response_head(http::ResponseHead{200, "application/json", 12, true, "X-A: 1\r\n"}, buf,
                                            sizeof buf);
  EXPECT_EQ(std::string_view(buf, n),
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\nX-A: 1\r\n\r\n");
  n = http::write_response_head(http::ResponseHead{301, {}, 0, false, "Location: https://h/p\r\n"}, buf, sizeof buf);
  EXPECT_EQ(std::string_view(buf, n),
            "HTTP/1.1 301 Moved Permanently\r\nContent-Length: 0\r\nLocation: https://h/p\r\nConnection: close\r\n\r\n");
  for (std::string_view bad : {"X: 1", "X: 1\n", "X: 1\r\n\r\n", "\r\nX: 1\r\n", "X: \r1\r\n", "X: \0011\r\n"}) {
    EXPECT_EQ(http::write_response_head(http::ResponseHead{200, "text/plain", 0, false, bad}, buf, sizeof buf), 0u)
        << "extra lines that could end the head early are refused";
  }
  EXPECT_EQ(http::write_response_head(http::ResponseHead{204, {}, 5}, buf, sizeof buf), 0u) << "204 has no content";
}

}  // namespace
}  // namespace ringgate::gateway
