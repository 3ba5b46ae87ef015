// Transport security for every mxgrid server and for the channels a server opens itself
// (worker -> compiler, worker -> kvstore shards): TLS, mutual TLS and bearer tokens.
//
//   --tls_cert, --tls_key   PEM certificate chain and private key: the server speaks TLS only.
//   --tls_ca                PEM CA bundle. A server then requires client certificates signed
//                           by it (mutual TLS); the process's own channels verify servers
//                           against it (else against the system's roots) and present
//                           --tls_cert/--tls_key as their client certificate.
//   --auth_token_file       bearer tokens accepted, one per line; the first is what this
//                           process sends on its own calls. Needs TLS: a token on plaintext
//                           is readable by anyone on the path (and gRPC itself refuses to
//                           send call credentials over insecure channels).
//   --public_reflection     with tokens, serve reflection without one (health always is).
//   --tls_reload_interval   how often certificate and token files are checked for changes:
//                           replaced files take effect without a restart.
//
// Thread-safety: the functions are thread-safe; credentials are shared freely.
#ifndef MXGRID_SERVICES_COMMON_SECURITY_H_
#define MXGRID_SERVICES_COMMON_SECURITY_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"

namespace mxgrid::services {

struct SecurityOptions {
  std::string tls_cert;         // file; TLS is on when set
  std::string tls_key;          // file; required with tls_cert
  std::string tls_ca;           // file; mutual TLS on servers, server verification on clients
  std::string auth_token_file;  // file; requires tls_cert
  bool public_reflection = false;
  absl::Duration reload_interval = absl::Seconds(10);

  bool tls() const { return !tls_cert.empty(); }
};

// Checks the combination and that every named file holds what it should (a PEM certificate
// chain, a private key matching it, CA certificates, at least one token). InvalidArgument
// for a wrong combination or content, NotFound / PermissionDenied for a file that cannot be
// read.
absl::Status ValidateSecurity(const SecurityOptions& options);

// What a server listens with: plaintext, TLS or mutual TLS, plus token checks. Validates
// first (as ValidateSecurity).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const SecurityOptions& options);

// What this process's own channels to other mxgrid servers use: TLS when tls_cert or tls_ca
// is set (else plaintext), with this process's token when auth_token_file is set.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const SecurityOptions& options);

}  // namespace mxgrid::services

#endif  // MXGRID_SERVICES_COMMON_SECURITY_H_
