// FuzzPass: fuzzes every gRPC method of one running server (grpc_methods.h finds them,
// message_fuzzer.h makes the requests) for a bounded time per method, and judges each call:
//   - every call ends with some status (each has a deadline; DEADLINE_EXCEEDED is a finding
//     except for calls that stream forever by design, grpc.health.v1.Health/Watch);
//   - the server (and its peers) stay alive: a death is a finding with the seeds of the
//     calls just before it, and the servers are restarted so the pass can go on;
//   - no UNKNOWN (a handler threw), no INTERNAL for a request that parses (gRPC itself
//     answers INTERNAL for bytes that do not parse), no UNIMPLEMENTED for a listed method,
//     no DATA_LOSS, no UNAVAILABLE or CANCELLED from a live server, and no error message so
//     long that the client cannot receive it.
// Findings are reported as gtest failures (deduplicated by code and message start; error
// messages too long to receive count as one finding, whatever the method) with their seeds; every call's code is tallied and printed per method.
//
// Environment (for replays and longer runs):
//   MXGRID_FUZZ_SECONDS  time per method (default 0.6); MXGRID_FUZZ_CALLS  calls per
//   method at most (default 2000); MXGRID_FUZZ_METHOD  only methods whose path contains it;
//   MXGRID_FUZZ_SEEDS  comma-separated seeds: exactly these calls, in this order.
// Requests that preceded a death are written to $TEST_UNDECLARED_OUTPUTS_DIR.
//
// Thread-safety: thread-compatible; run from the thread that started the servers.
#ifndef MXGRID_TESTS_ROBUSTNESS_FUZZ_PASS_H_
#define MXGRID_TESTS_ROBUSTNESS_FUZZ_PASS_H_

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/integration/process.h"
#include "tests/robustness/grpc_methods.h"
#include "tests/robustness/live_server.h"
#include "tests/robustness/message_fuzzer.h"

namespace mxgrid::robustness {

struct FuzzTarget {
  ServerKind kind;
  // Starts the server (and any peers it needs); called again after a death.
  std::function<absl::StatusOr<std::unique_ptr<integration::ServerProcess>>()> start;
  // Live state for hinted requests (a session with arrays, an executor, a store, ...); built
  // before each method's calls.
  std::function<absl::StatusOr<FuzzHints>(integration::ServerProcess&)> hints;
  // Processes the server depends on (the worker's compiler), as `start` left them: their
  // death is a finding too, and `start` restarts them.
  std::function<std::vector<integration::ServerProcess*>()> peers = [] {
    return std::vector<integration::ServerProcess*>();
  };
};

class FuzzPass {
 public:
  explicit FuzzPass(FuzzTarget target);
  // Fuzzes every method; reports findings as gtest failures; then expects CheckServing OK.
  void Run();

 private:
  struct Finding {
    std::vector<std::string> examples;  // "method seed N (request kind)" of the first calls
    std::set<std::string> methods;
    int count = 0;
  };

  void FuzzMethod(const Method& method);
  // A finding text for `result`, or "" when the answer is acceptable.
  std::string Judge(const Method& method, const CallResult& result, bool all_parse) const;
  // True (and the death reported, the servers restarted) when the server or a peer died.
  bool ReportDeath(const Method& method, uint64_t seed, const std::vector<std::string>& messages);
  // Records a finding; the same `what` from several calls or methods is one finding.
  void Note(const std::string& what, const Method& method, uint64_t seed,
            const std::string& request_kind);

  FuzzTarget target_;
  std::unique_ptr<integration::ServerProcess> server_;
  MethodCatalog catalog_;
  std::map<std::string, std::map<int, int>> codes_;  // path -> code -> calls
  std::map<std::string, Finding> findings_;
  std::vector<std::pair<std::string, uint64_t>> recent_;  // (path, seed) of the last calls
  int deaths_ = 0;
};

}  // namespace mxgrid::robustness

#endif  // MXGRID_TESTS_ROBUSTNESS_FUZZ_PASS_H_
