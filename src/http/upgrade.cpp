// Upgrade validation and the list-valued header helpers (token lists, subprotocols, extensions).
// Everything works on views into the request bytes; nothing allocates or copies.
#include "ringgate/http/upgrade.hpp"

#include "http/text.hpp"

namespace ringgate::http {
namespace {

using detail::iequals;
using detail::is;
using detail::trim_ows;

// Calls fn(element) for each OWS-trimmed, non-empty element of a comma list; stops early (and
// returns true) when fn does.
template <class Fn>
bool any_element(std::string_view list, Fn&& fn) noexcept {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    const std::string_view element = trim_ows(list.substr(0, comma));
    if (!element.empty() && fn(element)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

// 16 bytes of base64 are 22 alphabet characters and "==". The 4 spare bits of the last character
// are not required to be zero (Go and most servers decode leniently; the key is hashed verbatim).
bool valid_key(std::string_view key) noexcept {
  if (key.size() != 24 || key[22] != '=' || key[23] != '=') return false;
  return detail::all_of(key.substr(0, 22), detail::kBase64);
}

bool is_ws_or_http_scheme(std::string_view scheme) noexcept {
  return iequals(scheme, "ws") || iequals(scheme, "wss") || iequals(scheme, "http") || iequals(scheme, "https");
}

// Splits origin-form "/p?q" or absolute-form "scheme://authority[/p][?q]" into out.path/query (and
// out.host for absolute-form). False for other forms ('*', authority-form) and for fragments.
bool split_target(std::string_view target, Upgrade& out) noexcept {
  if (target.find('#') != std::string_view::npos) return false;
  std::string_view rest = target;
  if (rest.empty() || rest.front() != '/') {
    const std::size_t sep = rest.find("://");
    if (sep == std::string_view::npos || !is_ws_or_http_scheme(rest.substr(0, sep))) return false;
    rest.remove_prefix(sep + 3);
    const std::size_t authority_end = rest.find_first_of("/?");
    const std::string_view authority = rest.substr(0, authority_end);
    if (authority.empty() || authority.find('@') != std::string_view::npos) return false;
    out.host = authority;
    rest.remove_prefix(authority.size());
  }
  const std::size_t q = rest.find('?');
  out.path = rest.substr(0, q);
  out.query = q == std::string_view::npos ? std::string_view{} : rest.substr(q + 1);
  if (out.path.empty()) out.path = "/";
  return true;
}

// The fields validation looks at, gathered in one pass over the headers (instead of one lookup
// per name): counts for the fields that must not repeat, first values, and the token verdicts.
struct Fields {
  std::size_t host = 0, origin = 0, transfer_encoding = 0, content_length = 0, version = 0, key = 0;
  std::string_view host_value, origin_value, content_length_value, version_value, key_value;
  std::string_view protocols, extensions;
  bool upgrade_websocket = false, connection_upgrade = false;

  void take(const Header& h) noexcept {
    const std::string_view n = h.name;
    const auto first = [&](std::size_t& count, std::string_view& value) {
      if (count++ == 0) value = h.value;
    };
    if (iequals(n, "Host")) first(host, host_value);
    else if (iequals(n, "Origin")) first(origin, origin_value);
    else if (iequals(n, "Upgrade")) upgrade_websocket = upgrade_websocket || has_token(h.value, "websocket");
    else if (iequals(n, "Connection")) connection_upgrade = connection_upgrade || has_token(h.value, "upgrade");
    else if (n.size() > 14 && iequals(n.substr(0, 14), "Sec-WebSocket-")) take_sec_websocket(n.substr(14), h.value);
    else if (iequals(n, "Content-Length")) first(content_length, content_length_value);
    else if (iequals(n, "Transfer-Encoding")) ++transfer_encoding;
  }

  void take_sec_websocket(std::string_view suffix, std::string_view value) noexcept {
    if (iequals(suffix, "Key")) {
      if (key++ == 0) key_value = value;
    } else if (iequals(suffix, "Version")) {
      if (version++ == 0) version_value = value;
    } else if (iequals(suffix, "Protocol")) {
      if (protocols.empty()) protocols = value;
    } else if (iequals(suffix, "Extensions")) {
      if (extensions.empty()) extensions = value;
    }
  }

  // Steps 1-3 of the order in upgrade.hpp (HTTP/1.0 is sorted out before): what makes the request
  // unusable as HTTP/1.1.
  bool well_formed(const Request& req) const noexcept {
    if (req.version_major != 1 || req.version_minor < 1) return false;
    if (host != 1 || origin > 1 || transfer_encoding != 0) return false;
    return content_length == 0 || (content_length == 1 && content_length_value == "0");
  }
};

// A cursor over an extension header, one grammar rule per method.
struct Scanner {
  std::string_view s;
  std::size_t pos = 0;

  bool at_end() const noexcept { return pos >= s.size(); }
  bool peek(char c) const noexcept { return pos < s.size() && s[pos] == c; }
  void skip_ows() noexcept {
    while (pos < s.size() && detail::is_ows(s[pos])) ++pos;
  }
  std::string_view token() noexcept {
    const std::size_t begin = pos;
    while (pos < s.size() && is(s[pos], detail::kTchar)) ++pos;
    return s.substr(begin, pos - begin);
  }
  // quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE; pos is at the opening quote.
  bool quoted_string() noexcept {
    for (++pos; pos < s.size(); ++pos) {
      const char c = s[pos];
      if (c == '"') {
        ++pos;
        return true;
      }
      if (c == '\\' && ++pos == s.size()) return false;
      if (!is(s[pos], detail::kVchar)) return false;
    }
    return false;
  }
  // extension-param = token [ "=" ( token / quoted-string ) ], OWS allowed around '='.
  bool param() noexcept {
    skip_ows();
    if (token().empty()) return false;
    skip_ows();
    if (!peek('=')) return true;
    ++pos;
    skip_ows();
    if (peek('"')) return quoted_string();
    return !token().empty();
  }
};

// Walks the header; with fn == nullptr it only validates.
bool scan_extensions(std::string_view header, ExtensionFn fn, void* ctx) noexcept {
  Scanner sc{header};
  for (;;) {
    sc.skip_ows();
    if (sc.at_end()) return true;
    if (sc.peek(',')) {  // empty list element
      ++sc.pos;
      continue;
    }
    const std::string_view name = sc.token();
    if (name.empty()) return false;
    sc.skip_ows();
    std::size_t params_begin = sc.pos, params_end = sc.pos;
    if (sc.peek(';')) params_begin = sc.pos + 1;
    while (sc.peek(';')) {
      ++sc.pos;
      if (!sc.param()) return false;
      params_end = sc.pos;
      sc.skip_ows();
    }
    if (!sc.at_end() && !sc.peek(',')) return false;
    if (fn != nullptr) {
      const std::string_view params = trim_ows(header.substr(params_begin, params_end - params_begin));
      fn(ctx, ExtensionOffer{name, params});
    }
  }
}

}  // namespace

bool has_token(std::string_view list, std::string_view token) noexcept {
  return any_element(list, [token](std::string_view e) { return iequals(e, token); });
}

std::string_view select_subprotocol(std::string_view offered, const std::string_view* supported,
                                    std::size_t n) noexcept {
  std::string_view chosen;
  any_element(offered, [&](std::string_view e) {
    for (std::size_t i = 0; i < n; ++i) {
      if (e == supported[i]) {
        chosen = supported[i];
        return true;
      }
    }
    return false;
  });
  return chosen;
}

bool parse_extensions(std::string_view header, ExtensionFn fn, void* ctx) noexcept {
  if (!scan_extensions(header, nullptr, nullptr)) return false;
  if (fn != nullptr) scan_extensions(header, fn, ctx);
  return true;
}

bool has_token(const Request& req, std::string_view name, std::string_view token) noexcept {
  for (std::size_t i = req.next_header(name); i < req.header_count; i = req.next_header(name, i + 1))
    if (has_token(req.headers[i].value, token)) return true;
  return false;
}

std::string_view select_subprotocol(const Request& req, const std::string_view* supported,
                                    std::size_t n) noexcept {
  constexpr std::string_view kName = "Sec-WebSocket-Protocol";
  for (std::size_t i = req.next_header(kName); i < req.header_count; i = req.next_header(kName, i + 1)) {
    const std::string_view chosen = select_subprotocol(req.headers[i].value, supported, n);
    if (!chosen.empty()) return chosen;
  }
  return {};
}

bool parse_extensions(const Request& req, ExtensionFn fn, void* ctx) noexcept {
  constexpr std::string_view kName = "Sec-WebSocket-Extensions";
  for (std::size_t i = req.next_header(kName); i < req.header_count; i = req.next_header(kName, i + 1))
    if (!scan_extensions(req.headers[i].value, nullptr, nullptr)) return false;
  if (fn == nullptr) return true;
  for (std::size_t i = req.next_header(kName); i < req.header_count; i = req.next_header(kName, i + 1))
    scan_extensions(req.headers[i].value, fn, ctx);
  return true;
}

Reject validate_upgrade(const Request& req, Upgrade& out, RouteMatch match, void* match_ctx) noexcept {
  out = Upgrade{};
  Fields f;
  for (std::size_t i = 0; i < req.header_count; ++i) f.take(req.headers[i]);
  out.host = f.host_value;
  if (req.version_major == 1 && req.version_minor == 0) return Reject::http_1_0;
  if (!f.well_formed(req) || !split_target(req.target, out)) return Reject::malformed;
  if (req.method != "GET") return Reject::method_not_allowed;
  if (match != nullptr && !match(match_ctx, out.path)) return Reject::not_found;
  if (!f.upgrade_websocket) return Reject::missing_upgrade;
  if (!f.connection_upgrade) return Reject::missing_connection_upgrade;
  if (f.version != 1 || f.version_value != "13") return Reject::bad_version;
  if (f.key != 1 || !valid_key(f.key_value)) return Reject::bad_key;
  out.key = f.key_value;
  out.protocols = f.protocols;
  out.extensions = f.extensions;
  out.origin = f.origin_value;
  return Reject::none;
}

}  // namespace ringgate::http
