// Server: the gRPC server every mxgrid binary (worker, compiler, kvstore) runs.
//
// Start() builds and starts a grpc::Server with the given services plus what every mxgrid
// server offers: grpc.health.v1 health (SERVING while up, for the whole server "" and for
// each service by its full name, e.g. "mxgrid.v1.Worker"), server reflection v1 and v1alpha
// with the .proto files' comments and health's schema (so `grpcurl -plaintext host:port list`
// and `describe` document the protocol; internal/reflection_service.h), per-method Prometheus metrics
// (see internal/rpc_metrics.h) and an HTTP `/metrics` endpoint (loopback unless
// ServerOptions::metrics_address says otherwise; any other path is 404, requests are bounded
// in size and time). Every thread the process creates with an explicit stack size gets at
// least the usable stack it asked for (internal/thread_stacks.h). Shutdown() marks health
// NOT_SERVING, lets in-flight calls finish for `shutdown_grace`, cancels the rest and
// closes the port; the destructor then stops the metrics endpoint without waiting for its
// listener's poll interval. WriteBoundAddress tells a parent process (e.g. the Python
// client's LocalCluster, through --ready_fd) that the server is up and on which port.
//
//   auto server = mxgrid::services::Server::Start(options, {&compiler_service});
//   if (!server.ok()) { spdlog::critical("{}", server.status().ToString()); return 1; }
//   auto signals = mxgrid::services::ShutdownOnSignals(server->get());  // signals.h
//   (*server)->Wait();
//
// Thread-safety: all methods are thread-safe. REQUIRES: Shutdown() and the destructor are
// not called from inside an RPC handler of this server (they wait for handlers to finish).
#ifndef MXGRID_SERVICES_COMMON_SERVER_H_
#define MXGRID_SERVICES_COMMON_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/server.h"
#include "grpcpp/impl/service_type.h"
#include "libs/base/mutex.h"
#include "prometheus/collectable.h"
#include "prometheus/exposer.h"
#include "prometheus/registry.h"
#include "services/common/internal/rpc_metrics.h"
#include "services/common/security.h"

namespace mxgrid::services {

struct ServerOptions {
  // Server name in logs and in the `server` label of every metric, e.g. "mxgrid-compiler".
  std::string name = "mxgrid";
  // gRPC listening address, host:port. Port 0 picks a free port (see Server::port()).
  std::string address = "0.0.0.0:50051";
  // Prometheus HTTP endpoint (GET /metrics), host:port. Empty disables it; port 0 picks a
  // free port (see Server::metrics_port()). Loopback by default: exposing it to other hosts
  // (e.g. 0.0.0.0:9090 for a Prometheus scraper in Kubernetes) is an explicit choice.
  std::string metrics_address = "127.0.0.1:9090";
  // Largest message the server receives or sends, in bytes. Tensors larger than this travel
  // as chunk streams (DESIGN.md §4), so this bounds one chunk, not a tensor.
  int max_message_bytes = 64 << 20;
  // On Shutdown(), how long in-flight calls may run before they are cancelled.
  absl::Duration shutdown_grace = absl::Seconds(10);
  // Threads of the synchronous server kept waiting for calls when idle (gRPC's
  // MAX_POLLERS; its default is 2). gRPC starts a thread whenever every waiting one took a
  // call and ends the ones above this bound once they are idle again: with a bound of 2,
  // bursts of concurrent calls (a kvstore round of many keys, a client's pipelined calls)
  // created and destroyed a thread per call, each touching fresh stack pages — a tenth of
  // a busy server's CPU. Idle threads cost only their stacks.
  int idle_threads = 16;
  // Serve server reflection (grpcurl's list/describe). Off hides the schema from clients
  // that do not already have the .proto files; it does not protect anything else.
  bool reflection = true;
  // TLS, mutual TLS and bearer tokens (security.h); plaintext when empty.
  SecurityOptions security;
  // A second listener, plaintext, serving only grpc.health.v1 with the same statuses, for
  // probes that speak neither TLS nor tokens (Kubernetes' native gRPC probes). Empty: none.
  // host:port; port 0 picks a free port (health_port()).
  std::string health_address;
};

class Server {
 public:
  // Builds and starts the server. `services` are not owned and must outlive the Server.
  // Errors: InvalidArgument for a malformed address or option, or security files of the
  // wrong kind; NotFound / PermissionDenied for security files that cannot be read;
  // Unavailable when the gRPC or metrics address cannot be bound (port in use, not
  // permitted, unknown host).
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& options,
                                                       std::vector<grpc::Service*> services);

  // Shuts down (as Shutdown()) and releases the ports.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  const ServerOptions& options() const { return options_; }
  // The bound gRPC port (the chosen one when options.address asked for port 0).
  int port() const { return port_; }
  // The bound metrics port; 0 when metrics are disabled.
  int metrics_port() const { return metrics_port_; }
  // The bound port of the health-only listener; 0 when there is none.
  int health_port() const { return health_port_; }
  // The registry served at /metrics, for service-specific metrics (e.g. memory in use).
  prometheus::Registry& registry() { return *registry_; }
  // Sets one name's status in the gRPC health service (e.g. "gpu(0)" for a worker's device).
  void SetServingStatus(const std::string& service, bool serving);
  // Serves `collectable` at /metrics too (e.g. SampledGauges); kept alive by the Server.
  // Every server already exports the memory gauges of gauges.h.
  void AddCollectable(std::shared_ptr<prometheus::Collectable> collectable)
      ABSL_LOCKS_EXCLUDED(mu_);
  // A channel to this server that bypasses the network, for tests of the service classes.
  std::shared_ptr<grpc::Channel> InProcessChannel();

  // Blocks until Shutdown() has completed (called by another thread or by a signal
  // watcher, see signals.h).
  void Wait();
  // Marks health NOT_SERVING, stops accepting calls, waits up to shutdown_grace for
  // in-flight calls, cancels the rest and closes the port. Idempotent; a concurrent second
  // call returns once the first has finished.
  void Shutdown();

 private:
  explicit Server(const ServerOptions& options);

  const ServerOptions options_;
  // shared_ptr: prometheus::Exposer holds the registry through a weak_ptr.
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<internal::RpcMetrics> metrics_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<grpc::Service> reflection_v1_;       // null when reflection is off
  std::unique_ptr<grpc::Service> reflection_v1alpha_;  // likewise
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::CallbackGenericService> health_fallback_;  // outlives health_server_
  std::unique_ptr<grpc::Server> health_server_;  // null without options.health_address
  int port_ = 0;
  int health_port_ = 0;
  int metrics_port_ = 0;

  base::Mutex mu_;
  base::CondVar shutdown_done_cv_{&mu_};
  bool shutdown_started_ ABSL_GUARDED_BY(mu_) = false;
  bool shutdown_done_ ABSL_GUARDED_BY(mu_) = false;
};

// Writes "host:port\n" (the host of options().address, the bound port) to `fd` and closes
// it: a readiness report that needs no polling and no port chosen in advance. Errors:
// InvalidArgument for a negative fd; Unavailable when the write fails (e.g. the reader
// has gone). The fd is closed in every case but the first.
absl::Status WriteBoundAddress(const Server& server, int fd);

}  // namespace mxgrid::services

#endif  // MXGRID_SERVICES_COMMON_SERVER_H_
