// Pure helpers of the worker (see worker.hpp): clock, cause names, the 101 response check.
#include <ctime>
#include <string_view>

#include "ringgate/ws/accept.hpp"
#include "worker.hpp"

namespace ringgate::load {

std::uint64_t now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::uint64_t(ts.tv_sec) * 1'000'000'000u + std::uint64_t(ts.tv_nsec);
}

const char* cause_name(Cause c) noexcept {
  static const char* names[kCauses] = {"socket_setup",     "addr_not_available", "refused",
                                       "connect_timeout",  "connect_error",      "handshake_status",
                                       "handshake_accept", "handshake_malformed", "closed_early",
                                       "protocol_error",   "payload_mismatch",   "send_error",
                                       "close_timeout",    "tls_handshake",      "tls_error"};
  return names[int(c)];
}

namespace {
bool iequals_prefix(std::string_view line, std::string_view name) noexcept {
  if (line.size() < name.size()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char a = line[i], b = name[i];
    if (a >= 'A' && a <= 'Z') a = char(a + 32);
    if (b >= 'A' && b <= 'Z') b = char(b + 32);
    if (a != b) return false;
  }
  return true;
}
}  // namespace

// Checks a complete response head; returns -1 when fine, else the Cause.
int check_handshake(std::string_view head, std::string_view key) noexcept {
  if (head.substr(0, 9) != "HTTP/1.1 " || head.size() < 12) return int(Cause::handshake_malformed);
  if (head.substr(9, 3) != "101") return int(Cause::handshake_status);
  auto expect = ws::accept_key(key);
  std::string_view want(expect.data(), expect.size());
  std::size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    std::size_t end = head.find("\r\n", pos + 2);
    if (end == std::string_view::npos) break;
    std::string_view line = head.substr(pos + 2, end - pos - 2);
    if (iequals_prefix(line, "sec-websocket-accept:")) {
      std::string_view v = line.substr(21);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
      return v == want ? -1 : int(Cause::handshake_accept);
    }
    pos = end;
  }
  return int(Cause::handshake_accept);
}

}  // namespace ringgate::load
