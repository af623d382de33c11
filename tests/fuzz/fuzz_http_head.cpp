// libFuzzer target for the request-head parser and everything downstream of it. The input is
// delivered as growing prefixes (chunk sizes derived from the input, like a socket handing over
// pieces); each prefix is copied into an exact-size heap block so ASan sees any read past the
// bytes received. Invariants checked:
//   - need_more only while the bytes fit the head limit; done/error are final: every longer prefix
//     gives the same status, head_bytes and reject (the parser is stateless and monotonic);
//   - done: 0 < head_bytes <= min(size, limit), all views inside the head, values OWS-trimmed;
//   - validate_upgrade / writers / list helpers never overrun and keep their output contracts;
//   - forwarded_client returns "" or an address literal inside the head; looks_like_plain_http
//     decides on the first 4 bytes (a longer prefix never changes a 4-byte answer).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

#include <string>

#include "ringgate/http/forwarded.hpp"
#include "ringgate/http/request.hpp"
#include "ringgate/http/upgrade.hpp"

#include "fuzz_check.hpp"

namespace {

using namespace ringgate::http;

bool inside(std::string_view v, const char* begin, std::size_t n) {
  return v.empty() || (v.data() >= begin && v.data() + v.size() <= begin + n);
}

bool route(void* ctx, std::string_view path) noexcept {
  ++*static_cast<int*>(ctx);
  return path == "/" || path.starts_with("/c") || path == "/echo";
}

struct ExtCtx {
  std::string_view header;
  int calls = 0;
};

void on_extension(void* ctx, const ExtensionOffer& offer) noexcept {
  auto* c = static_cast<ExtCtx*>(ctx);
  ++c->calls;
  FUZZ_CHECK(!offer.name.empty());
  FUZZ_CHECK(inside(offer.name, c->header.data(), c->header.size()));
  FUZZ_CHECK(inside(offer.params, c->header.data(), c->header.size()));
}

void check_reject_response(Reject r, std::size_t small_cap) {
  char out[1024];
  const std::size_t n = write_reject(r, out, sizeof out);
  if (r == Reject::http2_preface) {  // HTTP/2 frames: SETTINGS + RST_STREAM
    FUZZ_CHECK(n == 22 && std::string_view(out, 4) == std::string_view("\0\0\0\x04", 4));
    FUZZ_CHECK(write_reject(r, out, small_cap) == 0 || small_cap >= 22);
    return;
  }
  FUZZ_CHECK(n > 0 && n <= sizeof out);
  FUZZ_CHECK(std::string_view(out, n).starts_with("HTTP/1.1 "));
  const std::string_view reason = reject_reason(r);
  FUZZ_CHECK(out[n - 1] == '\n' && std::string_view(out, n - 1).ends_with(reason));
  char small[1024];
  const std::size_t m = write_reject(r, small, small_cap);
  FUZZ_CHECK(m == 0 || (m == n && m <= small_cap));
}

// Runs the list helpers on every header value: validation only reaches them for valid upgrades.
void exercise_lists(const Request& req) {
  static constexpr std::string_view kSupported[] = {"chat", "superchat", "mqtt"};
  for (std::size_t i = 0; i < req.header_count; ++i) {
    const std::string_view v = req.headers[i].value;
    (void)has_token(v, "upgrade");
    const std::string_view p = select_subprotocol(v, kSupported, 3);
    FUZZ_CHECK(p.empty() || p == "chat" || p == "superchat" || p == "mqtt");
    ExtCtx ctx{v};
    const bool ok = parse_extensions(v, on_extension, &ctx);
    FUZZ_CHECK(ok || ctx.calls == 0);
  }
}

// The helpers that walk every line of a repeated field. `head` is the parsed head's bytes.
void exercise_repeated(const Request& req, std::string_view head) {
  static constexpr std::string_view kSupported[] = {"chat", "superchat", "mqtt"};
  const std::string_view p = select_subprotocol(req, kSupported, 3);
  FUZZ_CHECK(p.empty() || p == "chat" || p == "superchat" || p == "mqtt");
  ExtCtx ctx{head};
  const bool ok = parse_extensions(req, on_extension, &ctx);
  FUZZ_CHECK(ok || ctx.calls == 0);
  (void)has_token(req, "Connection", "close");
  static const CidrSet trusted = [] {
    CidrSet set;
    std::string_view bad;
    (void)set.parse("10.0.0.0/8,::1,2001:db8::/32", bad);
    return set;
  }();
  const std::string_view client = forwarded_client(req, trusted);
  sockaddr_storage ss;
  FUZZ_CHECK(client.empty() || (inside(client, head.data(), head.size()) && parse_ip_address(client, ss)));
  std::string joined;
  const std::size_t lines = append_field_lines(req, "X-Forwarded-For", joined);
  FUZZ_CHECK(lines == req.header_count_of("X-Forwarded-For") && joined.size() <= head.size() + 2 * lines);
}

void check_done(const Request& req, const char* buf, const ParseResult& r, std::size_t small_cap) {
  const std::size_t head = r.head_bytes;
  FUZZ_CHECK(req.header_count <= kMaxHeaders);
  FUZZ_CHECK(!req.method.empty() && !req.target.empty());
  FUZZ_CHECK(inside(req.method, buf, head) && inside(req.target, buf, head));
  for (std::size_t i = 0; i < req.header_count; ++i) {
    const Header& h = req.headers[i];
    FUZZ_CHECK(!h.name.empty() && inside(h.name, buf, head) && inside(h.value, buf, head));
    FUZZ_CHECK(h.value.empty() || (h.value.front() != ' ' && h.value.front() != '\t' &&
                                   h.value.back() != ' ' && h.value.back() != '\t'));
    FUZZ_CHECK(h.value.find('\r') == std::string_view::npos && h.value.find('\n') == std::string_view::npos);
  }
  exercise_lists(req);
  exercise_repeated(req, std::string_view(buf, head));

  Upgrade up;
  int route_calls = 0;
  const Reject v = validate_upgrade(req, up, route, &route_calls);
  FUZZ_CHECK(std::size_t(v) < kRejectCount && v != Reject::http2_preface && v != Reject::head_too_large &&
             v != Reject::plain_http_on_tls);
  FUZZ_CHECK((v == Reject::http_1_0) == (req.version_major == 1 && req.version_minor == 0));
  FUZZ_CHECK(route_calls <= 1);
  if (v != Reject::none) {
    check_reject_response(v, small_cap);
    return;
  }
  FUZZ_CHECK(up.path == "/" || inside(up.path, buf, head));
  FUZZ_CHECK(!up.path.empty() && up.path.front() == '/');
  FUZZ_CHECK(up.key.size() == 24 && inside(up.key, buf, head));
  FUZZ_CHECK(inside(up.query, buf, head) && inside(up.host, buf, head) && inside(up.origin, buf, head));
  static constexpr std::string_view kSupported[] = {"chat", "superchat"};
  const std::string_view protocol = select_subprotocol(up.protocols, kSupported, 2);
  char out[256];
  const std::size_t n = write_switching_protocols("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", protocol, out, sizeof out);
  FUZZ_CHECK(n > 0 && std::string_view(out, n).starts_with("HTTP/1.1 101 ") &&
             std::string_view(out, n).ends_with("\r\n\r\n"));
  FUZZ_CHECK(write_switching_protocols("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", protocol, out, small_cap % n) == 0);
  ExtCtx ctx{up.extensions};
  (void)parse_extensions(up.extensions, on_extension, &ctx);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // Mostly the default limit; one input in eight gets a small one so 431 and the limit edge get hit.
  const std::size_t limit = (data[size - 1] & 7) == 0 ? 8 + data[0] % 512 : kDefaultHeadLimit;
  const std::size_t small_cap = data[size / 2] * 2u;

  bool decided = false;
  ParseResult first{};
  std::size_t fed = 0;
  for (std::size_t k = 0; fed < size; ++k) {
    fed = std::min(size, fed + 1 + data[(k * 31 + 7) % size] % 97);
    std::unique_ptr<char[]> buf(new char[fed]);
    std::memcpy(buf.get(), data, fed);
    static Request req;  // 2 KiB; static keeps the fuzzer's stack frames small
    const ParseResult r = parse_request_head(std::string_view(buf.get(), fed), req, limit);
    const bool plain = looks_like_plain_http(std::string_view(buf.get(), fed));
    if (fed >= 4) FUZZ_CHECK(plain == looks_like_plain_http(std::string_view(buf.get(), 4)));
    FUZZ_CHECK(!plain || (buf[0] >= 'A' && buf[0] <= 'Z'));
    if (r.reject == Reject::http2_preface) FUZZ_CHECK(plain);

    switch (r.status) {
      case ParseStatus::need_more:
        FUZZ_CHECK(r.reject == Reject::none && r.head_bytes == 0 && fed <= limit);
        break;
      case ParseStatus::done:
        FUZZ_CHECK(r.reject == Reject::none && r.head_bytes > 0 && r.head_bytes <= fed && r.head_bytes <= limit);
        break;
      case ParseStatus::error:
        FUZZ_CHECK(r.reject == Reject::malformed || r.reject == Reject::head_too_large ||
                   r.reject == Reject::http2_preface);
        break;
    }
    if (decided) {
      FUZZ_CHECK(r.status == first.status && r.head_bytes == first.head_bytes && r.reject == first.reject);
      continue;
    }
    if (r.status == ParseStatus::need_more) continue;
    decided = true;
    first = r;
    if (r.status == ParseStatus::done) {
      check_done(req, buf.get(), r, small_cap);
    } else {
      check_reject_response(r.reject, small_cap);
    }
  }
  return 0;
}
