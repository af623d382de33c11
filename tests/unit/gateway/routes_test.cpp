// The routes against a recording ConnIo (no worker, no ring), the route table, the upgrade policy
// step and the one frame writer.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
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
  void end_response(bool keep_alive) noexcept override { ended = keep_alive ? 2 : 1; }
  void pause_reading() noexcept override { paused = true; }
  void resume_reading() noexcept override { paused = false; }
  void arm_deadline(std::uint64_t ms) noexcept override { deadline_ms = ms; }
  std::uint64_t token() const noexcept override { return 0x100000007ull; }
  std::uint64_t held_bytes() const noexcept override { return 0; }
  std::uint8_t& route_bits() noexcept override { return bits; }
  bool stash(std::span<const std::uint8_t> b, std::size_t limit, std::size_t) noexcept override {
    if (stash_.size() + b.size() > limit) return false;
    stash_.insert(stash_.end(), b.begin(), b.end());
    return true;
  }
  std::span<std::uint8_t> stashed() noexcept override { return stash_; }
  void unstash(std::size_t n) noexcept override { stash_.erase(stash_.begin(), stash_.begin() + std::ptrdiff_t(n)); }
  bool draining() const noexcept override { return false; }

  std::vector<Sent> sent;
  std::string written;
  std::uint16_t close_code = 0;
  std::string close_reason;
  int ended = 0;
  bool paused = false, fail_writes = false;
  std::uint64_t deadline_ms = 0;
  std::uint8_t bits = 0;
  std::vector<std::uint8_t> stash_;
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
  EXPECT_EQ(io.ended, 1) << "closed after the page";
}

TEST(DemoPageRoute, AFailedWriteEndsNothing) {
  Config cfg;
  WorkerMetrics metrics;
  auto route = make_demo_page_route(RouteContext{cfg, metrics, nullptr});
  FakeIo io;
  io.fail_writes = true;
  http::Request req;
  route->on_request(io, req);
  EXPECT_EQ(io.ended, 0) << "the worker tore the connection down; nothing more to do";
}

TEST(PubsubRoute, SpeaksTheJsonProtocolSubprotocol) {
  Config cfg;
  WorkerMetrics metrics;
  auto route = make_pubsub_route(RouteContext{cfg, metrics, nullptr});
  ASSERT_EQ(route->subprotocols().size(), 1u);
  EXPECT_EQ(route->subprotocols()[0], "ringgate.v1");
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
