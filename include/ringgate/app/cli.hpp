// Command-line flags of the ringgate binary. parse_cli() never exits: it returns the options or a
// message, and main() turns a message into exit code 2. Durations are in seconds, fractions allowed.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <string>
#include <vector>

#include "ringgate/core/log.hpp"
#include "ringgate/gateway/config.hpp"  // also net::SockAddr (app reaches net only through gateway)

namespace ringgate::app {

struct Options {
  gateway::Config gateway;
  std::optional<net::SockAddr> admin;
  LogLevel log_level = LogLevel::info;
  bool help = false;
  bool version = false;
};

struct CliResult {
  Options options;
  std::string error;  // empty on success
};

// A proxy in front of the gateway and the heartbeat that keeps connections alive through it.
struct HeartbeatProfile {
  std::string_view name;
  std::uint64_t proxy_idle_cutoff_ms;
  std::uint64_t ping_interval_ms;
  std::uint64_t pong_timeout_ms;
};
const HeartbeatProfile* heartbeat_profile(std::string_view name);

CliResult parse_cli(const std::vector<std::string>& args);
std::string usage();
inline constexpr const char* kVersion = "0.1.0";

}  // namespace ringgate::app
