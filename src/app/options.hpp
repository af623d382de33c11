// The gateway's options as one table: each row names a flag, the syntax of its value, the default
// and help shown by --help, and the typed parser that puts the value into Options. parse_cli() and
// usage() both walk this table, so help and parsing cannot drift; a config file can look its keys
// up here by name and apply values through the same parsers (find_option + apply + finish).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ringgate/app/cli.hpp"

namespace ringgate::app {

// Options being built, plus what spans several flags until finish(): certificate files waiting for
// their pair, pairs given before any --listen-tls, the heartbeat profile and the flags it must not
// override.
struct OptionState {
  Options options;
  std::vector<tls::CertFiles> default_certs;
  std::string pending_cert, pending_key;
  const HeartbeatProfile* profile = nullptr;
  std::vector<std::string_view> explicit_flags;  // row names (the table outlives every state)
};

struct Option;
// Parses `value` into the state; false with `err` set when the value is refused. A switch ignores
// `value` (the command line passes "").
using ApplyFn = bool (*)(const Option&, const std::string& value, OptionState&, std::string& err);

// How a row lands in Options: a parser and, for the numeric ones, the accepted range (a count for
// integers, milliseconds for durations; a duration's upper bound is always 40 days).
struct Setter {
  ApplyFn apply = nullptr;
  std::uint64_t min = 0, max = 0;
};

struct Option {
  std::string_view name;     // "--workers"
  std::string_view syntax;   // "N", "SECONDS", "HOST:PORT"...; empty: a switch that takes no value
  std::string_view fallback; // the default as --help shows it; empty: none shown
  std::string_view help;     // one paragraph; --help wraps it
  // Appended to the name, the message for a missing value (and, for most rows, for a refused one):
  // " needs a number 1..64".
  std::string_view needs;
  Setter set;
  std::string_view alias = {};  // a second spelling ("-h")

  bool takes_value() const noexcept { return !syntax.empty(); }
};

std::span<const Option> option_table() noexcept;
// By name or alias; nullptr when there is no such option.
const Option* find_option(std::string_view name) noexcept;
// The row's parser; the same for a flag and for a config-file key.
inline bool apply(const Option& o, const std::string& value, OptionState& s, std::string& err) {
  return o.set.apply(o, value, s, err);
}
// The checks that need every option (certificate pairs, PROXY without trusted peers, an API without
// a token), the heartbeat profile, and the defaults that depend on others (the plain listener, the
// worker count). The error of a failed result names the flags at fault.
CliResult finish(OptionState&& s);

// Named through Config's field: where the broker settings are declared may change.
using BrokerConfigOf = decltype(gateway::Config::broker);
// --broker embedded | redis://HOST[:PORT][/?sharded=1] | nats://HOST[:PORT] into kind, address,
// url and sharded (the timing fields keep what other flags set); false with a message naming
// --broker. A host name is resolved here, once: the gateway reconnects to that address.
bool parse_broker_url(const std::string& url, BrokerConfigOf& broker, std::string& err);

}  // namespace ringgate::app
