// Handshake costs on the http side: parse + validate of a typical Chrome upgrade request, the
// 101 writer, and the re-parse cost of a head that arrives in pieces (the parser is stateless, so
// each arrival re-reads from the start; this shows what that costs).
#include <benchmark/benchmark.h>

#include <string>
#include <string_view>

#include "ringgate/http/request.hpp"
#include "ringgate/http/upgrade.hpp"
#include "../../tests/unit/http/sample_requests.hpp"

namespace {

using namespace ringgate::http;

// The same Chrome request the http unit tests use (one source of truth for "what a browser sends").
constexpr std::string_view kChrome = ringgate::http::testing::kChromeRequest;

bool route(void*, std::string_view path) noexcept { return path == "/chat" || path == "/echo"; }

void BM_ParseChrome(benchmark::State& state) {
  Request req;
  for (auto _ : state) {
    ParseResult r = parse_request_head(kChrome, req);
    benchmark::DoNotOptimize(r);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(std::int64_t(state.iterations() * kChrome.size()));
}
BENCHMARK(BM_ParseChrome);

void BM_ParseValidateChrome(benchmark::State& state) {
  Request req;
  Upgrade up;
  for (auto _ : state) {
    ParseResult r = parse_request_head(kChrome, req);
    Reject v = validate_upgrade(req, up, route, nullptr);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(v);
    benchmark::ClobberMemory();
  }
  if (validate_upgrade(req, up, route, nullptr) != Reject::none) state.SkipWithError("request refused");
  state.SetBytesProcessed(std::int64_t(state.iterations() * kChrome.size()));
}
BENCHMARK(BM_ParseValidateChrome);

void BM_WriteSwitchingProtocols(benchmark::State& state) {
  const std::string_view protocol = state.range(0) != 0 ? "chat" : "";
  char out[256];
  for (auto _ : state) {
    std::size_t n = write_switching_protocols("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", protocol, out, sizeof out);
    benchmark::DoNotOptimize(n);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_WriteSwitchingProtocols)->Arg(0)->Arg(1);

void BM_WriteReject(benchmark::State& state) {
  char out[512];
  for (auto _ : state) {
    std::size_t n = write_reject(Reject::bad_version, out, sizeof out);
    benchmark::DoNotOptimize(n);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_WriteReject);

// One call on an incomplete head of range(0) bytes (20-byte header lines, no end yet).
void BM_ParseIncomplete(benchmark::State& state) {
  std::string head = "GET /chat HTTP/1.1\r\n";
  while (head.size() < std::size_t(state.range(0))) head += "X-Padding: 12345678\r\n";
  head.resize(std::size_t(state.range(0)));
  Request req;
  for (auto _ : state) {
    ParseResult r = parse_request_head(head, req);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(std::int64_t(state.iterations() * head.size()));
}
BENCHMARK(BM_ParseIncomplete)->Arg(512)->Arg(8192);

// The Chrome request delivered in range(0)-byte pieces: total parser cost until done.
void BM_ParseChromeInPieces(benchmark::State& state) {
  const std::size_t piece = std::size_t(state.range(0));
  Request req;
  for (auto _ : state) {
    ParseResult r{};
    for (std::size_t have = piece;; have += piece) {
      r = parse_request_head(kChrome.substr(0, have), req);
      if (r.status != ParseStatus::need_more) break;
    }
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_ParseChromeInPieces)->Arg(1)->Arg(64);

}  // namespace

BENCHMARK_MAIN();
