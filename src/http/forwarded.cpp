// X-Forwarded-For across repeated lines, read from the right; see forwarded.hpp for why.
#include "ringgate/http/forwarded.hpp"

#include <cstdint>

#include "http/text.hpp"

namespace ringgate::http {
namespace {

bool all_digits(std::string_view s) noexcept {
  if (s.empty() || s.size() > 5) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// The address part of an element ("a.b.c.d", "a.b.c.d:port", "v6", "[v6]", "[v6]:port"); "" when
// the shape is none of these. parse_ip_address then decides whether it is an address.
std::string_view address_part(std::string_view e) noexcept {
  if (e.front() == '[') {
    const std::size_t close = e.find(']');
    if (close == std::string_view::npos) return {};
    const std::string_view rest = e.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || !all_digits(rest.substr(1)))) return {};
    return e.substr(1, close - 1);
  }
  const std::size_t colon = e.find(':');
  if (colon != std::string_view::npos && e.find(':', colon + 1) == std::string_view::npos) {
    if (!all_digits(e.substr(colon + 1))) return {};  // one colon: IPv4 with a port
    return e.substr(0, colon);
  }
  return e;
}

enum class Step : std::uint8_t { trusted, untrusted, invalid };

Step classify(std::string_view address, const CidrSet& trusted) noexcept {
  sockaddr_storage ss{};
  if (address.empty() || !parse_ip_address(address, ss)) return Step::invalid;
  return trusted.contains(reinterpret_cast<const sockaddr*>(&ss)) ? Step::trusted : Step::untrusted;
}

}  // namespace

std::string_view forwarded_client(const Request& req, const CidrSet& trusted) noexcept {
  std::string_view leftmost_trusted;
  for (std::size_t i = req.header_count; i-- > 0;) {
    if (!detail::iequals(req.headers[i].name, "X-Forwarded-For")) continue;
    std::string_view list = req.headers[i].value;
    while (!list.empty()) {
      const std::size_t comma = list.rfind(',');
      const std::size_t begin = comma == std::string_view::npos ? 0 : comma + 1;
      const std::string_view element = detail::trim_ows(list.substr(begin));
      list = list.substr(0, comma == std::string_view::npos ? 0 : comma);
      if (element.empty()) continue;
      const std::string_view address = address_part(element);
      switch (classify(address, trusted)) {
        case Step::invalid: return {};
        case Step::untrusted: return address;
        case Step::trusted: leftmost_trusted = address; break;
      }
    }
  }
  return leftmost_trusted;
}

std::size_t append_field_lines(const Request& req, std::string_view name, std::string& out) noexcept {
  std::size_t lines = 0;
  for (std::size_t i = req.next_header(name); i < req.header_count; i = req.next_header(name, i + 1)) {
    if (lines++ != 0) out += ", ";
    out += req.headers[i].value;
  }
  return lines;
}

}  // namespace ringgate::http
