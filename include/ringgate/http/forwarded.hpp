// The client address a chain of trusted proxies reports in X-Forwarded-For, and a helper that
// joins the lines of a repeated field for logs. Sans-IO, no allocation (except the caller's
// string in append_field_lines).
//
// X-Forwarded-For may come as several field lines: HAProxy's `option forwardfor` appends a line of
// its own instead of extending the client's, so "X-Forwarded-For: 6.6.6.6" from the client stays
// first. The lines form one list in order (RFC 9110 5.3), each hop appending on the right, so only
// the right end is believable: forwarded_client walks it from the last element of the last line
// leftwards, skipping addresses inside `trusted` (our own proxies), and returns the first one that
// is not trusted: the address the outermost trusted proxy saw. This is nginx's
// `real_ip_header X-Forwarded-For; real_ip_recursive on;` with `set_real_ip_from` = trusted.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "ringgate/http/proxy_protocol.hpp"
#include "ringgate/http/request.hpp"

namespace ringgate::http {

// Call only when the direct peer is itself in `trusted` (otherwise the header is the client's
// word). Elements are IPv4 or IPv6 literals, optionally "1.2.3.4:port", "[v6]" or "[v6]:port"
// (some balancers add the port); the view returned is the address alone, inside the request's
// bytes. Empty list elements are skipped. Returns:
//   - the rightmost element that is not in `trusted`;
//   - the leftmost element when every element is trusted (the request began inside our network);
//   - "" when there is no X-Forwarded-For element, or when the walk meets an element that is not
//     an address ("unknown", "_hidden", junk) before an untrusted one: beyond it nothing can be
//     believed, and garbage must not be logged as an address. The caller then keeps the peer.
std::string_view forwarded_client(const Request& req, const CidrSet& trusted) noexcept;

// Appends the values of every field line named `name` to `out`, joined by ", " (the one list they
// form), for logs. Returns how many lines there were. The values are raw request bytes: escape
// them before logging.
std::size_t append_field_lines(const Request& req, std::string_view name, std::string& out) noexcept;

}  // namespace ringgate::http
