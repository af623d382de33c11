// Main-thread driver of `ringgate-load fanout` (options.hpp has the interface). Phases: connect
// every subscriber (and ws publisher) -> wait for every sub ack (the "subscriber setup time" runs
// from the start to the last ack) -> warm-up publishing -> measured publishing (window; server
// CPU sampled from its start until the deliveries settled) -> settle (publishing stopped; waits up
// to --settle s for outstanding acks and the deliveries they promise) -> close. Then the acked seqs
// of all publishers are merged per topic and every subscriber's FanoutCheck is judged against them.
// Exit 0 only when nothing is missing or out of order, no publish or subscribe failed, something
// was acked, and every connection worked.
#pragma once

#include <csignal>
#include <memory>

#include "options.hpp"
#include "ringgate/tls/context.hpp"

namespace ringgate::load {

int run_fanout(const Options& o, std::shared_ptr<tls::ClientContext> ctx, const volatile std::sig_atomic_t& interrupted);

}  // namespace ringgate::load
