#include "services/common/signals.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace mxgrid::services {
namespace {

// The pipe's write end while a watcher is installed, else -1. Read by the signal handler.
std::atomic<int> g_write_fd{-1};

constexpr unsigned char kStopByte = 0;  // written by ~SignalWatcher; signals write their number

void HandleSignal(int signo) {
  const int saved_errno = errno;
  const int fd = g_write_fd.load();
  if (fd >= 0) {
    const unsigned char byte = static_cast<unsigned char>(signo);
    // Non-blocking; if the pipe is full a shutdown is already pending.
    (void)!write(fd, &byte, 1);
  }
  errno = saved_errno;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SignalWatcher>> ShutdownOnSignals(Server* server) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe2 failed: ", strerror(errno)));
  }
  fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK);
  int expected = -1;
  if (!g_write_fd.compare_exchange_strong(expected, fds[1])) {
    close(fds[0]);
    close(fds[1]);
    return absl::FailedPreconditionError("ShutdownOnSignals: a SignalWatcher already exists");
  }
  std::unique_ptr<SignalWatcher> watcher(new SignalWatcher(server, fds[0], fds[1]));
  struct sigaction action {};
  action.sa_handler = HandleSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  if (sigaction(SIGTERM, &action, &watcher->old_term_) != 0 ||
      sigaction(SIGINT, &action, &watcher->old_int_) != 0) {
    return absl::InternalError(absl::StrCat("sigaction failed: ", strerror(errno)));
  }
  return watcher;
}

SignalWatcher::SignalWatcher(Server* server, int read_fd, int write_fd)
    : server_(server), read_fd_(read_fd), write_fd_(write_fd), thread_([this] { Run(); }) {}

SignalWatcher::~SignalWatcher() {
  sigaction(SIGTERM, &old_term_, nullptr);
  sigaction(SIGINT, &old_int_, nullptr);
  g_write_fd.store(-1);
  const unsigned char stop = kStopByte;
  while (write(write_fd_, &stop, 1) < 0 && (errno == EINTR || errno == EAGAIN)) {
  }
  thread_.join();
  close(read_fd_);
  close(write_fd_);
}

void SignalWatcher::Run() {
  bool shut_down = false;
  for (;;) {
    unsigned char byte = kStopByte;
    const ssize_t n = read(read_fd_, &byte, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || byte == kStopByte) return;
    if (shut_down) continue;
    spdlog::info("received {}, shutting down", strsignal(byte));
    shut_down = true;
    server_->Shutdown();
  }
}

}  // namespace mxgrid::services
