// ShutdownOnSignals: SIGTERM and SIGINT shut a Server down cleanly (drain, then stop).
//
// The signal handler only writes one byte to a pipe (async-signal-safe); a watcher thread
// owned by the returned SignalWatcher reads it and calls Server::Shutdown(). Destroy the
// watcher before the server (declare it after), which restores the previous handlers.
//
//   auto server = Server::Start(options, {&service});
//   auto signals = ShutdownOnSignals(server->get());
//   if (!signals.ok()) { ... }
//   (*server)->Wait();
//
// Thread-safety: at most one SignalWatcher exists at a time (signal handlers are
// process-wide); create and destroy it from one thread.
#ifndef MXGRID_SERVICES_COMMON_SIGNALS_H_
#define MXGRID_SERVICES_COMMON_SIGNALS_H_

#include <signal.h>

#include <memory>
#include <thread>

#include "absl/status/statusor.h"
#include "services/common/server.h"

namespace mxgrid::services {

class SignalWatcher {
 public:
  // Restores the previous SIGTERM/SIGINT handlers and joins the watcher thread.
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

 private:
  friend absl::StatusOr<std::unique_ptr<SignalWatcher>> ShutdownOnSignals(Server* server);
  SignalWatcher(Server* server, int read_fd, int write_fd);
  void Run();

  Server* const server_;
  const int read_fd_;
  const int write_fd_;
  struct sigaction old_term_ {};
  struct sigaction old_int_ {};
  std::thread thread_;
};

// Installs SIGTERM/SIGINT handlers that call server->Shutdown() (not owned; must outlive
// the watcher). Errors: FailedPrecondition if another SignalWatcher exists; Internal if
// the pipe or handlers cannot be created.
absl::StatusOr<std::unique_ptr<SignalWatcher>> ShutdownOnSignals(Server* server);

}  // namespace mxgrid::services

#endif  // MXGRID_SERVICES_COMMON_SIGNALS_H_
