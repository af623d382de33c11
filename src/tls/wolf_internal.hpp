// Private glue between context.cpp and session.cpp (both see wolfSSL; nothing else does).
#pragma once

namespace ringgate::tls::detail {

// True when the client context (a WOLFSSL_CTX*) was built with tickets on. Sessions use it to
// refuse saving TLS 1.3 sessions, which can only resume through a ticket (PSK).
bool client_tickets_enabled(void* wolf_ctx) noexcept;
// The client context's ALPN protocols, comma-separated (wolfSSL_UseALPN's format); "" = none.
const char* client_alpn(void* wolf_ctx) noexcept;

}  // namespace ringgate::tls::detail
