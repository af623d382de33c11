// The publishers of `ringgate-load fanout --via api`: P keep-alive HTTP/1.1 connections to the
// gateway's publish API (POST /publish, Authorization: Bearer TOKEN), driven by one thread with
// poll(). Requests are paced by time like the WebSocket publishers (publisher p sends R / P per
// second, message n to topic (n * P + p) % T) and pipelined: a slow answer never slows the rate.
// Answers come back in request order per connection, so a FIFO of topics per connection maps each
// 200 {"delivered":N,"seq":S} to its topic. Anything else (non-200, unparsable, connection lost
// with requests outstanding) counts as a publish error. A seq of 0 (external broker: the number
// is not known at answer time) keeps the request's send time instead, for the check by count.
// Plain TCP only (the API has no TLS).
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "worker.hpp"

namespace ringgate::load {

class ApiPublisher {
 public:
  ApiPublisher(const Options& o, const WorkerShared& shared) : o_(o), shared_(shared) {}
  ~ApiPublisher() { join(); }
  void start();
  void join();

  std::atomic<std::uint64_t> published{0}, acked{0}, errors{0}, expected{0}, connected{0};
  // Valid after join():
  const std::vector<std::vector<std::uint64_t>>& acked_by_topic() const noexcept { return acked_; }
  const std::vector<std::vector<std::uint64_t>>& unnumbered_by_topic() const noexcept { return unnumbered_; }
  const std::string& first_error() const noexcept { return first_error_; }

  // Parses complete responses at the front of `in` (consumed ones are erased); per response calls
  // on_response(status, body). Returns false on a malformed head (the connection is then useless).
  template <class F>
  static bool parse_responses(std::string& in, F&& on_response);

 private:
  struct Conn {
    int fd = -1;
    std::uint32_t p = 0;
    std::uint64_t sent = 0;
    std::string out, in;
    struct Sent {
      std::uint32_t topic;
      std::uint64_t t_ns;
    };
    std::deque<Sent> topics;  // outstanding requests, oldest first
  };
  void run();
  bool connect_all();
  void send_due(std::uint64_t now);
  void on_readable(Conn& c);
  void lost(Conn& c, const char* why);
  void note_error(std::string why);
  void append_request(Conn& c);

  const Options& o_;
  const WorkerShared& shared_;
  std::thread thread_;
  std::vector<Conn> conns_;
  std::vector<std::vector<std::uint64_t>> acked_;
  std::vector<std::vector<std::uint64_t>> unnumbered_;  // per topic: send times of seq-0 answers
  std::string first_error_;
  bool burst_done_ = false;
};

template <class F>
bool ApiPublisher::parse_responses(std::string& in, F&& on_response) {
  std::size_t at = 0;
  for (;;) {
    std::size_t end = in.find("\r\n\r\n", at);
    if (end == std::string::npos) break;
    std::string_view head(in.data() + at, end - at);
    if (head.size() < 12 || head.substr(0, 5) != "HTTP/") return false;
    int status = std::atoi(std::string(head.substr(9, 3)).c_str());
    std::size_t length = 0;
    for (std::size_t pos = head.find("\r\n"); pos != std::string_view::npos;) {
      std::size_t next = head.find("\r\n", pos + 2);
      std::string_view line = head.substr(pos + 2, next == std::string_view::npos ? std::string_view::npos : next - pos - 2);
      if (line.size() > 15) {
        std::string name(line.substr(0, 15));
        for (char& ch : name) ch = char(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
        if (name == "content-length:") length = std::size_t(std::strtoull(std::string(line.substr(15)).c_str(), nullptr, 10));
      }
      pos = next;
    }
    if (in.size() < end + 4 + length) break;
    on_response(status, std::string_view(in.data() + end + 4, length));
    at = end + 4 + length;
  }
  in.erase(0, at);
  return true;
}

}  // namespace ringgate::load
