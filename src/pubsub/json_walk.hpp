// Strict validation of one JSON value with simdjson On-Demand, shared by the client codec and the
// broker-payload normalizer (internal to the pubsub module). Every value is read, so the check is
// as strict as a validating parse; numbers are checked against the RFC 8259 grammar only and never
// converted, so a number beyond 64-bit or double range is still valid and passes through verbatim.
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <string_view>

namespace ringgate::pubsub::detail {

// RFC 8259 number: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?, then only whitespace
// (raw_json_token() ends at the next structural character).
bool valid_json_number(std::string_view t) noexcept;
// Reads and validates a value completely. `depth` is the depth the value has if it is a
// container; deeper than kMaxDepth is DEPTH_ERROR.
simdjson::error_code walk_json(simdjson::ondemand::value v, std::size_t depth) noexcept;

}  // namespace ringgate::pubsub::detail
