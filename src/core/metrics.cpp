#include "ringgate/core/metrics.hpp"

#include <cinttypes>
#include <cstdio>

namespace ringgate {

void PromWriter::family(std::string_view name, std::string_view type, std::string_view help) {
  out_.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out_.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void PromWriter::sample(std::string_view name, std::string_view labels, std::uint64_t value) {
  char buf[32];
  int n = std::snprintf(buf, sizeof buf, "%" PRIu64, value);
  out_.append(name);
  if (!labels.empty()) out_.append("{").append(labels).append("}");
  out_.append(" ").append(buf, std::size_t(n)).append("\n");
}

void PromWriter::sample(std::string_view name, std::string_view labels, double value) {
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%.17g", value);
  out_.append(name);
  if (!labels.empty()) out_.append("{").append(labels).append("}");
  out_.append(" ").append(buf, std::size_t(n)).append("\n");
}

}  // namespace ringgate
