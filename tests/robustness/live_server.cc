#include "tests/robustness/live_server.h"

#include <signal.h>
#include <string.h>

#include <atomic>
#include <cstdint>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "grpcpp/client_context.h"
#include "proto/mxgrid/v1/compiler.grpc.pb.h"
#include "proto/mxgrid/v1/kvstore.grpc.pb.h"
#include "tests/integration/wire.h"
#include "tests/integration/worker_client.h"

namespace mxgrid::robustness {
namespace {

using integration::Describe;
using integration::FloatTensor;
using integration::ServerProcess;
using integration::SetTimeout;

constexpr absl::Duration kCallTimeout = absl::Seconds(20);

absl::Status CallFailed(absl::string_view what, const grpc::Status& s) {
  return absl::UnavailableError(absl::StrCat(what, " failed: ", Describe(s)));
}

// Session, upload, elemwise_add, download, close.
absl::Status CheckWorkerWork(ServerProcess& server) {
  integration::WorkerClient w(server.NewChannel());
  if (grpc::Status s = w.Open(); !s.ok()) return CallFailed("OpenSession", s);
  uint64_t a = 0;
  if (grpc::Status s = w.UploadFloats({2, 2}, {1, 2, 3, 4}, &a); !s.ok()) {
    return CallFailed("Upload", s);
  }
  std::vector<uint64_t> out;
  if (grpc::Status s = w.Invoke("elemwise_add", {}, {a, a}, &out); !s.ok() || out.size() != 1) {
    return CallFailed("Invoke(elemwise_add)", s);
  }
  std::vector<float> values;
  if (grpc::Status s = w.DownloadFloats(out[0], &values); !s.ok()) {
    return CallFailed("Download", s);
  }
  if (values != std::vector<float>{2, 4, 6, 8}) {
    return absl::DataLossError(
        absl::StrCat("elemwise_add([1 2 3 4], same) = [", absl::StrJoin(values, " "), "]"));
  }
  if (grpc::Status s = w.Close(); !s.ok()) return CallFailed("CloseSession", s);
  return absl::OkStatus();
}

// infer_shape of the MLP with data (2, 3): output (2, 2).
absl::Status CheckCompilerWork(ServerProcess& server) {
  auto stub = v1::Compiler::NewStub(server.NewChannel());
  v1::InferShapeRequest request;
  request.mutable_symbol()->set_json(integration::MlpJson({.hidden = 4, .outputs = 2}));
  v1::PartialShape& data = (*request.mutable_shapes())["data"];
  data.set_known(true);
  data.add_dims(2);
  data.add_dims(3);
  v1::InferShapeResponse response;
  grpc::ClientContext context;
  SetTimeout(&context, kCallTimeout);
  if (grpc::Status s = stub->InferShape(&context, request, &response); !s.ok()) {
    return CallFailed("InferShape", s);
  }
  if (!response.complete() || response.out_shapes_size() != 1 ||
      response.out_shapes(0).dims_size() != 2 || response.out_shapes(0).dims(0) != 2 ||
      response.out_shapes(0).dims(1) != 2) {
    return absl::DataLossError(absl::StrCat("InferShape of the MLP: ", response.DebugString()));
  }
  return absl::OkStatus();
}

// In job "alive": init of a fresh key (an int key when the job holds int keys or none, else
// a string key: one job never mixes them), then a pull of it.
absl::Status CheckKVStoreWork(ServerProcess& server) {
  static std::atomic<int> counter{0};
  auto stub = v1::KVStore::NewStub(server.NewChannel());
  // Rank 0 of the one-worker job "alive" (a rejoin after the first check).
  {
    v1::JoinJobRequest request;
    request.set_job("alive");
    request.set_num_workers(1);
    v1::JoinJobResponse response;
    grpc::ClientContext context;
    SetTimeout(&context, kCallTimeout);
    if (grpc::Status s = stub->JoinJob(&context, request, &response); !s.ok()) {
      return CallFailed("JoinJob", s);
    }
  }
  v1::ListKeysResponse keys;
  {
    v1::ListKeysRequest request;
    request.set_job("alive");
    grpc::ClientContext context;
    SetTimeout(&context, kCallTimeout);
    if (grpc::Status s = stub->ListKeys(&context, request, &keys); !s.ok()) {
      return CallFailed("ListKeys", s);
    }
  }
  bool int_keys = true;
  for (const std::string& k : keys.keys()) {
    int64_t ignored;
    if (!absl::SimpleAtoi(k, &ignored) || absl::StrCat(ignored) != k) int_keys = false;
  }
  const int n = counter.fetch_add(1);
  const std::string key = int_keys ? absl::StrCat(900000000 + n) : absl::StrCat("alive_", n);
  {
    v1::InitRequest request;
    request.mutable_ref()->set_job("alive");
    request.mutable_ref()->set_key(key);
    *request.mutable_value() = FloatTensor({3}, {1.5f, -2, 7});
    v1::InitResponse response;
    grpc::ClientContext context;
    SetTimeout(&context, kCallTimeout);
    if (grpc::Status s = stub->Init(&context, request, &response); !s.ok()) {
      return CallFailed(absl::StrCat("Init(", key, ")"), s);
    }
  }
  v1::PullRequest request;
  request.mutable_ref()->set_job("alive");
  request.mutable_ref()->set_key(key);
  v1::PullResponse response;
  grpc::ClientContext context;
  SetTimeout(&context, kCallTimeout);
  if (grpc::Status s = stub->Pull(&context, request, &response); !s.ok()) {
    return CallFailed(absl::StrCat("Pull(", key, ")"), s);
  }
  const std::vector<float> values = integration::TensorFloats(response.value());
  if (values != std::vector<float>{1.5f, -2, 7}) {
    return absl::DataLossError(absl::StrCat("pulled [", absl::StrJoin(values, " "), "]"));
  }
  return absl::OkStatus();
}

// The probes of CheckServing, without the diagnosis of a dead process.
absl::Status Probe(ServerProcess& server, ServerKind kind) {
  if (server.WaitForExit(absl::ZeroDuration()).ok()) return absl::UnavailableError("exited");
  const int health = integration::HealthCheck(server.NewChannel());
  if (health != 1) {
    return absl::UnavailableError(
        absl::StrCat("health check answered ", health, " (1 is SERVING, -1 a failed call)"));
  }
  absl::StatusOr<std::string> metrics = integration::HttpExchange(
      server.metrics_port(), "GET /metrics HTTP/1.0\r\n\r\n", absl::Seconds(10));
  if (!metrics.ok()) return metrics.status();
  if (integration::HttpStatusCode(*metrics) != 200 || !absl::StrContains(*metrics, "# TYPE ")) {
    return absl::UnavailableError(
        absl::StrCat("GET /metrics answered '", metrics->substr(0, 200), "'"));
  }
  switch (kind) {
    case ServerKind::kWorker:
      return CheckWorkerWork(server);
    case ServerKind::kCompiler:
      return CheckCompilerWork(server);
    case ServerKind::kKVStore:
      return CheckKVStoreWork(server);
  }
  return absl::InternalError("unknown server kind");
}

}  // namespace

std::string KindName(ServerKind kind) {
  switch (kind) {
    case ServerKind::kWorker:
      return "worker";
    case ServerKind::kCompiler:
      return "compiler";
    case ServerKind::kKVStore:
      return "kvstore";
  }
  return "unknown";
}

std::string KindBinary(ServerKind kind) {
  return absl::StrCat("services/", KindName(kind), "/mxgrid-", KindName(kind));
}

absl::StatusOr<std::unique_ptr<ServerProcess>> StartServer(ServerKind kind,
                                                           std::vector<std::string> args) {
  return ServerProcess::Start({.binary = KindBinary(kind), .args = std::move(args)});
}

std::string DescribeExit(int exit_status) {
  if (exit_status > 128) {
    const int sig = exit_status - 128;
    const char* name = sigabbrev_np(sig);
    return absl::StrCat("was killed by signal ", sig, " (SIG", name != nullptr ? name : "?",
                        ", exit status ", exit_status, ")");
  }
  return absl::StrCat("exited with status ", exit_status);
}

absl::Status CheckServing(ServerProcess& server, ServerKind kind) {
  const std::string who = absl::StrCat("mxgrid-", KindName(kind), " (pid ", server.pid(), ")");
  absl::Status probes = Probe(server, kind);
  if (probes.ok()) return probes;
  // A process that is going down fails the probes before it can be reaped: say how it ended.
  absl::StatusOr<int> exited = server.WaitForExit(absl::Seconds(1));
  if (exited.ok()) {
    return absl::UnavailableError(absl::StrCat(who, " ", DescribeExit(*exited), "; log ",
                                               server.log_path(), ":\n", server.Log(3000)));
  }
  return absl::Status(probes.code(), absl::StrCat(who, ": ", probes.message()));
}

}  // namespace mxgrid::robustness
