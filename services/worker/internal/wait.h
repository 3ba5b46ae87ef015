// Waiting for an array's pending work inside an RPC, honouring the call's deadline and
// cancellation (the work itself goes on either way).
#ifndef MXGRID_SERVICES_WORKER_INTERNAL_WAIT_H_
#define MXGRID_SERVICES_WORKER_INTERNAL_WAIT_H_

#include "absl/status/status.h"
#include "grpcpp/server_context.h"
#include "libs/tensor/ndarray.h"

namespace mxgrid::services::internal {

// a.WaitToRead(), or DeadlineExceeded / Cancelled when the call ends first.
absl::Status WaitToRead(grpc::ServerContext* context, const tensor::NDArray& a);

}  // namespace mxgrid::services::internal

#endif  // MXGRID_SERVICES_WORKER_INTERNAL_WAIT_H_
