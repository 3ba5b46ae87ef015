// ClientIdentity: who is calling, as per-client limits count clients: "cert:<common name>"
// for a caller that presented a client certificate (mutual TLS), else its address without
// the port ("ipv4:10.0.0.7", "ipv6:[::1]"), so that one process's many connections count as
// one client.
//
// Thread-safety: pure function.
#ifndef MXGRID_SERVICES_COMMON_CLIENT_IDENTITY_H_
#define MXGRID_SERVICES_COMMON_CLIENT_IDENTITY_H_

#include <string>

#include "absl/strings/string_view.h"
#include "grpcpp/server_context.h"

namespace mxgrid::services {

std::string ClientIdentity(const grpc::ServerContext& context);

// The address part of a gRPC peer string ("ipv4:1.2.3.4:5678" -> "ipv4:1.2.3.4").
std::string PeerHost(absl::string_view peer);

}  // namespace mxgrid::services

#endif  // MXGRID_SERVICES_COMMON_CLIENT_IDENTITY_H_
