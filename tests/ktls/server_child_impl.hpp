// Template part of server_child.hpp.
#pragma once

#include <unistd.h>

#include "ktls_client.hpp"

namespace ringgate::ktls_test {

template <class Pred>
bool wait_metrics(ServerChild& s, Metrics& m, long long timeout_ms, Pred pred, std::string& why) {
  const long long deadline = now_ms() + timeout_ms;
  for (;;) {
    if (!s.metrics(m, why)) return false;
    if (pred(m)) return true;
    if (now_ms() >= deadline) {
      why = "metrics did not settle within " + std::to_string(timeout_ms) + " ms";
      return false;
    }
    ::usleep(20000);
  }
}

}  // namespace ringgate::ktls_test
