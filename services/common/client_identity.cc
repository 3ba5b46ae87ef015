#include "services/common/client_identity.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "grpcpp/security/auth_context.h"

namespace mxgrid::services {

std::string PeerHost(absl::string_view peer) {
  const size_t colon = peer.rfind(':');
  const size_t scheme = peer.find(':');
  // Only "scheme:host:port" has a port to drop ("unix:/path" has none).
  if (colon == absl::string_view::npos || colon == scheme) return std::string(peer);
  return std::string(peer.substr(0, colon));
}

std::string ClientIdentity(const grpc::ServerContext& context) {
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth != nullptr && auth->IsPeerAuthenticated()) {
    for (const grpc::string_ref& name : auth->FindPropertyValues("x509_common_name")) {
      return absl::StrCat("cert:", absl::string_view(name.data(), name.size()));
    }
  }
  return PeerHost(context.peer());
}

}  // namespace mxgrid::services
