// The demo page served at GET / on the WebSocket listeners: one self-contained HTML file (inline
// CSS and JS, no framework) that speaks the pub/sub protocol of docs/protocol.md on /ws.
// The bytes are a compile-time constant with static storage, so serving them allocates nothing
// and the view stays valid for the life of the process.
#pragma once

#include <string_view>

namespace ringgate::gateway {

// The page as text/html; charset=utf-8.
std::string_view demo_page_html() noexcept;

}  // namespace ringgate::gateway
