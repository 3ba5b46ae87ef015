// ServerProcess: one real mxgrid server binary (compiler, kvstore, worker) running as a child
// process on loopback ports, for integration tests and benchmarks.
//
// Start() picks a free gRPC port and a free metrics port (bind port 0, read it, close it),
// runs the binary with `--address=127.0.0.1:PORT --metrics_address=127.0.0.1:MPORT` plus the
// caller's flags, sends its stdout and stderr to a log file (under $TEST_TMPDIR when set) and
// waits until grpc.health.v1 Check answers SERVING. A port taken between the probe and the
// server's bind ("address in use") is retried with fresh ports. Stop() sends SIGTERM, waits
// for the grace period, then SIGKILLs, and returns the exit status.
//
//   auto compiler = ServerProcess::Start({.binary = "services/compiler/mxgrid-compiler"});
//   ASSERT_TRUE(compiler.ok()) << compiler.status();
//   auto stub = v1::Compiler::NewStub((*compiler)->NewChannel());
//   ...
//   EXPECT_EQ(*(*compiler)->Stop(), 0);
//
// Binaries are found through Bazel runfiles (RunfilePath): list them as `data` of the test
// or benchmark. The child gets PR_SET_PDEATHSIG(SIGKILL), so a crashed test leaves no server
// behind; therefore start servers from a thread that outlives them (e.g. the main thread).
//
// Thread-safety: a ServerProcess is thread-compatible except Signal(), pid() and the
// accessors, which may be called from any thread. The free functions are thread-safe.
#ifndef MXGRID_TESTS_INTEGRATION_PROCESS_H_
#define MXGRID_TESTS_INTEGRATION_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"

namespace mxgrid::integration {

struct ServerProcessOptions {
  // Workspace-relative path of the binary, e.g. "services/worker/mxgrid-worker".
  std::string binary;
  // Extra flags, e.g. {"--num_workers=2", "--mode=sync"}.
  std::vector<std::string> args;
  // How long the server may take to answer health checks with SERVING.
  absl::Duration startup_timeout = absl::Seconds(30);
  // Short name for the log file; defaults to the binary's base name.
  std::string name;
};

class ServerProcess {
 public:
  // Starts the server and waits for SERVING. Errors: NotFound for a missing binary;
  // Unavailable when it exits or stays unhealthy (the message quotes the end of its log);
  // DeadlineExceeded after startup_timeout.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(ServerProcessOptions options);

  // SIGKILLs the process if it is still running and reaps it.
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // "127.0.0.1:PORT".
  std::string address() const;
  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }
  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }
  // The log so far (stdout and stderr), at most the last `max_bytes`.
  std::string Log(size_t max_bytes = 16384) const;

  // A new channel (its own TCP connection) with unlimited receive size.
  std::shared_ptr<grpc::Channel> NewChannel() const;

  // Sends `sig` to the running process.
  void Signal(int sig) const;
  // Waits until the process exits; its exit status, or 128 + signal number when a signal
  // killed it. DeadlineExceeded when it is still running after `timeout`.
  absl::StatusOr<int> WaitForExit(absl::Duration timeout);
  // SIGTERM, wait up to `grace`, then SIGKILL; the exit status as WaitForExit's.
  absl::StatusOr<int> Stop(absl::Duration grace = absl::Seconds(15));
  bool running() const { return !exited_; }

 private:
  ServerProcess() = default;

  pid_t pid_ = -1;
  int port_ = 0;
  int metrics_port_ = 0;
  std::string log_path_;
  bool exited_ = false;
  int exit_status_ = 0;
};

// The path of a runfile given its workspace-relative path, from TEST_SRCDIR / RUNFILES_DIR
// or the running binary's .runfiles tree; the relative path itself as a last resort.
std::string RunfilePath(absl::string_view workspace_relative);

// A loopback TCP port that was free a moment ago.
absl::StatusOr<int> PickFreePort();

// Runs a binary to completion (stdin closed, stdout+stderr captured).
struct RunResult {
  int exit_status = -1;  // 128 + signal when killed
  std::string output;
};
absl::StatusOr<RunResult> RunToCompletion(const std::string& binary,
                                          const std::vector<std::string>& args,
                                          absl::Duration timeout = absl::Seconds(30));

// grpc.health.v1.Health/Check of the whole server: 1 SERVING, 2 NOT_SERVING, -1 when the
// call fails. Debian ships no health stubs, so the messages are encoded by hand.
int HealthCheck(const std::shared_ptr<grpc::Channel>& channel,
                absl::Duration timeout = absl::Seconds(5));

// The services server reflection (grpc.reflection.v1alpha) lists.
absl::StatusOr<std::vector<std::string>> ReflectionListServices(
    const std::shared_ptr<grpc::Channel>& channel);

// HTTP GET of `path` on 127.0.0.1:port over a plain socket; the whole response.
absl::StatusOr<std::string> HttpGet(int port, absl::string_view path);

// Sends `request` verbatim (any bytes, not necessarily HTTP) to 127.0.0.1:port, then reads
// until the peer closes the connection or `timeout` has passed since the connect; returns
// what arrived (possibly nothing). A peer that closes or resets while the request is still
// being written is not an error: what it answered is returned. Unavailable when the
// connection cannot be made.
absl::StatusOr<std::string> HttpExchange(int port, absl::string_view request,
                                         absl::Duration timeout = absl::Seconds(30));

// The status code of an HTTP response's status line ("HTTP/1.1 404 Not Found" -> 404);
// -1 when `response` does not start with one.
int HttpStatusCode(absl::string_view response);

}  // namespace mxgrid::integration

#endif  // MXGRID_TESTS_INTEGRATION_PROCESS_H_
