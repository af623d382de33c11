// Per-reason metadata for refused upgrades: metric label, status code and the one-line body text.
// One table indexed by the enum, so adding a reason is one row and a static_assert keeps the count.
#include <array>

#include "ringgate/http/request.hpp"

namespace ringgate::http {
namespace {

struct RejectInfo {
  std::string_view name;
  int status;
  std::string_view reason;
};

constexpr std::array<RejectInfo, kRejectCount> kRejects{{
    {"none", 0, ""},
    {"method_not_allowed", 405, "WebSocket upgrade needs GET"},
    {"missing_upgrade", 426, "missing 'Upgrade: websocket' header"},
    {"missing_connection_upgrade", 426, "'Connection' header lacks the 'upgrade' token"},
    {"bad_version", 426, "unsupported Sec-WebSocket-Version (this server speaks 13)"},
    {"bad_key", 400, "Sec-WebSocket-Key missing or not 16 bytes of base64"},
    {"http2_preface", 400, "HTTP/2 connection preface on an HTTP/1.1 port: WebSocket needs HTTP/1.1 here"},
    {"head_too_large", 431, "request head larger than the limit"},
    {"not_found", 404, "no WebSocket route at this path"},
    {"malformed", 400, "malformed HTTP request"},
    // 400, not 505: 505 refuses a major version (RFC 9110 15.6.6) and 1.0 shares ours; the
    // reason names the one nginx line that is nearly always the cause.
    {"http_1_0", 400,
     "WebSocket needs HTTP/1.1, this request is HTTP/1.0 (behind nginx: proxy_http_version 1.1; "
     "proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\";)"},
    {"plain_http_on_tls", 400, "The plain HTTP request was sent to a TLS port: use https:// or wss://"},
}};
static_assert(std::size_t(Reject::plain_http_on_tls) + 1 == kRejectCount);

constexpr RejectInfo kUnknown{"unknown", 400, "malformed HTTP request"};

constexpr const RejectInfo& info(Reject r) noexcept {
  const auto i = std::size_t(r);
  return i < kRejects.size() ? kRejects[i] : kUnknown;
}

}  // namespace

std::string_view reject_name(Reject r) noexcept { return info(r).name; }
int reject_status(Reject r) noexcept { return info(r).status; }
std::string_view reject_reason(Reject r) noexcept { return info(r).reason; }

}  // namespace ringgate::http
