// Shared plumbing of the bare WebSocket floors (ws_floor_echo, ws_floor_fanout): one thread,
// level-triggered epoll, an upgrade with no checks beyond finding Sec-WebSocket-Key, unmasking,
// and a per-connection output buffer used only when send() would block. These are calibration
// floors for bench/, NOT servers to use: no UTF-8 validation, no fragmentation, no limits.
#pragma once

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ws_client.hpp"

namespace floor_ws {

constexpr size_t kBufBytes = 1 << 17;  // largest client frame handled whole

struct Conn {
  int fd = -1;
  bool open = false;  // handshake done
  bool want_out = false;
  size_t in_len = 0;
  std::unique_ptr<uint8_t[]> in{new uint8_t[kBufBytes]};  // untouched pages stay unresident
  std::vector<uint8_t> out;
  size_t out_off = 0;
  std::vector<uint32_t> topics;  // ws_floor_fanout only: subscriptions to undo on close
};

struct Server {
  int ep = -1;
  std::vector<std::unique_ptr<Conn>> conns;  // indexed by fd
  bool answer_subprotocol = false;  // reply "Sec-WebSocket-Protocol: ringgate.v1" when offered
  void (*on_drop)(Conn&) = nullptr;
};
inline Server g_srv;

inline void drop(Conn& c) {
  if (g_srv.on_drop) g_srv.on_drop(c);
  ::close(c.fd);
  g_srv.conns[static_cast<size_t>(c.fd)].reset();
}

inline void set_want_out(Conn& c, bool want) {
  if (c.want_out == want) return;
  epoll_event ev{};
  ev.events = want ? (EPOLLIN | EPOLLOUT) : EPOLLIN;
  ev.data.fd = c.fd;
  epoll_ctl(g_srv.ep, EPOLL_CTL_MOD, c.fd, &ev);
  c.want_out = want;
}

// Returns false when the connection was dropped.
inline bool flush(Conn& c) {
  if (c.out_off < c.out.size()) {
    ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR) return drop(c), false;
    if (n > 0) c.out_off += static_cast<size_t>(n);
  }
  if (c.out_off == c.out.size()) {
    c.out.clear();
    c.out_off = 0;
  }
  set_want_out(c, !c.out.empty());
  return true;
}

// One send() of p unless bytes are already waiting (then p queues behind them, keeping order);
// what the kernel does not take is kept for EPOLLOUT. Returns false on a hard error, without
// dropping: the caller may be walking a subscriber list that drop() would edit.
inline bool send_or_queue(Conn& c, const uint8_t* p, size_t n) {
  if (c.out_off < c.out.size()) {
    c.out.insert(c.out.end(), p, p + n);
    return true;
  }
  ssize_t sent = ::send(c.fd, p, n, MSG_NOSIGNAL);
  if (sent < 0) {
    if (errno != EAGAIN && errno != EINTR) return false;
    sent = 0;
  }
  if (static_cast<size_t>(sent) < n) {
    c.out.insert(c.out.end(), p + sent, p + n);
    set_want_out(c, true);
  }
  return true;
}

inline bool offers_ringgate_v1(std::string_view head) {
  std::string_view v = load::ws::header_value(head, "Sec-WebSocket-Protocol");
  return v.find("ringgate.v1") != std::string_view::npos;
}

// Returns false when the connection was dropped; c.open says whether the upgrade is complete.
inline bool handshake(Conn& c) {
  std::string_view buf(reinterpret_cast<const char*>(c.in.get()), c.in_len);
  size_t end = buf.find("\r\n\r\n");
  if (end == std::string_view::npos) return c.in_len < 8192 || (drop(c), false);
  std::string_view head = buf.substr(0, end + 2);
  std::string_view key = load::ws::header_value(head, "Sec-WebSocket-Key");
  if (key.empty()) return drop(c), false;
  std::string resp = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: " + load::ws::accept_for(key) + "\r\n";
  if (g_srv.answer_subprotocol && offers_ringgate_v1(head)) resp += "Sec-WebSocket-Protocol: ringgate.v1\r\n";
  resp += "\r\n";
  c.out.insert(c.out.end(), resp.begin(), resp.end());
  std::memmove(c.in.get(), c.in.get() + end + 4, c.in_len - end - 4);
  c.in_len -= end + 4;
  c.open = true;
  return true;
}

inline void unmask(uint8_t* p, size_t n, const uint8_t* key) {
  uint64_t k8;
  uint8_t k[8] = {key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]};
  std::memcpy(&k8, k, 8);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    std::memcpy(&v, p + i, 8);
    v ^= k8;
    std::memcpy(p + i, &v, 8);
  }
  for (; i < n; ++i) p[i] ^= key[i & 3];
}

// Writes an unmasked server frame header (FIN set) into hdr[10]; returns its size.
inline size_t frame_header(uint8_t* hdr, uint8_t opcode, size_t len) {
  size_t n = 0;
  hdr[n++] = static_cast<uint8_t>(0x80 | opcode);
  if (len < 126) {
    hdr[n++] = static_cast<uint8_t>(len);
  } else if (len <= 0xFFFF) {
    hdr[n++] = 126;
    hdr[n++] = static_cast<uint8_t>(len >> 8);
    hdr[n++] = static_cast<uint8_t>(len);
  } else {
    hdr[n++] = 127;
    for (int i = 7; i >= 0; --i) hdr[n++] = static_cast<uint8_t>(uint64_t(len) >> (8 * i));
  }
  return n;
}

// Appends one server frame to c.out (flushed by the caller).
inline void queue_frame(Conn& c, uint8_t opcode, const void* payload, size_t len) {
  uint8_t hdr[10];
  size_t n = frame_header(hdr, opcode, len);
  c.out.insert(c.out.end(), hdr, hdr + n);
  const uint8_t* p = static_cast<const uint8_t*>(payload);
  c.out.insert(c.out.end(), p, p + len);
}

// Walks the complete client frames in c.in, unmasked in place, calling on(opcode, payload, len) for
// each; `on` returns false to stop (it closed or dropped the connection). Consumed frames leave
// c.in. False when the walk stopped or the connection was dropped for a bad frame.
template <class Fn>
bool for_each_frame(Conn& c, Fn&& on) {
  size_t pos = 0;
  for (;;) {
    load::ws::FrameHeader h;
    size_t hl = load::ws::parse_header(c.in.get() + pos, c.in_len - pos, h);
    if (hl == 0) break;
    if (!h.masked || hl + h.payload_len > kBufBytes) return drop(c), false;
    if (c.in_len - pos < hl + h.payload_len) break;
    uint8_t* payload = c.in.get() + pos + hl;
    size_t len = static_cast<size_t>(h.payload_len);
    unmask(payload, len, payload - 4);
    pos += hl + len;
    if (!on(h.opcode, payload, len)) return false;
  }
  std::memmove(c.in.get(), c.in.get() + pos, c.in_len - pos);
  c.in_len -= pos;
  return true;
}

// on_frames handles every complete frame in c.in; returns false when it dropped the connection.
using FramesFn = bool (*)(Conn&);

inline void on_readable(Conn& c, FramesFn on_frames) {
  ssize_t n = ::recv(c.fd, c.in.get() + c.in_len, kBufBytes - c.in_len, 0);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return drop(c);
  if (n < 0) return;
  c.in_len += static_cast<size_t>(n);
  if (!c.open && !handshake(c)) return;
  if (!c.open) return;
  if (!on_frames(c)) return;
  flush(c);
}

inline void accept_all(int lfd) {
  for (;;) {
    int fd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    auto& conns = g_srv.conns;
    if (static_cast<size_t>(fd) >= conns.size()) conns.resize(static_cast<size_t>(fd) * 2 + 1);
    auto c = std::make_unique<Conn>();
    c->fd = fd;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(g_srv.ep, EPOLL_CTL_ADD, fd, &ev);
    conns[static_cast<size_t>(fd)] = std::move(c);
  }
}

// Listens on 127.0.0.1:port (0 = kernel picks), prints "NAME: listening on ws://127.0.0.1:PORT"
// (the line bench/run-*.sh wait for) and serves forever. Returns only on a set-up failure.
inline int serve(const char* name, int port, FramesFn on_frames) {
  signal(SIGPIPE, SIG_IGN);
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // inherited by accepted sockets
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(lfd, 4096) != 0) {
    std::fprintf(stderr, "%s: bind/listen: %s\n", name, std::strerror(errno));
    return 2;
  }
  socklen_t alen = sizeof a;
  getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &alen);
  std::fprintf(stderr, "%s: listening on ws://127.0.0.1:%u\n", name, ntohs(a.sin_port));
  g_srv.ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = lfd;
  epoll_ctl(g_srv.ep, EPOLL_CTL_ADD, lfd, &ev);
  g_srv.conns.resize(1024);
  epoll_event evs[512];
  for (;;) {
    int n = epoll_wait(g_srv.ep, evs, 512, -1);
    for (int i = 0; i < n; ++i) {
      int fd = evs[i].data.fd;
      if (fd == lfd) { accept_all(lfd); continue; }
      Conn* c = g_srv.conns[static_cast<size_t>(fd)].get();
      if (!c) continue;
      if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(*c, on_frames);
      c = g_srv.conns[static_cast<size_t>(fd)].get();
      if (c && (evs[i].events & EPOLLOUT)) flush(*c);
    }
  }
}

}  // namespace floor_ws
