// libFuzzer target for the pub/sub client codec. The input is one message, copied into a buffer
// whose kPadding bytes hold a filler chosen by the input size ('}' and ']' included, the bytes a
// lazy parser could read past the end). decode() and decode_publish() are checked against
// simdjson's validating DOM parser:
//  - success => the whole input is valid JSON of depth <= kMaxDepth; id <= kMaxId; topic valid
//    for sub/unsub/pub; for pub, data is non-empty, lies inside the input, has no surrounding
//    whitespace, parses on its own, and encode_msg writes exactly msg_bytes(); numbers the DOM
//    cannot represent (2^64, 1e400) are valid JSON the codec passes on, so that verdict is skipped;
//  - failure as "malformed JSON" or "trailing bytes" => DOM rejects the input too; "too deep" =>
//    DOM rejects it or finds it deeper than kMaxDepth; inputs over the limit are too_large;
//  - a pub that decode() accepts is accepted by decode_publish() with the same topic and data;
//  - the err frame for any failure is valid JSON with the wire name of the code.
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "ringgate/pubsub/codec.hpp"

#include "fuzz_check.hpp"
#include "json_depth.hpp"

namespace {

using namespace ringgate::pubsub;


// DOM verdict on `text`: -1 invalid, kNumberOnly when the DOM refuses only a number it cannot
// represent (2^64, 1e400: valid JSON that the codec passes on verbatim), else the nesting depth.
constexpr long kNumberOnly = -2;
long dom_depth(simdjson::dom::parser& p, std::string_view text) {
  simdjson::dom::element e;
  const auto err = p.parse(text.data(), text.size(), true).get(e);
  if (err == simdjson::NUMBER_ERROR || err == simdjson::NUMBER_OUT_OF_RANGE) return kNumberOnly;
  if (err) return -1;
  return static_cast<long>(json_depth(e));
}
bool valid_depth(long d) { return d == kNumberOnly || (d >= 1 && d <= static_cast<long>(ringgate::pubsub::kMaxDepth)); }

bool inside(std::string_view v, const std::uint8_t* buf, std::size_t len) {
  const auto* b = reinterpret_cast<const char*>(buf);
  return v.data() >= b && v.data() + v.size() <= b + len;
}

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

void check_err_frame(const DecodeError& err) {
  FUZZ_CHECK(err.message != nullptr && err.message[0] != '\0');
  char out[256];
  const std::size_t n = encode_err(out, sizeof out, err.has_id, err.id, err.code, err.message);
  FUZZ_CHECK(n > 0);
  static simdjson::dom::parser p;
  simdjson::dom::element e;
  FUZZ_CHECK(p.parse(out, n, true).get(e) == simdjson::SUCCESS);
  std::string_view code;
  FUZZ_CHECK(e["code"].get(code) == simdjson::SUCCESS && code == error_name(err.code));
  if (err.has_id) FUZZ_CHECK(err.id <= kMaxId);
}

void check_data(simdjson::dom::parser& p, std::string_view data, const std::uint8_t* buf, std::size_t len) {
  FUZZ_CHECK(!data.empty());
  FUZZ_CHECK(inside(data, buf, len));
  FUZZ_CHECK(!is_ws(data.front()) && !is_ws(data.back()));
  const long d = dom_depth(p, data);
  FUZZ_CHECK(d == kNumberOnly || (d >= 0 && d < static_cast<long>(kMaxDepth)));
}

bool is(const DecodeError& err, const char* message) { return std::strcmp(err.message, message) == 0; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Decoder decoder(65536);
  static Decoder small(128);
  static simdjson::dom::parser dom;
  FUZZ_CHECK(decoder.ok() && small.ok());
  if (size > 65536) return 0;

  static const char kFill[] = {'}', ']', ' ', '\0', '"', ','};
  std::vector<std::uint8_t> buf(size + kPadding, static_cast<std::uint8_t>(kFill[size % sizeof kFill]));
  if (size) std::memcpy(buf.data(), data, size);
  const std::string_view text(reinterpret_cast<const char*>(buf.data()), size);
  const long whole = dom_depth(dom, text);

  Request req;
  DecodeError err;
  const bool ok = decoder.decode(buf.data(), size, req, err);
  if (ok) {
    FUZZ_CHECK(valid_depth(whole));
    FUZZ_CHECK(req.id <= kMaxId);
    if (req.op == Op::ping) {
      FUZZ_CHECK(req.topic.empty() && req.data.empty());
    } else {
      FUZZ_CHECK(valid_topic(req.topic));
    }
    if (req.op == Op::sub || req.op == Op::unsub) FUZZ_CHECK(req.data.empty());
    if (req.op != Op::sub) FUZZ_CHECK(!req.has_since);
    if (req.op == Op::pub) {
      check_data(dom, req.data, buf.data(), size);
      std::vector<char> out(msg_bytes(req.topic, req.id, req.data.size()));
      FUZZ_CHECK(encode_msg(out.data(), out.size(), req.topic, req.id, req.data) == out.size());
      FUZZ_CHECK(valid_depth(dom_depth(dom, std::string_view(out.data(), out.size()))));
      // The HTTP body decoder accepts the same message the same way.
      Request pub;
      DecodeError perr;
      FUZZ_CHECK(decoder.decode_publish(buf.data(), size, pub, perr));
      FUZZ_CHECK(pub.op == Op::pub && pub.id == 0 && pub.topic == req.topic && pub.data == req.data);
    }
  } else {
    check_err_frame(err);
    if (is(err, "malformed JSON") || is(err, "trailing bytes after the object")) FUZZ_CHECK(whole < 0);
    if (is(err, "JSON nested too deeply")) FUZZ_CHECK(whole < 0 || whole > static_cast<long>(kMaxDepth));
    FUZZ_CHECK(err.code != ErrorCode::too_large);
  }

  Request pub;
  DecodeError perr;
  if (decoder.decode_publish(buf.data(), size, pub, perr)) {
    FUZZ_CHECK(valid_depth(whole));
    FUZZ_CHECK(pub.op == Op::pub && pub.id == 0 && valid_topic(pub.topic));
    check_data(dom, pub.data, buf.data(), size);
  } else {
    check_err_frame(perr);
    FUZZ_CHECK(!perr.has_id);
    if (is(perr, "malformed JSON")) FUZZ_CHECK(whole < 0);
  }

  // The small decoder agrees below its limit and refuses above it without parsing.
  Request sreq;
  DecodeError serr;
  const bool sok = small.decode(buf.data(), size, sreq, serr);
  if (size > 128) {
    FUZZ_CHECK(!sok && serr.code == ErrorCode::too_large && !serr.has_id);
  } else {
    FUZZ_CHECK(sok == ok);
    if (ok) FUZZ_CHECK(sreq.id == req.id && sreq.topic == req.topic && sreq.data == req.data);
    if (!ok) FUZZ_CHECK(serr.code == err.code && serr.has_id == err.has_id && serr.id == err.id);
  }
  return 0;
}
