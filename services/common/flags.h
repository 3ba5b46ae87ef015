// Command-line flags shared by every mxgrid server binary (absl flags).
//
// ParseServerFlags defines and parses:
//   --address=0.0.0.0:50051        gRPC listening address, host:port (port 0: a free port)
//   --metrics_address=127.0.0.1:9090 Prometheus /metrics address (loopback: pass
//                                  0.0.0.0:9090 to expose it); empty disables it
//   --max_message_bytes=67108864   largest gRPC message received or sent
//   --shutdown_grace=10s           how long SIGTERM/SIGINT lets in-flight calls finish
//   --reflection=true              serve server reflection (grpcurl list/describe)
//   --health_address=              a plaintext health-only listener (Kubernetes gRPC probes)
//   --tls_cert, --tls_key, --tls_ca, --auth_token_file, --public_reflection,
//   --tls_reload_interval=10s      TLS, mutual TLS and bearer tokens (see security.h)
//   --log_level=info               trace, debug, info, warn, error, critical or off
//   --ready_fd=-1                  once serving, RunServer writes "host:port\n" (bound port)
//                                  to this inherited fd and closes it (see WriteBoundAddress)
// A binary adds its own flags with ABSL_FLAG in its main.cc; they are parsed by the same
// call and listed by --help (which shows flags defined under services/; --helpfull shows
// all).
//
//   int main(int argc, char** argv) {
//     mxgrid::services::ServerOptions options = mxgrid::services::ParseServerFlags(
//         argc, argv, "mxgrid-compiler", "Serves symbolic graph compilation over gRPC.");
//     mxgrid::compiler::CompilerService service;
//     return mxgrid::services::RunServer(options, {&service});
//   }
//
// Thread-safety: call once from main() before starting threads.
#ifndef MXGRID_SERVICES_COMMON_FLAGS_H_
#define MXGRID_SERVICES_COMMON_FLAGS_H_

#include <functional>
#include <vector>

#include "services/common/server.h"

namespace mxgrid::services {

// Parses the flags above (and the binary's own), handles --help, sets up logging with the
// server's name and --log_level, limits malloc to one arena per core (unless
// MALLOC_ARENA_MAX is set), and returns the ServerOptions. Exits with status 2 and a
// message on a bad flag, a bad log level or a stray positional argument.
ServerOptions ParseServerFlags(int argc, char** argv, const char* name, const char* usage);

// Starts a Server with `services`, calls `on_start` (if set; e.g. to add gauges), shuts it
// down on SIGTERM/SIGINT and waits for that. Returns the process exit status: 0 after a
// clean shutdown, 1 if the server cannot start.
int RunServer(const ServerOptions& options, std::vector<grpc::Service*> services,
              const std::function<void(Server*)>& on_start = nullptr);

}  // namespace mxgrid::services

#endif  // MXGRID_SERVICES_COMMON_FLAGS_H_
