// libFuzzer target for the NATS parser, the broker envelope and DataNormalizer. The input is a
// server -> client byte stream. Checked:
//  - split invariance: feeding the stream whole, or in pieces cut where the input's own bytes
//    say, yields the same events and the same final verdict (0 or -1); a -1 stays -1;
//  - every msg event re-encoded as MSG (and HMSG with an empty header block, and a nats_pub with
//    its verb rewritten) parses back to the same subject, sid, reply and payload;
//  - events are well formed: subjects and replies non-empty without blanks or line ends, info
//    text trimmed, no CR/LF in any text;
//  - decode_envelope: a header counts as ours only when encode_envelope writes exactly those bytes
//    back; otherwise the payload is the whole body;
//  - DataNormalizer on the whole input and on every payload: the output is the payload itself only
//    when simdjson's DOM parser accepts it (depth <= kMaxDepth; numbers the DOM cannot represent,
//    like 1e400, skip that verdict), DOM-valid payloads always pass verbatim, and otherwise the
//    output is a JSON string the DOM decodes to the payload with each byte of invalid UTF-8 replaced
//    by U+FFFD (the reference: ws::validate_utf8_scalar on each candidate sequence).
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "ringgate/pubsub/codec.hpp"
#include "ringgate/pubsub/envelope.hpp"
#include "ringgate/pubsub/nats.hpp"
#include "ringgate/ws/utf8.hpp"

#include "fuzz_check.hpp"
#include "json_depth.hpp"

namespace {

using namespace ringgate::pubsub;

struct Ev {
  NatsKind kind;
  std::string subject, reply;
  std::uint64_t sid;
  std::string payload, text;
  bool operator==(const Ev&) const = default;
};

bool is_blank(char c) { return c == ' ' || c == '\t'; }

void check_event(const NatsEvent& ev) {
  if (ev.kind == NatsKind::msg) {
    FUZZ_CHECK(!ev.subject.empty());
    for (char c : ev.subject) FUZZ_CHECK(!is_blank(c) && c != '\r' && c != '\n');
    for (char c : ev.reply) FUZZ_CHECK(!is_blank(c) && c != '\r' && c != '\n');
  } else {
    FUZZ_CHECK(ev.subject.empty() && ev.reply.empty() && ev.payload.empty() && ev.sid == 0);
  }
  if (ev.kind == NatsKind::info && !ev.text.empty()) {
    FUZZ_CHECK(!is_blank(ev.text.front()) && !is_blank(ev.text.back()));
  }
  if (ev.kind != NatsKind::info && ev.kind != NatsKind::err) FUZZ_CHECK(ev.text.empty());
  for (char c : ev.text) FUZZ_CHECK(c != '\r' && c != '\n');
}

// Feeds `bytes` in pieces ending at `cuts` (then the rest), draining after each. Returns the final
// verdict: 0, or -1 once the parser refused the stream.
int run(NatsParser& p, std::string_view bytes, const std::vector<std::size_t>& cuts, std::vector<Ev>& out) {
  p.reset();
  std::size_t at = 0;
  int rc = 0;
  for (std::size_t i = 0; i <= cuts.size() && rc == 0; ++i) {
    const std::size_t end = i < cuts.size() ? cuts[i] : bytes.size();
    FUZZ_CHECK(p.feed(bytes.data() + at, end - at));
    at = end;
    NatsEvent ev;
    while ((rc = p.next(ev)) == 1) {
      check_event(ev);
      out.push_back({ev.kind, std::string(ev.subject), std::string(ev.reply), ev.sid, std::string(ev.payload),
                     std::string(ev.text)});
    }
    FUZZ_CHECK(rc == 0 || rc == -1);
  }
  if (rc == -1) {
    NatsEvent ev;
    FUZZ_CHECK(p.next(ev) == -1);  // sticky
  }
  return rc;
}

// The event parsed back from `wire` (exactly one msg).
void check_round_trip(std::string_view wire, const Ev& want, std::size_t max_payload) {
  NatsParser p(max_payload);
  FUZZ_CHECK(p.feed(wire.data(), wire.size()));
  NatsEvent ev;
  FUZZ_CHECK(p.next(ev) == 1);
  FUZZ_CHECK(ev.kind == NatsKind::msg && ev.subject == want.subject && ev.reply == want.reply &&
             ev.sid == want.sid && ev.payload == want.payload);
  FUZZ_CHECK(p.next(ev) == 0);
}

void round_trips(const Ev& e, std::size_t max_payload) {
  const std::string reply = e.reply.empty() ? "" : e.reply + " ";
  const std::string sid = std::to_string(e.sid);
  check_round_trip("MSG " + e.subject + " " + sid + " " + reply + std::to_string(e.payload.size()) + "\r\n" +
                       e.payload + "\r\n",
                   e, max_payload);
  const std::string hdr = "NATS/1.0\r\n\r\n";
  if (e.payload.size() + hdr.size() <= max_payload) {
    check_round_trip("HMSG " + e.subject + " " + sid + " " + reply + std::to_string(hdr.size()) + " " +
                         std::to_string(hdr.size() + e.payload.size()) + "\r\n" + hdr + e.payload + "\r\n",
                     e, max_payload);
  }
  if (e.reply.empty()) {
    std::string pub;
    const std::size_t half = e.payload.size() / 2;
    nats_pub(pub, e.subject, std::string_view(e.payload).substr(0, half), std::string_view(e.payload).substr(half));
    FUZZ_CHECK(pub.rfind("PUB ", 0) == 0);
    check_round_trip("MSG " + e.subject + " " + sid + pub.substr(4 + e.subject.size()), e, max_payload);
  }
}

// ---------------------------------------------------------------------------------------------
// Envelope and DataNormalizer

void check_envelope(std::string_view body) {
  const Envelope e = decode_envelope(body);
  if (!e.ours) {
    FUZZ_CHECK(e.payload.data() == body.data() && e.payload.size() == body.size());
    return;
  }
  char head[kEnvelopeMax];
  const std::size_t n = encode_envelope(head, sizeof head, e.node, e.ms, e.flags);
  FUZZ_CHECK(n > 0 && n <= body.size() && std::memcmp(head, body.data(), n) == 0);
  FUZZ_CHECK(e.payload.data() == body.data() + n && e.payload.size() == body.size() - n);
}


// The payload with every byte that does not start a valid UTF-8 sequence replaced by U+FFFD.
std::string replaced(std::string_view s) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(s.data());
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t len = 0;
    for (std::size_t l = 1; l <= 4 && i + l <= s.size() && len == 0; ++l) {
      if (ringgate::ws::validate_utf8_scalar(p + i, l)) len = l;
    }
    if (len) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

void check_normalizer(DataNormalizer& norm, simdjson::dom::parser& dom, std::string_view payload) {
  std::string_view out;
  FUZZ_CHECK(norm.to_data(payload, out));
  simdjson::dom::element e;
  const auto err = dom.parse(payload.data(), payload.size(), true).get(e);
  const bool dom_valid = !err && json_depth(e) <= kMaxDepth;
  const bool number_only = err == simdjson::NUMBER_ERROR || err == simdjson::NUMBER_OUT_OF_RANGE;
  if (out.data() == payload.data()) {
    FUZZ_CHECK(out.size() == payload.size());
    FUZZ_CHECK(dom_valid || number_only);
    return;
  }
  FUZZ_CHECK(!dom_valid);
  simdjson::dom::element s;
  FUZZ_CHECK(dom.parse(out.data(), out.size(), true).get(s) == simdjson::SUCCESS);
  std::string_view text;
  FUZZ_CHECK(s.get(text) == simdjson::SUCCESS);
  FUZZ_CHECK(text == replaced(payload));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static NatsParser whole_parser(1024), split_parser(1024);
  static DataNormalizer norm(1 << 16);
  static simdjson::dom::parser dom;
  FUZZ_CHECK(norm.ok());
  if (size > 65536) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);

  std::vector<Ev> whole;
  const int whole_rc = run(whole_parser, bytes, {}, whole);

  // Cut points from the input itself: every byte whose low 3 bits are 0, plus a fixed stride.
  std::vector<std::size_t> cuts;
  const std::size_t stride = size ? 1 + data[0] % 7 : 1;
  for (std::size_t i = 1; i < size; ++i) {
    if ((data[i] & 7) == 0 || i % stride == 0) cuts.push_back(i);
  }
  std::vector<Ev> split;
  const int split_rc = run(split_parser, bytes, cuts, split);
  FUZZ_CHECK(split_rc == whole_rc);
  FUZZ_CHECK(split == whole);

  for (const Ev& e : whole) {
    if (e.kind == NatsKind::msg) {
      round_trips(e, 1024);
      check_envelope(e.payload);
      check_normalizer(norm, dom, decode_envelope(e.payload).payload);
    }
    if (e.kind == NatsKind::info) (void)nats_max_payload(e.text);
  }
  check_envelope(bytes);
  check_normalizer(norm, dom, bytes);
  return 0;
}
