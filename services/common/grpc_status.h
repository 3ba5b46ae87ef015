// absl::Status -> grpc::Status for service handlers (the two share their code numbers).
//
// Thread-safety: a pure function.
#ifndef MXGRID_SERVICES_COMMON_GRPC_STATUS_H_
#define MXGRID_SERVICES_COMMON_GRPC_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace mxgrid::services {

inline grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

}  // namespace mxgrid::services

#endif  // MXGRID_SERVICES_COMMON_GRPC_STATUS_H_
