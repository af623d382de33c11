// ws_floor_echo: the smallest WebSocket echo server we could write, as a same-run calibration floor
// for bench/run-echo.sh (the role the raw TCP echo plays in shared/research/perf-anchors.md).
// One thread, level-triggered epoll, one recv per readiness event, every frame of that read echoed
// by one send. No UTF-8 validation, no fragmentation, no limits beyond the buffer: it is NOT a
// server to use, only a bound on what one syscall pair per message costs here with WS framing.
// The epoll loop, upgrade and unmasking are shared with ws_floor_fanout (ws_floor.hpp).
//   ws_floor_echo [--port N]   (0 = kernel picks; prints "listening on ws://127.0.0.1:PORT")
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "ws_floor.hpp"

namespace {

using floor_ws::Conn;

// Echoes every complete frame in c.in; returns false when the connection was dropped.
bool echo_frames(Conn& c) {
  return floor_ws::for_each_frame(c, [&](uint8_t op, uint8_t* payload, size_t len) {
    uint8_t opcode = op == load::ws::kPing ? uint8_t{load::ws::kPong} : op;
    if (opcode != load::ws::kPong) floor_ws::queue_frame(c, opcode, payload, len);  // peer pongs not echoed
    if (op != load::ws::kClose) return true;
    if (floor_ws::flush(c)) floor_ws::drop(c);  // flush drops on a send error
    return false;
  });
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string_view(argv[i]) == "--port") port = std::atoi(argv[i + 1]);
  return floor_ws::serve("ws_floor_echo", port, echo_frames);
}
