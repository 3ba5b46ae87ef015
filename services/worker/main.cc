// mxgrid-worker: the compute worker (mxgrid.v1.Worker) — NDArrays by handle in sessions,
// imperative operators on the dependency engine, executors bound from the compiler's plans
// and the local KVStore. Without --compiler it serves mxgrid.v1.Compiler itself and plans
// in-process.
#include <cstddef>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/time/time.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "libs/ops/builtin.h"
#include "services/common/flags.h"
#include "services/common/gauges.h"
#include "services/compiler/compiler_service.h"
#include "services/worker/worker_service.h"

ABSL_FLAG(std::string, compiler, "",
          "host:port of the mxgrid-compiler that makes execution plans for Bind. Empty: this "
          "worker also serves mxgrid.v1.Compiler and plans in its own process.");
ABSL_FLAG(absl::Duration, lease, absl::Seconds(60),
          "Lease of a session opened without one: its arrays are freed when no call touched "
          "it for this long.");
ABSL_FLAG(absl::Duration, max_lease, absl::Hours(24), "The longest lease a client may ask for.");
ABSL_FLAG(size_t, op_cache_entries, 4096,
          "Parsed operators (name + attributes) kept for repeated imperative calls.");

int main(int argc, char** argv) {
  mxgrid::services::ServerOptions options = mxgrid::services::ParseServerFlags(
      argc, argv, "mxgrid-worker",
      "Holds MXNet NDArrays in sessions, runs operators and executors, hosts the local "
      "KVStore, over gRPC.");
  mxgrid::services::WorkerOptions worker;
  worker.sessions.default_lease = absl::GetFlag(FLAGS_lease);
  worker.sessions.max_lease = absl::GetFlag(FLAGS_max_lease);
  worker.op_cache_entries = absl::GetFlag(FLAGS_op_cache_entries);
  worker.max_message_bytes = options.max_message_bytes;
  mxgrid::services::WorkerService service(&mxgrid::ops::GlobalRegistry(), worker);

  const std::string compiler_address = absl::GetFlag(FLAGS_compiler);
  std::unique_ptr<mxgrid::services::CompilerService> local_compiler;
  std::vector<grpc::Service*> services = {&service};
  if (compiler_address.empty()) {
    local_compiler = std::make_unique<mxgrid::services::CompilerService>(
        &mxgrid::ops::GlobalRegistry(), /*plan_cache_entries=*/256);
    services.push_back(local_compiler.get());
  } else {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(options.max_message_bytes);
    args.SetMaxSendMessageSize(options.max_message_bytes);
    service.SetCompiler(grpc::CreateCustomChannel(
        compiler_address, grpc::InsecureChannelCredentials(), args));
  }
  return mxgrid::services::RunServer(options, services, [&](mxgrid::services::Server* server) {
    if (local_compiler) service.SetCompiler(server->InProcessChannel());
    auto gauges = std::make_shared<mxgrid::services::SampledGauges>();
    service.AddGauges(gauges.get());
    server->AddCollectable(gauges);
  });
}
