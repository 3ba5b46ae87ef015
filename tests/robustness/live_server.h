// The red-team suite's view of a server under attack: which binary (worker, compiler,
// kvstore), how to start it, and CheckServing(), the one definition of "still alive" every
// scenario asserts after its attack: the process runs, grpc.health.v1 says SERVING, GET
// /metrics is 200 Prometheus text, and a real call of the server's own API returns the right
// values (worker: session, upload, operator, download; compiler: infer_shape; kvstore: init,
// pull).
//
//   auto server = StartServer(ServerKind::kKVStore);
//   ASSERT_TRUE(server.ok()) << server.status();
//   ... attack (*server) ...
//   const absl::Status alive = CheckServing(**server, ServerKind::kKVStore);
//   EXPECT_TRUE(alive.ok()) << alive;
//
// Thread-safety: the functions are thread-safe; a ServerProcess is as process.h says.
#ifndef MXGRID_TESTS_ROBUSTNESS_LIVE_SERVER_H_
#define MXGRID_TESTS_ROBUSTNESS_LIVE_SERVER_H_

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/integration/process.h"

namespace mxgrid::robustness {

enum class ServerKind { kWorker, kCompiler, kKVStore };

// "worker", "compiler", "kvstore" (test names and logs).
std::string KindName(ServerKind kind);
// The workspace-relative path of the kind's binary.
std::string KindBinary(ServerKind kind);
inline std::ostream& operator<<(std::ostream& os, ServerKind kind) { return os << KindName(kind); }

// Starts the kind's binary on loopback (ServerProcess::Start) with `args` added. A worker
// started without --compiler plans in its own process (and also serves mxgrid.v1.Compiler).
absl::StatusOr<std::unique_ptr<integration::ServerProcess>> StartServer(
    ServerKind kind, std::vector<std::string> args = {});

// OK when the process still runs, answers health SERVING, serves
// GET /metrics with 200 and Prometheus text, and does real work with the right values.
// Otherwise the first failure: how the process ended (exit status, signal name) with the
// end of its log, or which probe failed and how.
absl::Status CheckServing(integration::ServerProcess& server, ServerKind kind);

// "exited with status 139 (SIGSEGV)"-style text for an exit status from process.h.
std::string DescribeExit(int exit_status);

}  // namespace mxgrid::robustness

#endif  // MXGRID_TESTS_ROBUSTNESS_LIVE_SERVER_H_
