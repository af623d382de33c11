// The client codec per message: decode of a typical sub and of a ~200-byte pub (the whole pass
// validates every value, so this is the cost a publish pays before fan-out), and encode_msg, the
// one encoding a publish needs regardless of subscriber count.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "ringgate/pubsub/codec.hpp"

namespace {

using namespace ringgate::pubsub;

std::vector<std::uint8_t> padded(const std::string& s) {
  std::vector<std::uint8_t> v(s.begin(), s.end());
  v.resize(s.size() + kPadding, ' ');
  return v;
}

const std::string kSub = R"({"op":"sub","id":12,"topic":"chat.room-42"})";

std::string make_pub() {
  std::string s =
      R"({"op":"pub","id":1234,"topic":"chat.room-42","data":{"user":"alice","ts":1718000000123,)"
      R"("tags":["a","b"],"reply_to":null,"n":-12.5e-3,"text":")";
  s += std::string(200 - s.size() - 3, 'x');  // the chat line: the message is exactly 200 bytes
  s += "\"}}";
  return s;
}

void decode_msg(benchmark::State& state, const std::string& json) {
  Decoder d;
  const std::vector<std::uint8_t> buf = padded(json);
  Request req;
  DecodeError err;
  for (auto _ : state) {
    if (!d.decode(buf.data(), json.size(), req, err)) {
      state.SkipWithError(err.message);
      break;
    }
    benchmark::DoNotOptimize(req);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * json.size()));
  state.counters["bytes"] = static_cast<double>(json.size());
}

void BM_DecodeSub(benchmark::State& state) { decode_msg(state, kSub); }
void BM_DecodePub200(benchmark::State& state) { decode_msg(state, make_pub()); }

void BM_DecodePublishBody(benchmark::State& state) {
  Decoder d;
  const std::string json = R"({"topic":"chat.room-42","data":{"user":"alice","text":"hello"}})";
  const std::vector<std::uint8_t> buf = padded(json);
  Request req;
  DecodeError err;
  for (auto _ : state) {
    if (!d.decode_publish(buf.data(), json.size(), req, err)) {
      state.SkipWithError(err.message);
      break;
    }
    benchmark::DoNotOptimize(req);
  }
}

void BM_EncodeMsg(benchmark::State& state) {
  const std::string data(static_cast<std::size_t>(state.range(0)), 'x');
  const std::string json = "\"" + data + "\"";
  std::vector<char> out(msg_bytes("chat.room-42", ~std::uint64_t{0}, json.size()));
  std::uint64_t seq = 1;
  for (auto _ : state) {
    const std::size_t n = msg_bytes("chat.room-42", seq, json.size());
    benchmark::DoNotOptimize(encode_msg(out.data(), n, "chat.room-42", seq++, json));
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * json.size()));
}

}  // namespace

BENCHMARK(BM_DecodeSub);
BENCHMARK(BM_DecodePub200);
BENCHMARK(BM_DecodePublishBody);
BENCHMARK(BM_EncodeMsg)->Arg(16)->Arg(200)->Arg(4096);

BENCHMARK_MAIN();
