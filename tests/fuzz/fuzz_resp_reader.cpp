// libFuzzer target for RespReader (hiredis's redisReader plus our classification and limits). The
// input is a Redis -> client byte stream. Checked:
//  - nothing hostile gets through to hiredis: negative, wrapping or huge array counts are refused
//    before it allocates or writes through a NULL element table (ASan would report it);
//  - split invariance: fed whole or in pieces cut where the input's own bytes say, the same events
//    and the same final verdict (0 or -1); -1 is sticky and reset() recovers;
//  - every event re-encoded in RESP (message/smessage through resp_append, subscribe counts, pong in
//    both shapes, integers, status, errors) parses back to the same event;
//  - resp_append_publish writes what resp_append writes for the joined payload;
//  - message payloads through decode_envelope and DataNormalizer give DOM-valid JSON.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "ringgate/pubsub/envelope.hpp"
#include "ringgate/pubsub/resp.hpp"

#include "fuzz_check.hpp"

namespace {

using namespace ringgate::pubsub;

struct Ev {
  RespKind kind;
  bool sharded;
  std::string channel, text;
  long long integer;
  bool operator==(const Ev&) const = default;
};

Ev copy(const RespEvent& ev) {
  return {ev.kind, ev.sharded, std::string(ev.channel), std::string(ev.text), ev.integer};
}

int run(RespReader& r, std::string_view bytes, const std::vector<std::size_t>& cuts, std::vector<Ev>& out) {
  r.reset();
  std::size_t at = 0;
  int rc = 0;
  for (std::size_t i = 0; i <= cuts.size() && rc == 0; ++i) {
    const std::size_t end = i < cuts.size() ? cuts[i] : bytes.size();
    FUZZ_CHECK(r.feed(bytes.data() + at, end - at));
    at = end;
    RespEvent ev;
    while ((rc = r.next(ev)) == 1) out.push_back(copy(ev));
    FUZZ_CHECK(rc == 0 || rc == -1);
  }
  if (rc == -1) {
    RespEvent ev;
    FUZZ_CHECK(r.next(ev) == -1);
    FUZZ_CHECK(!r.feed(":1\r\n", 4));
  }
  return rc;
}

std::string bulk(std::string_view s) { return "$" + std::to_string(s.size()) + "\r\n" + std::string(s) + "\r\n"; }

// The RESP bytes of an event of each kind we classify (other: nothing to rebuild).
std::string encode(const Ev& e) {
  switch (e.kind) {
    case RespKind::message: {
      std::string out;
      FUZZ_CHECK(resp_append(out, {e.sharded ? "smessage" : "message", e.channel, e.text}));
      return out;
    }
    case RespKind::subscribed:
    case RespKind::unsubscribed: {
      const char* kind = e.kind == RespKind::subscribed ? (e.sharded ? "ssubscribe" : "subscribe")
                                                        : (e.sharded ? "sunsubscribe" : "unsubscribe");
      return "*3\r\n" + bulk(kind) + bulk(e.channel) + ":" + std::to_string(e.integer) + "\r\n";
    }
    case RespKind::pong:
      return e.text == "PONG" ? "+PONG\r\n" : "*2\r\n" + bulk("pong") + bulk(e.text);
    case RespKind::integer:
      return ":" + std::to_string(e.integer) + "\r\n";
    case RespKind::status:
      return "+" + e.text + "\r\n";
    case RespKind::error:
      return "-" + e.text + "\r\n";
    case RespKind::other:
      return {};
  }
  return {};
}

void check_round_trip(RespReader& r, const Ev& e) {
  const std::string wire = encode(e);
  if (wire.empty()) return;
  r.reset();
  FUZZ_CHECK(r.feed(wire.data(), wire.size()));
  RespEvent ev;
  FUZZ_CHECK(r.next(ev) == 1);
  FUZZ_CHECK(copy(ev) == e);  // a status/error text never holds CRLF: it ended its line
  FUZZ_CHECK(r.next(ev) == 0);
}

void check_message_data(DataNormalizer& norm, simdjson::dom::parser& dom, std::string_view body) {
  const Envelope env = decode_envelope(body);
  std::string_view out;
  FUZZ_CHECK(norm.to_data(env.payload, out));
  simdjson::dom::element e;
  const auto err = dom.parse(out.data(), out.size(), true).get(e);
  FUZZ_CHECK(!err || err == simdjson::NUMBER_ERROR || err == simdjson::NUMBER_OUT_OF_RANGE);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static RespReader whole_reader, split_reader, echo_reader;
  static DataNormalizer norm(1 << 16);
  static simdjson::dom::parser dom;
  FUZZ_CHECK(whole_reader.ok() && split_reader.ok() && echo_reader.ok() && norm.ok());
  if (size > 65536) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);

  std::vector<Ev> whole;
  const int whole_rc = run(whole_reader, bytes, {}, whole);
  std::vector<std::size_t> cuts;
  const std::size_t stride = size ? 1 + data[0] % 5 : 1;
  for (std::size_t i = 1; i < size; ++i) {
    if ((data[i] & 7) == 0 || i % stride == 0) cuts.push_back(i);
  }
  std::vector<Ev> split;
  const int split_rc = run(split_reader, bytes, cuts, split);
  FUZZ_CHECK(split_rc == whole_rc);
  FUZZ_CHECK(split == whole);

  for (const Ev& e : whole) {
    check_round_trip(echo_reader, e);
    if (e.kind == RespKind::message) {
      check_message_data(norm, dom, e.text);
      std::string pieces, joined;
      const std::size_t half = e.text.size() / 2;
      FUZZ_CHECK(resp_append_publish(pieces, e.sharded, e.channel, std::string_view(e.text).substr(0, half),
                                     std::string_view(e.text).substr(half)));
      FUZZ_CHECK(resp_append(joined, {e.sharded ? "SPUBLISH" : "PUBLISH", e.channel, e.text}));
      FUZZ_CHECK(pieces == joined);
    }
  }
  return 0;
}
