// libFuzzer target for the PROXY protocol parser and the CIDR set. The input is delivered as
// growing prefixes (chunk sizes derived from the input), each copied into an exact-size heap block
// so ASan sees any read past the bytes received. Invariants checked:
//   - need_more only below the size bounds; not_proxy only when the bytes diverge from both
//     signatures; a verdict other than need_more is final: every longer prefix gives the same
//     status and consumed count (the parser is stateless and monotonic);
//   - done: 0 < consumed <= fed, within the version's bound, views inside the header, families
//     AF_INET/AF_INET6 (same for both ends) or AF_UNSPEC exactly when local; failures leave
//     `out` empty;
//   - CidrSet::parse on the input as text either succeeds or names a bad entry inside the input,
//     and contains() on parsed addresses never misbehaves; a /0 set holds every address.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

#include "ringgate/http/proxy_protocol.hpp"

#include "fuzz_check.hpp"

namespace {

using namespace ringgate::http;

constexpr std::string_view kV1Sig = "PROXY ";
constexpr std::string_view kV2Sig{"\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A", 12};

bool agrees(std::string_view data, std::string_view sig) {
  const std::size_t n = std::min(data.size(), sig.size());
  return data.substr(0, n) == sig.substr(0, n);
}

bool inside(std::string_view v, const char* begin, std::size_t n) {
  return v.empty() || (v.data() >= begin && v.data() + v.size() <= begin + n);
}

bool is_empty(const ProxyHeader& h) {
  return h.version == 0 && !h.local && h.source.ss_family == AF_UNSPEC &&
         h.destination.ss_family == AF_UNSPEC && h.alpn.empty() && h.authority.empty() &&
         h.aws_vpce.empty();
}

void check_done(const ProxyHeader& h, const char* buf, std::size_t fed, const ProxyResult& r) {
  FUZZ_CHECK(r.consumed > 0 && r.consumed <= fed);
  const std::string_view data(buf, fed);
  if (h.version == 1) {
    FUZZ_CHECK(data.starts_with(kV1Sig) && r.consumed <= kMaxV1Bytes);
    FUZZ_CHECK(data.substr(0, r.consumed).ends_with("\r\n"));
    FUZZ_CHECK(h.alpn.empty() && h.authority.empty() && h.aws_vpce.empty());
  } else {
    FUZZ_CHECK(h.version == 2 && data.starts_with(kV2Sig));
    FUZZ_CHECK(r.consumed >= 16 && r.consumed <= kMaxV2Bytes);
  }
  FUZZ_CHECK(inside(h.alpn, buf, r.consumed) && inside(h.authority, buf, r.consumed) &&
             inside(h.aws_vpce, buf, r.consumed));
  const int sf = h.source.ss_family;
  const int df = h.destination.ss_family;
  if (h.local) {
    FUZZ_CHECK(sf == AF_UNSPEC && df == AF_UNSPEC);
  } else {
    FUZZ_CHECK((sf == AF_INET || sf == AF_INET6) && df == sf);
  }
}

void exercise_cidr(const std::uint8_t* data, std::size_t size, const ProxyHeader& h) {
  static CidrSet set;  // ~1.2 KiB; static keeps the fuzzer's stack small
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string_view bad = "x";
  if (set.parse(text, bad)) {
    FUZZ_CHECK(bad.empty());
  } else {
    FUZZ_CHECK(bad.empty() || inside(bad, text.data(), text.size()));
  }
  (void)set.contains(reinterpret_cast<const sockaddr*>(&h.source));
  (void)set.contains(reinterpret_cast<const sockaddr*>(&h.destination));

  static CidrSet all;
  static bool ready = false;
  if (!ready) {
    std::string_view b;
    FUZZ_CHECK(all.parse("0.0.0.0/0, ::/0", b));
    ready = true;
  }
  for (const sockaddr_storage* ss : {&h.source, &h.destination}) {
    const bool ip = ss->ss_family == AF_INET || ss->ss_family == AF_INET6;
    FUZZ_CHECK(all.contains(reinterpret_cast<const sockaddr*>(ss)) == ip);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  bool decided = false;
  ProxyResult first{};
  std::size_t fed = 0;
  for (std::size_t k = 0; fed < size; ++k) {
    fed = std::min(size, fed + 1 + data[(k * 31 + 7) % size] % 61);
    std::unique_ptr<char[]> buf(new char[fed]);
    std::memcpy(buf.get(), data, fed);
    const std::string_view view(buf.get(), fed);
    ProxyHeader h;
    h.version = 9;  // must be overwritten
    const ProxyResult r = parse_proxy_header(view, h);

    switch (r.status) {
      case ProxyStatus::need_more:
        FUZZ_CHECK(r.consumed == 0 && fed < kMaxV2Bytes);
        FUZZ_CHECK(agrees(view, kV1Sig) || agrees(view, kV2Sig));
        FUZZ_CHECK(!view.starts_with(kV1Sig) || fed < kMaxV1Bytes);
        break;
      case ProxyStatus::done:
        check_done(h, buf.get(), fed, r);
        break;
      case ProxyStatus::not_proxy:
        FUZZ_CHECK(!agrees(view, kV1Sig) && !agrees(view, kV2Sig));
        [[fallthrough]];
      case ProxyStatus::invalid:
      case ProxyStatus::too_large:
        FUZZ_CHECK(r.consumed == 0 && is_empty(h));
        break;
      default:
        FUZZ_CHECK(false);
    }
    FUZZ_CHECK(!proxy_status_name(r.status).empty());
    if (decided) {
      FUZZ_CHECK(r.status == first.status && r.consumed == first.consumed);
    } else if (r.status != ProxyStatus::need_more) {
      decided = true;
      first = r;
    }
    if (fed == size) exercise_cidr(data, size, h);
  }
  return 0;
}
