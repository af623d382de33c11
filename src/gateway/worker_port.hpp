// Worker::Port: the worker's side of ConnIo for one connection (a slot index and its Connection),
// made on the stack where a route is called. Routes see only ConnIo; the worker's own code may use
// the extras below (whether a write failed inside a parser feed).
#pragma once

#include "ringgate/gateway/conn_io.hpp"
#include "ringgate/gateway/worker.hpp"

namespace ringgate::gateway {

class Worker::Port final : public ConnIo {
 public:
  Port(Worker& w, std::uint32_t index, Connection& conn) noexcept : w_(w), index_(index), conn_(conn) {}

  bool send(ws::Opcode op, std::span<const std::uint8_t> payload) noexcept override;
  bool write(std::string_view bytes) noexcept override;
  void close(std::uint16_t code, std::string_view reason) noexcept override;
  void end_response(bool keep_alive) noexcept override;
  void pause_reading() noexcept override;
  void resume_reading() noexcept override;
  void arm_deadline(std::uint64_t ms) noexcept override;
  std::uint64_t token() const noexcept override { return w_.conn_token(index_); }
  std::uint64_t held_bytes() const noexcept override { return w_.held_bytes(index_, conn_); }
  std::uint8_t& route_bits() noexcept override { return conn_.route_bits; }
  bool stash(std::span<const std::uint8_t> bytes, std::size_t limit, std::size_t padding) noexcept override;
  std::span<std::uint8_t> stashed() noexcept override;
  void unstash(std::size_t n) noexcept override;
  bool draining() const noexcept override { return w_.draining_; }

  // Inside a parser feed a failed write only marks the port (the feed ends, then the worker closes
  // with 1011); elsewhere it tears the connection down at once.
  bool in_feed = false;
  bool failed = false;

 private:
  void write_failed() noexcept;

  Worker& w_;
  std::uint32_t index_;
  Connection& conn_;
};

}  // namespace ringgate::gateway
