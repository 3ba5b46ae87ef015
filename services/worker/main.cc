// mxgrid-worker: the compute worker (mxgrid.v1.Worker) — NDArrays by handle in sessions,
// imperative operators on the dependency engine, executors bound from the compiler's plans
// and the local KVStore; the parameter-server client of dist KVStores (--kvstore). Without
// --compiler it serves mxgrid.v1.Compiler itself and plans in-process.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "libs/gpu/gpu.h"
#include "libs/base/parallelism.h"
#include "libs/base/status_macros.h"
#include "libs/engine/engine.h"
#include "libs/ops/builtin.h"
#include "libs/tensor/allocator.h"
#include "services/common/flags.h"
#include "services/common/gauges.h"
#include "services/compiler/compiler_service.h"
#include "services/worker/worker_service.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, compiler, "",
          "host:port of the mxgrid-compiler that makes execution plans for Bind. Empty: this "
          "worker also serves mxgrid.v1.Compiler and plans in its own process.");
ABSL_FLAG(absl::Duration, lease, absl::Seconds(60),
          "Lease of a session opened without one: its arrays are freed when no call touched "
          "it for this long.");
ABSL_FLAG(absl::Duration, max_lease, absl::Hours(24), "The longest lease a client may ask for.");
ABSL_FLAG(int64_t, session_memory_mb, 0,
          "Memory one session may hold (its arrays, handles and queued operations), in MiB. "
          "0: 80% of the worker's memory limit (MXGRID_CPU_MEMORY_LIMIT_MB), so that no one "
          "session can take all of it.");
ABSL_FLAG(int64_t, session_max_handles, 1000000, "Array handles one session may hold.");
ABSL_FLAG(int64_t, max_sessions, 0, "Sessions open at once on this worker; 0: no limit.");
ABSL_FLAG(int64_t, max_sessions_per_client, 0,
          "Sessions one client may hold at once (a client is its certificate's name under "
          "mutual TLS, else its address); 0: no limit.");
ABSL_FLAG(double, session_calls_per_second, 0,
          "Calls one session may make per second, in bursts of up to a second's worth; more "
          "are RESOURCE_EXHAUSTED. 0: no limit.");
ABSL_FLAG(int64_t, session_max_executors, 1024, "Bound executors one session may hold.");
ABSL_FLAG(int64_t, session_max_queued_ops, 8192,
          "Operations one session may have queued and unfinished; a call that would queue "
          "more waits (up to its deadline) for some to finish, then fails with "
          "RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, session_max_queued_mb, 4096,
          "Bytes (MiB) that one session's queued operations may write, limited the same way.");
ABSL_FLAG(int, compute_nice, 10,
          "Nice value of the threads that run operators (-20..19; MXGRID_CPU_WORKER_NICE "
          "overrides): they yield the CPU to the threads that answer requests, so that one "
          "session's heavy operators do not delay another's calls. 0 disables.");
ABSL_FLAG(std::string, kvstore, "",
          "mxgrid-kvstore shards for dist_* KVStores whose KVCreate names none: host:port,"
          "host:port,... in shard order, or one DNS name resolving to one address per shard "
          "(a Kubernetes headless service; addresses sorted). The worker is the "
          "parameter-server client: it pushes and pulls to the shards itself. Empty: dist "
          "stores need KVCreateRequest.shards.");
ABSL_FLAG(absl::Duration, kvstore_join_timeout, absl::Seconds(60),
          "How long a dist KVCreate may take to join the job on every shard (retrying shards "
          "that are not up yet).");
ABSL_FLAG(size_t, op_cache_entries, 4096,
          "Parsed operators (name + attributes) kept for repeated imperative calls.");

namespace {

// The session quotas from the --session_* flags; InvalidArgument for a value outside
// [0, 2^40].
absl::StatusOr<mxgrid::services::SessionQuotas> QuotasFromFlags() {
  for (const auto& [name, value] :
       {std::pair{"session_memory_mb", absl::GetFlag(FLAGS_session_memory_mb)},
        std::pair{"session_max_handles", absl::GetFlag(FLAGS_session_max_handles)},
        std::pair{"session_max_executors", absl::GetFlag(FLAGS_session_max_executors)},
        std::pair{"session_max_queued_ops", absl::GetFlag(FLAGS_session_max_queued_ops)},
        std::pair{"session_max_queued_mb", absl::GetFlag(FLAGS_session_max_queued_mb)}}) {
    if (value < 0 || value > (int64_t{1} << 40)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, " must be in [0, 2^40], got ", value));
    }
  }
  mxgrid::services::SessionQuotas quotas;
  const int64_t memory_mb = absl::GetFlag(FLAGS_session_memory_mb);
  quotas.max_memory_bytes = memory_mb > 0 ? memory_mb << 20
                                          : mxgrid::tensor::HostMemoryAccount()->limit() / 5 * 4;
  quotas.max_handles = absl::GetFlag(FLAGS_session_max_handles);
  quotas.max_executors = absl::GetFlag(FLAGS_session_max_executors);
  quotas.max_queued_ops = absl::GetFlag(FLAGS_session_max_queued_ops);
  quotas.max_queued_bytes = absl::GetFlag(FLAGS_session_max_queued_mb) << 20;
  return quotas;
}

// Configures the process's engine from the environment and --compute_nice (which
// MXGRID_CPU_WORKER_NICE overrides). InvalidArgument for a malformed value.
absl::Status ConfigureEngineFromFlags() {
  MXGRID_ASSIGN_OR_RETURN(mxgrid::engine::EngineOptions engine,
                          mxgrid::engine::EngineOptionsFromEnv());
  if (std::getenv("MXGRID_CPU_WORKER_NICE") == nullptr) {
    const int nice = absl::GetFlag(FLAGS_compute_nice);
    if (nice < -20 || nice > 19) {
      return absl::InvalidArgumentError(
          absl::StrCat("--compute_nice must be in [-20, 19], got ", nice));
    }
    engine.cpu_worker_nice = nice;
  }
  return mxgrid::engine::ConfigureProcessEngine(engine);
}

}  // namespace

int main(int argc, char** argv) {
  mxgrid::services::ServerOptions options = mxgrid::services::ParseServerFlags(
      argc, argv, "mxgrid-worker",
      "Holds MXNet NDArrays in sessions, runs operators and executors, hosts the local "
      "KVStore, over gRPC.");
  mxgrid::services::WorkerOptions worker;
  worker.sessions.default_lease = absl::GetFlag(FLAGS_lease);
  worker.sessions.max_lease = absl::GetFlag(FLAGS_max_lease);
  absl::StatusOr<mxgrid::services::SessionQuotas> quotas = QuotasFromFlags();
  const absl::Status flags = quotas.ok() ? ConfigureEngineFromFlags() : quotas.status();
  if (!flags.ok()) {
    std::fprintf(stderr, "mxgrid-worker: %s\n", std::string(flags.message()).c_str());
    return 2;
  }
  worker.sessions.quotas = *quotas;
  worker.sessions.max_sessions = absl::GetFlag(FLAGS_max_sessions);
  worker.sessions.max_sessions_per_client = absl::GetFlag(FLAGS_max_sessions_per_client);
  worker.sessions.calls_per_second = absl::GetFlag(FLAGS_session_calls_per_second);
  if (worker.sessions.max_sessions < 0 || worker.sessions.max_sessions_per_client < 0 ||
      !(worker.sessions.calls_per_second >= 0)) {
    std::fprintf(stderr, "mxgrid-worker: --max_sessions, --max_sessions_per_client and "
                         "--session_calls_per_second must be >= 0\n");
    return 2;
  }
  // While several sessions are active, a kernel leaves a core to the threads answering the
  // others (libs/base/parallelism.h).
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  worker.sessions.on_active_sessions = [cores](int active) {
    mxgrid::base::SetKernelThreadLimit(active > 1 ? std::max(1, cores - 1) : 0);
  };
  worker.sessions.on_session_memory_released = [] {
    mxgrid::tensor::ReleaseCachedHostMemory();
    spdlog::debug("a closed session's memory drained: cached host memory given back");
  };
  worker.op_cache_entries = absl::GetFlag(FLAGS_op_cache_entries);
  worker.max_message_bytes = options.max_message_bytes;
  if (const std::string shards = absl::GetFlag(FLAGS_kvstore); !shards.empty()) {
    worker.kvstore_shards = {shards};
  }
  worker.shard_connection.max_message_bytes = options.max_message_bytes;
  // The worker's own channels (compiler, shards) use its TLS material and token too.
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      mxgrid::services::MakeChannelCredentials(options.security);
  if (!credentials.ok()) {
    spdlog::critical("{}", credentials.status().ToString());
    return 1;
  }
  worker.shard_connection.credentials = *credentials;
  worker.kvstore_join_timeout = absl::GetFlag(FLAGS_kvstore_join_timeout);
  auto service =
      std::make_unique<mxgrid::services::WorkerService>(&mxgrid::ops::GlobalRegistry(), worker);

  const std::string compiler_address = absl::GetFlag(FLAGS_compiler);
  std::unique_ptr<mxgrid::services::CompilerService> local_compiler;
  std::vector<grpc::Service*> services = {service.get()};
  if (compiler_address.empty()) {
    local_compiler = std::make_unique<mxgrid::services::CompilerService>(
        &mxgrid::ops::GlobalRegistry(), /*plan_cache_entries=*/256,
        /*symbol_cache_entries=*/size_t{1} << 17);
    services.push_back(local_compiler.get());
  } else {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(options.max_message_bytes);
    args.SetMaxSendMessageSize(options.max_message_bytes);
    service->SetCompiler(grpc::CreateCustomChannel(compiler_address, *credentials, args));
  }
  const int code =
      mxgrid::services::RunServer(options, services, [&](mxgrid::services::Server* server) {
        if (local_compiler) service->SetCompiler(server->InProcessChannel());
        // Each GPU is a name in the health service ("gpu(0)", ...): NOT_SERVING once a
        // sticky CUDA error made it unusable (the worker goes on serving its other devices).
        for (int id = 0; id < mxgrid::gpu::DeviceCount(); ++id) {
          server->SetServingStatus(mxgrid::Context::Gpu(id).ToString(), true);
        }
        mxgrid::gpu::SetUnhealthyListener([server](int device, const std::string& reason) {
          spdlog::error("gpu({}) is unhealthy: {}", device, reason);
          server->SetServingStatus(mxgrid::Context::Gpu(device).ToString(), false);
        });
        if (mxgrid::gpu::DeviceCount() == 0) {
          spdlog::info("no GPUs: {}", mxgrid::gpu::NoDeviceReason());
        }
        auto gauges = std::make_shared<mxgrid::services::SampledGauges>();
        service->AddGauges(gauges.get());
        server->AddCollectable(gauges);
      });
  // The sessions go first (their queued work cancelled), then what is running finishes:
  // exit destroys the kernels' libraries under any operation still on the engine.
  service.reset();
  mxgrid::engine::DrainProcessEngine();
  return code;
}
