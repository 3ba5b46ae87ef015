// Bearer-token authentication on gRPC's hooks for it: TokenAuthProcessor checks each call's
// `authorization: Bearer <token>` metadata on the server (gRPC runs it before the handler
// and fails the call with its status), TokenCallCredentials attaches this process's token to
// its own outbound calls. Both read a TokenFile, so rotation needs no restart.
//
// Health (/grpc.health.v1.Health/) always passes without a token: Kubernetes probes and load
// balancers send none. Reflection passes without one when `public_reflection` is set.
//
// gRPC invokes an AuthMetadataProcessor only on TLS connections (on plaintext ones its C++
// library aborts), which is also where a bearer token belongs: security.cc requires TLS with
// tokens.
//
// Thread-safety: thread-safe.
#ifndef MXGRID_SERVICES_COMMON_INTERNAL_TOKEN_AUTH_H_
#define MXGRID_SERVICES_COMMON_INTERNAL_TOKEN_AUTH_H_

#include <map>
#include <memory>
#include <string>

#include "grpcpp/security/auth_metadata_processor.h"
#include "grpcpp/security/credentials.h"
#include "services/common/internal/token_file.h"

namespace mxgrid::services::internal {

class TokenAuthProcessor final : public grpc::AuthMetadataProcessor {
 public:
  TokenAuthProcessor(std::shared_ptr<TokenFile> tokens, bool public_reflection)
      : tokens_(std::move(tokens)), public_reflection_(public_reflection) {}

  // Cheap (a digest and a comparison; the token file is re-read at most once per its
  // interval), so it runs on the call's own thread.
  bool IsBlocking() const override { return false; }
  // OK for an accepted token (the header is then consumed: handlers do not see it) or an
  // exempt method; UNAUTHENTICATED otherwise.
  grpc::Status Process(const InputMetadata& metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed, OutputMetadata* response) override;

 private:
  const std::shared_ptr<TokenFile> tokens_;
  const bool public_reflection_;
};

// Call credentials sending `authorization: Bearer <the token file's first token>`.
std::shared_ptr<grpc::CallCredentials> TokenCallCredentials(std::shared_ptr<TokenFile> tokens);

}  // namespace mxgrid::services::internal

#endif  // MXGRID_SERVICES_COMMON_INTERNAL_TOKEN_AUTH_H_
