// ws_floor_echo: the smallest WebSocket echo server we could write, as a same-run calibration floor
// for bench/run-echo.sh (the role the raw TCP echo plays in shared/research/perf-anchors.md).
// One thread, level-triggered epoll, one recv per readiness event, every frame of that read echoed
// by one send. No UTF-8 validation, no fragmentation, no limits beyond the buffer: it is NOT a
// server to use, only a bound on what one syscall pair per message costs here with WS framing.
//   ws_floor_echo [--port N]   (0 = kernel picks; prints "listening on ws://127.0.0.1:PORT")
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ws_client.hpp"

namespace {

constexpr size_t kBufBytes = 1 << 17;  // largest frame echoed whole

struct Conn {
  int fd = -1;
  bool open = false;  // handshake done
  bool want_out = false;
  size_t in_len = 0;
  std::unique_ptr<uint8_t[]> in{new uint8_t[kBufBytes]};  // untouched pages stay unresident
  std::vector<uint8_t> out;
  size_t out_off = 0;
};

int g_ep = -1;
std::vector<std::unique_ptr<Conn>> g_conns;  // indexed by fd

void drop(Conn& c) {
  ::close(c.fd);
  g_conns[static_cast<size_t>(c.fd)].reset();
}

void set_want_out(Conn& c, bool want) {
  if (c.want_out == want) return;
  epoll_event ev{};
  ev.events = want ? (EPOLLIN | EPOLLOUT) : EPOLLIN;
  ev.data.fd = c.fd;
  epoll_ctl(g_ep, EPOLL_CTL_MOD, c.fd, &ev);
  c.want_out = want;
}

// Returns false when the connection was dropped.
bool flush(Conn& c) {
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

bool handshake(Conn& c) {
  std::string_view buf(reinterpret_cast<const char*>(c.in.get()), c.in_len);
  size_t end = buf.find("\r\n\r\n");
  if (end == std::string_view::npos) return c.in_len < 8192 || (drop(c), false);
  std::string_view key = load::ws::header_value(buf.substr(0, end + 2), "Sec-WebSocket-Key");
  if (key.empty()) return drop(c), false;
  std::string resp = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: " + load::ws::accept_for(key) + "\r\n\r\n";
  c.out.insert(c.out.end(), resp.begin(), resp.end());
  std::memmove(c.in.get(), c.in.get() + end + 4, c.in_len - end - 4);
  c.in_len -= end + 4;
  c.open = true;
  return true;
}

void unmask(uint8_t* p, size_t n, const uint8_t* key) {
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

// Echoes every complete frame in c.in; returns false when the connection was dropped.
bool echo_frames(Conn& c) {
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
    uint8_t opcode = h.opcode == load::ws::kPing ? uint8_t{load::ws::kPong} : h.opcode;
    if (opcode != load::ws::kPong) {  // pongs from the peer are not echoed
      uint8_t hdr[10];
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
      c.out.insert(c.out.end(), hdr, hdr + n);
      c.out.insert(c.out.end(), payload, payload + len);
    }
    pos += hl + len;
    if (h.opcode == load::ws::kClose) {
      flush(c);
      return drop(c), false;
    }
  }
  std::memmove(c.in.get(), c.in.get() + pos, c.in_len - pos);
  c.in_len -= pos;
  return true;
}

void on_readable(Conn& c) {
  ssize_t n = ::recv(c.fd, c.in.get() + c.in_len, kBufBytes - c.in_len, 0);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return drop(c);
  if (n < 0) return;
  c.in_len += static_cast<size_t>(n);
  if (!c.open && !handshake(c)) return;
  if (!c.open) return;
  if (!echo_frames(c)) return;
  flush(c);
}

void accept_all(int lfd) {
  for (;;) {
    int fd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    if (static_cast<size_t>(fd) >= g_conns.size()) g_conns.resize(static_cast<size_t>(fd) * 2 + 1);
    auto c = std::make_unique<Conn>();
    c->fd = fd;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(g_ep, EPOLL_CTL_ADD, fd, &ev);
    g_conns[static_cast<size_t>(fd)] = std::move(c);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string_view(argv[i]) == "--port") port = std::atoi(argv[i + 1]);
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
    std::perror("ws_floor_echo: bind/listen");
    return 2;
  }
  socklen_t alen = sizeof a;
  getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &alen);
  std::fprintf(stderr, "ws_floor_echo: listening on ws://127.0.0.1:%u\n", ntohs(a.sin_port));
  g_ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = lfd;
  epoll_ctl(g_ep, EPOLL_CTL_ADD, lfd, &ev);
  g_conns.resize(1024);
  epoll_event evs[512];
  for (;;) {
    int n = epoll_wait(g_ep, evs, 512, -1);
    for (int i = 0; i < n; ++i) {
      int fd = evs[i].data.fd;
      if (fd == lfd) { accept_all(lfd); continue; }
      Conn* c = g_conns[static_cast<size_t>(fd)].get();
      if (!c) continue;
      if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(*c);
      c = g_conns[static_cast<size_t>(fd)].get();
      if (c && (evs[i].events & EPOLLOUT)) flush(*c);
    }
  }
}
