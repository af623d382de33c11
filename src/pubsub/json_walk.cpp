#include "json_walk.hpp"

#include "ringgate/pubsub/codec.hpp"  // kMaxDepth

namespace ringgate::pubsub::detail {

namespace od = simdjson::ondemand;

bool valid_json_number(std::string_view t) noexcept {
  std::size_t i = 0;
  auto digit = [&](std::size_t k) { return k < t.size() && t[k] >= '0' && t[k] <= '9'; };
  if (i < t.size() && t[i] == '-') ++i;
  if (!digit(i)) return false;
  if (t[i] == '0') {
    ++i;
  } else {
    while (digit(i)) ++i;
  }
  if (i < t.size() && t[i] == '.') {
    if (!digit(++i)) return false;
    while (digit(i)) ++i;
  }
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    if (!digit(i)) return false;
    while (digit(i)) ++i;
  }
  for (; i < t.size(); ++i) {
    if (t[i] != ' ' && t[i] != '\t' && t[i] != '\n' && t[i] != '\r') return false;
  }
  return true;
}

simdjson::error_code walk_json(od::value v, std::size_t depth) noexcept {
  od::json_type t;
  if (simdjson::error_code e = v.type().get(t)) return e;
  switch (t) {
    case od::json_type::object: {
      if (depth > kMaxDepth) return simdjson::DEPTH_ERROR;
      od::object o;
      if (simdjson::error_code e = v.get_object().get(o)) return e;
      for (auto fr : o) {
        od::field f;
        std::string_view key;
        if (simdjson::error_code e = std::move(fr).get(f)) return e;
        if (simdjson::error_code e = f.unescaped_key().get(key)) return e;
        if (simdjson::error_code e = walk_json(f.value(), depth + 1)) return e;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::array: {
      if (depth > kMaxDepth) return simdjson::DEPTH_ERROR;
      od::array a;
      if (simdjson::error_code e = v.get_array().get(a)) return e;
      for (auto er : a) {
        od::value c;
        if (simdjson::error_code e = std::move(er).get(c)) return e;
        if (simdjson::error_code e = walk_json(c, depth + 1)) return e;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::number: {
      // Syntax only (RFC 8259 grammar): a number is passed on verbatim, so one beyond 64-bit or
      // double range (1e400, 2^64) is still valid JSON here, unlike for get_number().
      const std::string_view tok = v.raw_json_token();
      return valid_json_number(tok) ? simdjson::SUCCESS : simdjson::NUMBER_ERROR;
    }
    case od::json_type::string: {
      std::string_view s;
      return v.get_string().get(s);
    }
    case od::json_type::boolean: {
      bool b;
      return v.get_bool().get(b);
    }
    case od::json_type::null: {
      bool is_null = false;
      if (simdjson::error_code e = v.is_null().get(is_null)) return e;
      return is_null ? simdjson::SUCCESS : simdjson::TAPE_ERROR;
    }
  }
  return simdjson::TAPE_ERROR;
}

}  // namespace ringgate::pubsub::detail
