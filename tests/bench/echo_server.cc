// The bare gRPC peer of net_bench and fairness_bench: mxgrid.bench.Echo (echo.proto) served
// in a process of its own, as a gRPC service runs for its users. An in-process peer shares
// the benchmark client's gRPC pollers, which made it faster and the worker's calls slower
// than either is alone.
//
//   echo_server --address=127.0.0.1:0 [--metrics_address=...]
//
// Serves grpc.health.v1 (SERVING once started), so tests/integration/process.h can start it
// like the mxgrid servers; it serves no metrics (--metrics_address is accepted for that
// launcher and ignored). Runs until SIGTERM or SIGINT.
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <signal.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/synchronization/mutex.h"
#include "tests/bench/echo.grpc.pb.h"

ABSL_FLAG(std::string, address, "127.0.0.1:0", "host:port to serve on");
ABSL_FLAG(std::string, metrics_address, "", "ignored (no metrics are served)");

namespace mxgrid::bench {
namespace {

constexpr int64_t kStreamBytes = int64_t{256} << 20;

// No work beyond what the transport needs (copy chunks in / out of a buffer).
class EchoService final : public Echo::Service {
 public:
  grpc::Status Ping(grpc::ServerContext*, const PingRequest* request,
                    PingResponse* response) override {
    response->mutable_data()->assign(static_cast<size_t>(request->response_bytes()), 'x');
    return grpc::Status::OK;
  }
  grpc::Status Upload(grpc::ServerContext*, grpc::ServerReader<Chunk>* reader,
                      UploadResponse* response) override {
    Chunk chunk;
    int64_t total = 0;
    while (reader->Read(&chunk)) {
      const int64_t end = chunk.offset() + static_cast<int64_t>(chunk.data().size());
      if (chunk.offset() < 0 || end > kStreamBytes) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "chunk out of range");
      }
      std::memcpy(buffer_.data() + chunk.offset(), chunk.data().data(), chunk.data().size());
      total += static_cast<int64_t>(chunk.data().size());
    }
    response->set_total_bytes(total);
    return grpc::Status::OK;
  }
  grpc::Status Download(grpc::ServerContext*, const DownloadRequest* request,
                        grpc::ServerWriter<Chunk>* writer) override {
    const int64_t total = std::min(request->total_bytes(), kStreamBytes);
    if (request->chunk_bytes() <= 0) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "chunk_bytes must be positive");
    }
    Chunk chunk;
    for (int64_t offset = 0; offset < total; offset += request->chunk_bytes()) {
      const int64_t n = std::min(request->chunk_bytes(), total - offset);
      chunk.set_offset(offset);
      chunk.set_data(buffer_.data() + offset, static_cast<size_t>(n));
      if (!writer->Write(chunk)) break;
    }
    return grpc::Status::OK;
  }

 private:
  std::string buffer_ = std::string(static_cast<size_t>(kStreamBytes), '\1');  // one call at a time
};

int Serve() {
  // SIGTERM and SIGINT are blocked in every thread (gRPC's inherit the mask) and taken by
  // sigwait below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  EchoService service;
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::GetFlag(FLAGS_address), grpc::InsecureServerCredentials());
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) {
    std::fprintf(stderr, "echo_server: cannot serve on %s\n",
                 absl::GetFlag(FLAGS_address).c_str());
    return 1;
  }
  int signal = 0;
  sigwait(&stop_signals, &signal);
  server->Shutdown();
  return 0;
}

}  // namespace
}  // namespace mxgrid::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // As the mxgrid servers (services/common/flags.cc): no absl::Mutex deadlock graph.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return mxgrid::bench::Serve();
}
