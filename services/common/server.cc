#include "services/common/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "grpc/grpc.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "spdlog/spdlog.h"
#include "services/common/gauges.h"
#include "services/common/internal/reflection_service.h"
#include "services/common/internal/schema_index.h"
#include "services/common/internal/service_names.h"

namespace mxgrid::services {
namespace {

// Checks "host:port" (host may be "[v6]"); port 0..65535.
absl::Status ValidateAddress(absl::string_view what, absl::string_view address) {
  const size_t colon = address.rfind(':');
  int port = -1;
  if (colon == absl::string_view::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " '", address, "' is not host:port with a port in 0..65535 (e.g. 0.0.0.0:50051)"));
  }
  return absl::OkStatus();
}

// Health is a process-wide switch in gRPC's C++ API; set it once.
void EnableHealthService() {
  static std::once_flag once;
  std::call_once(once, [] { grpc::EnableDefaultHealthCheckService(true); });
}

// civetweb's settings for the /metrics endpoint. civetweb serves a connection per thread and
// its timeouts apply to each read, so a client dribbling header bytes holds a thread for as
// long as it likes: 16 threads keep a scraper getting through while a few such clients
// (the endpoint is on loopback unless exposed) hold theirs; requests and idle keep-alive
// connections are bounded in size and time.
std::vector<std::string> MetricsHttpOptions(const std::string& address) {
  return {
      "listening_ports", address,           //
      "num_threads", "16",                  // more than a few slow clients can hold
      "max_request_size", "16384",          // request line + headers
      "request_timeout_ms", "3000",         //
      "enable_keep_alive", "yes",           //
      "keep_alive_timeout_ms", "2000",      //
      "linger_timeout_ms", "1000",          //
  };
}

// The host part of "host:port" ("[::1]:80" gives "[::1]").
absl::string_view HostOf(absl::string_view address) {
  return address.substr(0, address.rfind(':'));
}

// Opens and at once closes a TCP connection to 127.0.0.1:`port` (errors ignored).
void Knock(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  (void)connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  close(fd);
}

// Destroys `exposer`. civetweb (1.15) notices a stop only when its listener's poll()
// returns, which without connections is every 2 s (SOCKET_TIMEOUT_QUANTUM): a process
// took up to 2 s to exit for nothing. Connections to the port while it stops end that
// wait at once. Only a loopback-reachable listener can be knocked on; any other one stops
// at its own pace, as before.
void StopExposer(std::unique_ptr<prometheus::Exposer> exposer, int port) {
  std::atomic<bool> stopped{false};
  std::thread knocker([&stopped, port] {
    while (!stopped.load()) {
      Knock(port);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  exposer.reset();
  stopped.store(true);
  knocker.join();
}

}  // namespace

Server::Server(const ServerOptions& options)
    : options_(options), registry_(std::make_shared<prometheus::Registry>()) {}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options,
                                                      std::vector<grpc::Service*> services) {
  if (absl::Status s = ValidateAddress("address", options.address); !s.ok()) return s;
  if (!options.metrics_address.empty()) {
    if (absl::Status s = ValidateAddress("metrics_address", options.metrics_address); !s.ok()) {
      return s;
    }
  }
  if (!options.health_address.empty()) {
    if (absl::Status s = ValidateAddress("health_address", options.health_address); !s.ok()) {
      return s;
    }
  }
  if (options.max_message_bytes <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_message_bytes must be positive, got ", options.max_message_bytes));
  }
  if (options.shutdown_grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("shutdown_grace must not be negative");
  }

  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(options.security);
  if (!credentials.ok()) return credentials.status();

  std::unique_ptr<Server> server(new Server(options));  // private constructor
  server->metrics_ = std::make_unique<internal::RpcMetrics>(*server->registry_, options.name);

  if (!options.metrics_address.empty()) {
    try {
      server->exposer_ =
          std::make_unique<prometheus::Exposer>(MetricsHttpOptions(options.metrics_address));
    } catch (const std::exception& e) {
      return absl::UnavailableError(absl::StrCat("cannot serve metrics on ",
                                                 options.metrics_address, ": ", e.what(),
                                                 " (port in use? pass another --metrics_address)"));
    }
    server->exposer_->RegisterCollectable(server->registry_);
    auto memory = std::make_shared<SampledGauges>();
    AddMemoryGauges(memory.get());
    server->AddCollectable(std::move(memory));
    const std::vector<int> ports = server->exposer_->GetListeningPorts();
    server->metrics_port_ = ports.empty() ? 0 : ports.front();
  }

  EnableHealthService();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.address, *credentials, &server->port_);
  // Without this, two servers could share one port via SO_REUSEPORT and split its calls.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Keepalive: clients may ping every 10 s, also between calls (the Python client watches
  // the worker's liveness this way); the server pings idle clients every minute and drops
  // connections that do not answer within 20 s, so a vanished client's calls end.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS,
                              std::max(2, options.idle_threads));
  for (grpc::Service* service : services) builder.RegisterService(service);
  // Filled while the server is built: every service it serves, by full name.
  auto service_names = std::make_shared<std::vector<std::string>>();
  builder.SetOption(std::make_unique<internal::ServiceNamesOption>(service_names));
  if (options.reflection) {
    const internal::SchemaIndex* schema = &internal::SchemaIndex::Embedded();
    server->reflection_v1_ = std::make_unique<internal::ReflectionServiceV1>(schema, service_names);
    server->reflection_v1alpha_ =
        std::make_unique<internal::ReflectionServiceV1Alpha>(schema, service_names);
    builder.RegisterService(server->reflection_v1_.get());
    builder.RegisterService(server->reflection_v1alpha_.get());
  }
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
  creators.push_back(server->metrics_->NewFactory());
  builder.experimental().SetInterceptorCreators(std::move(creators));

  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    server->server_.reset();
    return absl::UnavailableError(absl::StrCat(
        "cannot listen for gRPC on ", options.address,
        ": the port is in use, not permitted or the host is unknown (pass another --address)"));
  }
  if (!options.health_address.empty()) {
    // Only the default health service, which gRPC adds to every server it builds; gRPC
    // builds no server without a service of ours, so every other method goes to a generic
    // service that answers UNIMPLEMENTED.
    server->health_fallback_ = std::make_unique<grpc::CallbackGenericService>();
    grpc::ServerBuilder health_builder;
    health_builder.RegisterCallbackGenericService(server->health_fallback_.get());
    health_builder.AddListeningPort(options.health_address, grpc::InsecureServerCredentials(),
                                    &server->health_port_);
    health_builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    server->health_server_ = health_builder.BuildAndStart();
    if (server->health_server_ == nullptr || server->health_port_ == 0) {
      server->health_server_.reset();
      server->server_->Shutdown();
      server->server_.reset();
      return absl::UnavailableError(absl::StrCat("cannot listen for health checks on ",
                                                 options.health_address,
                                                 " (pass another --health_address)"));
    }
  }
  for (grpc::Server* s : {server->server_.get(), server->health_server_.get()}) {
    if (s == nullptr) continue;
    grpc::HealthCheckServiceInterface* health = s->GetHealthCheckService();
    health->SetServingStatus(true);
    for (const std::string& name : *service_names) health->SetServingStatus(name, true);
  }
  if (server->health_port_ != 0) {
    spdlog::info("{} serving health checks (plaintext) on port {}", options.name,
                 server->health_port_);
  }
  spdlog::info("{} serving gRPC ({}) on port {}, metrics on {}", options.name,
               !options.security.tls()           ? "plaintext"
               : options.security.tls_ca.empty() ? "TLS"
                                                 : "mutual TLS",
               server->port_,
               options.metrics_address.empty() ? std::string("(disabled)")
                                               : absl::StrCat("port ", server->metrics_port_));
  return server;
}

void Server::SetServingStatus(const std::string& service, bool serving) {
  for (grpc::Server* s : {server_.get(), health_server_.get()}) {
    if (s != nullptr) s->GetHealthCheckService()->SetServingStatus(service, serving);
  }
}

Server::~Server() {
  if (server_ == nullptr) return;  // Start() failed part-way
  Shutdown();
  server_->Wait();
  if (exposer_ != nullptr) StopExposer(std::move(exposer_), metrics_port_);
}

void Server::AddCollectable(std::shared_ptr<prometheus::Collectable> collectable) {
  if (exposer_ != nullptr) exposer_->RegisterCollectable(collectable);
  base::MutexLock lock(&mu_);
  collectables_.push_back(std::move(collectable));
}

std::shared_ptr<grpc::Channel> Server::InProcessChannel() {
  return server_->InProcessChannel(grpc::ChannelArguments());
}

void Server::Wait() {
  base::MutexLock lock(&mu_);
  while (!shutdown_done_) shutdown_done_cv_.Wait();
}

void Server::Shutdown() {
  {
    base::MutexLock lock(&mu_);
    if (shutdown_started_) {
      while (!shutdown_done_) shutdown_done_cv_.Wait();
      return;
    }
    shutdown_started_ = true;
  }
  spdlog::info("{} shutting down: draining in-flight calls for up to {}", options_.name,
               absl::FormatDuration(options_.shutdown_grace));
  server_->GetHealthCheckService()->SetServingStatus(false);
  if (health_server_ != nullptr) health_server_->GetHealthCheckService()->SetServingStatus(false);
  // Returns once every call has finished; calls still running at the deadline are cancelled.
  server_->Shutdown(absl::ToChronoTime(absl::Now() + options_.shutdown_grace));
  if (health_server_ != nullptr) health_server_->Shutdown(absl::ToChronoTime(absl::Now()));
  spdlog::info("{} stopped", options_.name);
  base::MutexLock lock(&mu_);
  shutdown_done_ = true;
  shutdown_done_cv_.SignalAll();
}

absl::Status WriteBoundAddress(const Server& server, int fd) {
  if (fd < 0) return absl::InvalidArgumentError(absl::StrCat("ready fd ", fd, " is negative"));
  const std::string line =
      absl::StrCat(HostOf(server.options().address), ":", server.port(), "\n");
  ssize_t written = 0;
  int error = 0;
  do {
    written = write(fd, line.data(), line.size());
    error = errno;
  } while (written < 0 && error == EINTR);
  close(fd);
  if (written != static_cast<ssize_t>(line.size())) {
    return absl::UnavailableError(absl::StrCat(
        "cannot report the bound address on fd ", fd, ": ",
        written < 0 ? std::strerror(error) : "short write"));
  }
  return absl::OkStatus();
}

}  // namespace mxgrid::services
