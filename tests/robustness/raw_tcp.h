// RawTcp: one plain loopback TCP connection driven byte by byte, for attacks that
// integration::HttpExchange (one request, read to close) cannot express: several requests on
// one connection, a request sent in pieces, a connection held open while others run.
//
//   absl::StatusOr<RawTcp> c = RawTcp::Connect(server.metrics_port());
//   c->Send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
//   std::string first = c->ReadHttpResponse(absl::Seconds(2));
//
// Thread-safety: thread-compatible. Closes the socket on destruction.
#ifndef MXGRID_TESTS_ROBUSTNESS_RAW_TCP_H_
#define MXGRID_TESTS_ROBUSTNESS_RAW_TCP_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace mxgrid::robustness {

class RawTcp {
 public:
  static absl::StatusOr<RawTcp> Connect(int port) {
    RawTcp c(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (c.fd_ < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c.fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      return absl::UnavailableError(
          absl::StrCat("connect to port ", port, ": ", std::strerror(errno)));
    }
    return c;
  }

  RawTcp(RawTcp&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)), buffered_(std::move(other.buffered_)) {}
  RawTcp& operator=(RawTcp&& other) noexcept {
    std::swap(fd_, other.fd_);
    std::swap(buffered_, other.buffered_);
    return *this;
  }
  ~RawTcp() { Close(); }

  // Sends all of `bytes`; false when the peer closed or reset the connection first.
  bool Send(absl::string_view bytes) {
    for (size_t sent = 0; sent < bytes.size();) {
      const ssize_t n = send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }
  // No more bytes from this side (the peer reads end of file).
  void ShutdownWrite() { shutdown(fd_, SHUT_WR); }

  // Whatever arrives until the peer closes or `timeout` passes.
  std::string ReadUntilClose(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (ReadSome(deadline)) {
    }
    return std::exchange(buffered_, "");
  }

  // One HTTP response: its headers and Content-Length bytes of body (or, without a
  // Content-Length, everything until the peer closes). Less when the peer closes or
  // `timeout` passes first; "" when nothing arrived.
  std::string ReadHttpResponse(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    size_t end_of_headers;
    while ((end_of_headers = buffered_.find("\r\n\r\n")) == std::string::npos) {
      if (!ReadSome(deadline)) return std::exchange(buffered_, "");
    }
    end_of_headers += 4;
    const std::string headers = absl::AsciiStrToLower(buffered_.substr(0, end_of_headers));
    const size_t cl = headers.find("\r\ncontent-length:");
    size_t body = 0;
    if (cl == std::string::npos ||
        !absl::SimpleAtoi(absl::StripAsciiWhitespace(absl::string_view(headers).substr(
                              cl + 17, headers.find("\r\n", cl + 2) - cl - 17)),
                          &body)) {
      return ReadUntilClose(deadline - absl::Now());
    }
    while (buffered_.size() < end_of_headers + body && ReadSome(deadline)) {
    }
    const size_t take = std::min(buffered_.size(), end_of_headers + body);
    std::string response = buffered_.substr(0, take);
    buffered_.erase(0, take);
    return response;
  }

  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  explicit RawTcp(int fd) : fd_(fd) {}

  // Appends what one read returns; false on close, reset or the deadline.
  bool ReadSome(absl::Time deadline) {
    while (true) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      pollfd p{fd_, POLLIN, 0};
      const int ready = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) return false;
      char buffer[16384];
      const ssize_t n = read(fd_, buffer, sizeof(buffer));
      if (n <= 0) return false;
      buffered_.append(buffer, static_cast<size_t>(n));
      return true;
    }
  }

  int fd_ = -1;
  std::string buffered_;
};

}  // namespace mxgrid::robustness

#endif  // MXGRID_TESTS_ROBUSTNESS_RAW_TCP_H_
