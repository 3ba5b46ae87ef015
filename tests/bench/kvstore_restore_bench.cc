// Restart-and-restore time of an mxgrid-kvstore shard from a snapshot of --bytes of values
// (default 1 GiB): writes the snapshot (through the shard's own Snapshotter code), restores it
// in this process, then starts the real binary with --state_dir and times it until SERVING
// (the shard restores before it serves) and until a JoinJob reports the restored keys.
//
//   bazel build -c opt //tests/bench:kvstore_restore_bench
//   bazel-bin/tests/bench/kvstore_restore_bench --bytes=1073741824 --keys=16
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "libs/engine/engine.h"
#include "libs/kvstore/job_table.h"
#include "libs/kvstore/snapshot_dir.h"
#include "libs/tensor/ndarray.h"
#include "proto/mxgrid/v1/kvstore.grpc.pb.h"
#include "tests/integration/process.h"

ABSL_FLAG(int64_t, bytes, int64_t{1} << 30, "bytes of float32 values in the snapshot");
ABSL_FLAG(int, keys, 16, "keys the values are split into");
ABSL_FLAG(bool, momentum, false, "also snapshot sgd momentum state (doubles the bytes)");
ABSL_FLAG(std::string, state_dir, "", "where to write the snapshot (default: a temp dir)");

namespace mxgrid {
namespace {

double Seconds(absl::Time since) { return absl::ToDoubleSeconds(absl::Now() - since); }

int Run() {
  const int64_t bytes = absl::GetFlag(FLAGS_bytes);
  const int keys = absl::GetFlag(FLAGS_keys);
  if (bytes < 4 * keys || keys < 1) {
    std::fprintf(stderr, "need --keys >= 1 and --bytes >= 4 * keys\n");
    return 2;
  }
  std::string dir = absl::GetFlag(FLAGS_state_dir);
  if (dir.empty()) {
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/kvstore_restore_bench");
  }
  if (std::system(absl::StrCat("rm -rf '", dir, "'").c_str()) != 0) return 1;

  // A trained-looking job: `keys` int keys of equal size.
  std::vector<kvstore::JobSnapshot> jobs;
  {
    kvstore::JobTable table({.num_workers = 1});
    absl::StatusOr<std::shared_ptr<kvstore::Job>> job = table.Join({.job = "bench", .rank = 0});
    if (!job.ok()) return 1;
    const int64_t n = bytes / 4 / keys;
    if (absl::GetFlag(FLAGS_momentum)) {
      (void)(*job)->SetOptimizer(0, "sgd", {{"learning_rate", "0.1"}, {"momentum", "0.9"}});
    }
    for (int k = 0; k < keys; ++k) {
      absl::StatusOr<tensor::NDArray> value = tensor::NDArray::Full({n}, 0.5 + k);
      if (!value.ok()) return 1;
      absl::Status s = (*job)->Init({absl::StrCat(k), 0}, 0, k, *value).status();
      if (s.ok()) s = (*job)->Push({absl::StrCat(k), 0}, 0, {*value}, {});
      if (!s.ok()) {
        std::fprintf(stderr, "%s\n", s.ToString().c_str());
        return 1;
      }
    }
    // The setup's engine work (fills, copies) finishes before the capture is timed.
    for (int k = 0; k < keys; ++k) {
      if (!(*job)->Pull({absl::StrCat(k), 0}, 0, std::nullopt, {}).ok()) return 1;
    }
    const absl::Time capture = absl::Now();
    absl::StatusOr<std::vector<kvstore::JobSnapshot>> captured = table.CaptureAll();
    if (!captured.ok()) return 1;
    std::printf("capture_seconds %.3f\n", Seconds(capture));
    const absl::Time write = absl::Now();
    absl::StatusOr<kvstore::SnapshotFile> file = kvstore::WriteSnapshotFile(dir, *captured);
    if (!file.ok()) {
      std::fprintf(stderr, "%s\n", file.status().ToString().c_str());
      return 1;
    }
    std::printf("write_seconds %.3f (%lld bytes, fsync'd)\n", Seconds(write),
                static_cast<long long>(file->bytes));
  }
  {
    const absl::Time load = absl::Now();
    kvstore::LoadedSnapshot loaded = kvstore::LoadNewestSnapshot(dir);
    kvstore::JobTable table({.num_workers = 1});
    if (loaded.path.empty() || !table.Restore(loaded.jobs).ok()) return 1;
    std::printf("in_process_restore_seconds %.3f\n", Seconds(load));
  }
  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<integration::ServerProcess>> shard =
      integration::ServerProcess::Start({.binary = "services/kvstore/mxgrid-kvstore",
                                         .args = {"--state_dir=" + dir},
                                         .startup_timeout = absl::Minutes(10),
                                         .name = "restore-bench"});
  if (!shard.ok()) {
    std::fprintf(stderr, "%s\n", shard.status().ToString().c_str());
    return 1;
  }
  const double serving = Seconds(start);
  auto stub = v1::KVStore::NewStub((*shard)->NewChannel());
  v1::JoinJobRequest request;
  request.set_job("bench");
  v1::JoinJobResponse response;
  grpc::ClientContext context;
  const grpc::Status s = stub->JoinJob(&context, request, &response);
  std::printf("restart_and_restore_seconds %.3f (SERVING %.3f; JoinJob: %s, %d keys at round %lld)\n",
              Seconds(start), serving, s.ok() ? "ok" : s.error_message().c_str(),
              response.restored_keys(), static_cast<long long>(response.restored_round()));
  (void)(*shard)->Stop();
  shard->reset();
  if (std::system(absl::StrCat("rm -rf '", dir, "'").c_str()) != 0) {
    std::fprintf(stderr, "could not remove %s\n", dir.c_str());
  }
  return s.ok() && response.restored_keys() == keys ? 0 : 1;
}

}  // namespace
}  // namespace mxgrid

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int code = mxgrid::Run();
  mxgrid::engine::DrainProcessEngine();
  return code;
}
