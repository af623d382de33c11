// Nesting depth of a simdjson DOM value (a scalar is 0, [] is 1): the reference the fuzz targets
// compare our depth limit with.
#pragma once

#include <simdjson.h>

#include <algorithm>
#include <cstddef>

inline std::size_t json_depth(simdjson::dom::element e) {
  std::size_t d = 0;
  simdjson::dom::array a;
  simdjson::dom::object o;
  if (e.get(a) == simdjson::SUCCESS) {
    for (simdjson::dom::element c : a) d = std::max(d, json_depth(c));
    return d + 1;
  }
  if (e.get(o) == simdjson::SUCCESS) {
    for (simdjson::dom::key_value_pair kv : o) d = std::max(d, json_depth(kv.value));
    return d + 1;
  }
  return 0;
}
