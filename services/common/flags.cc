#include "services/common/flags.h"

#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <string>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "libs/base/logging.h"
#include "services/common/signals.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, address, "0.0.0.0:50051",
          "gRPC listening address, host:port; port 0 picks a free port");
ABSL_FLAG(std::string, metrics_address, "127.0.0.1:9090",
          "Prometheus /metrics HTTP address, host:port; loopback by default (0.0.0.0:9090 "
          "exposes it to other hosts); empty disables it; port 0 picks a free port");
ABSL_FLAG(int, max_message_bytes, 64 << 20,
          "largest gRPC message received or sent, in bytes (large tensors travel in chunks)");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "on SIGTERM/SIGINT, how long in-flight calls may finish before they are cancelled");
ABSL_FLAG(int, ready_fd, -1,
          "once serving (and handling SIGTERM), write host:port with the bound port and a "
          "newline to this inherited file descriptor and close it; -1: do not");
ABSL_FLAG(bool, reflection, true,
          "serve gRPC server reflection (grpcurl list/describe, with the protocol's comments)");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain file: serve TLS only (with --tls_key); also this process's "
          "client certificate on its own channels");
ABSL_FLAG(std::string, tls_key, "", "PEM private key file of --tls_cert");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA certificates file: require client certificates signed by them (mutual TLS) "
          "and verify the servers this process calls against them");
ABSL_FLAG(std::string, auth_token_file, "",
          "bearer tokens accepted ('authorization: Bearer <token>'), one per line; the first "
          "is sent on this process's own calls. Needs --tls_cert. Health needs no token");
ABSL_FLAG(std::string, health_address, "",
          "also serve grpc.health.v1 alone, in plaintext, on this host:port (for probes that "
          "speak neither TLS nor tokens, e.g. Kubernetes' gRPC probes); empty: no");
ABSL_FLAG(bool, public_reflection, false,
          "with --auth_token_file, serve reflection to callers without a token");
ABSL_FLAG(absl::Duration, tls_reload_interval, absl::Seconds(10),
          "how often certificate and token files are checked for changes (rotation without "
          "restart)");
ABSL_FLAG(std::string, log_level, "info",
          "trace, debug, info, warn, error, critical or off (MXGRID_LOG_LEVEL overrides)");

namespace mxgrid::services {
namespace {

// True for the usage flags absl handles itself (--help, --helpfull, --help=substring, ...).
bool AsksForHelp(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (absl::StartsWith(arg, "--")) arg.remove_prefix(1);
    if (absl::StartsWith(arg, "-help")) return true;
  }
  return false;
}

}  // namespace

ServerOptions ParseServerFlags(int argc, char** argv, const char* name, const char* usage) {
  // One malloc arena per core instead of glibc's eight: memory a closed session freed on
  // many gRPC threads is reused and returned to the system (malloc_trim) instead of staying
  // spread over per-thread arenas (measured: 116k handles freed, 13 MiB kept with the default,
  // 5 MiB with this). MALLOC_ARENA_MAX in the environment still wins.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) {
    mallopt(M_ARENA_MAX, std::max(2, static_cast<int>(std::thread::hardware_concurrency())));
  }
  // Debian builds Abseil without NDEBUG, which leaves absl::Mutex's deadlock detection on:
  // every lock gRPC takes then records itself in a global lock graph (about 3x the cost of
  // the lock, measured). mxgrid's own locks are std::mutex (libs/base/mutex.h), and tests
  // find lock-order problems with TSan; production servers skip the graph.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::FlagsUsageConfig config;
  // --help lists the flags of services/ (these and the binary's own), not absl's internals.
  config.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "services/");
  };
  absl::SetFlagsUsageConfig(std::move(config));
  absl::SetProgramUsageMessage(usage);
  if (AsksForHelp(argc, argv)) {
    // absl prints the help and exits with status 1; asking for help is not a failure, so
    // turn that exit into 0 (output flushed first).
    std::atexit([] {
      std::fflush(nullptr);
      std::_Exit(0);
    });
  }
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() > 1) {
    std::fprintf(stderr, "%s: unexpected argument '%s'; see --help\n", name, positional[1]);
    std::exit(2);
  }
  const absl::Status logging = base::InitLogging(
      {.level = absl::GetFlag(FLAGS_log_level), .name = std::string(name)});
  if (!logging.ok()) {
    std::fprintf(stderr, "%s: --log_level: %s\n", name, std::string(logging.message()).c_str());
    std::exit(2);
  }
  ServerOptions options;
  options.name = name;
  options.address = absl::GetFlag(FLAGS_address);
  options.metrics_address = absl::GetFlag(FLAGS_metrics_address);
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  options.reflection = absl::GetFlag(FLAGS_reflection);
  options.health_address = absl::GetFlag(FLAGS_health_address);
  options.security.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  options.security.tls_key = absl::GetFlag(FLAGS_tls_key);
  options.security.tls_ca = absl::GetFlag(FLAGS_tls_ca);
  options.security.auth_token_file = absl::GetFlag(FLAGS_auth_token_file);
  options.security.public_reflection = absl::GetFlag(FLAGS_public_reflection);
  options.security.reload_interval = absl::GetFlag(FLAGS_tls_reload_interval);
  return options;
}

int RunServer(const ServerOptions& options, std::vector<grpc::Service*> services,
              const std::function<void(Server*)>& on_start) {
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options, std::move(services));
  if (!server.ok()) {
    spdlog::critical("{}", server.status().ToString());
    return 1;
  }
  if (on_start) on_start(server->get());
  absl::StatusOr<std::unique_ptr<SignalWatcher>> signals = ShutdownOnSignals(server->get());
  if (!signals.ok()) {
    spdlog::critical("{}", signals.status().ToString());
    return 1;
  }
  if (const int fd = absl::GetFlag(FLAGS_ready_fd); fd >= 0) {
    if (absl::Status s = WriteBoundAddress(**server, fd); !s.ok()) {
      spdlog::warn("--ready_fd: {}", s.ToString());
    }
  }
  (*server)->Wait();
  return 0;
}

}  // namespace mxgrid::services
