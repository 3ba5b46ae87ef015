// Waiting inside an RPC — for an array's pending work, or for room in the session's queue —
// honouring the call's deadline and cancellation (the work itself goes on either way).
#ifndef MXGRID_SERVICES_WORKER_INTERNAL_WAIT_H_
#define MXGRID_SERVICES_WORKER_INTERNAL_WAIT_H_

#include "absl/status/status.h"
#include "grpcpp/server_context.h"
#include "libs/tensor/ndarray.h"
#include "services/worker/session.h"

namespace mxgrid::services::internal {

// a.WaitToRead(), or DeadlineExceeded / Cancelled when the call ends first.
absl::Status WaitToRead(grpc::ServerContext* context, const tensor::NDArray& a);

// a.WaitToWrite() (every pending read and write of `a` done), or DeadlineExceeded /
// Cancelled when the call ends first.
absl::Status WaitToWrite(grpc::ServerContext* context, const tensor::NDArray& a);

// Waits until `session` may queue more work (engine::Flow::WaitForRoom): ResourceExhausted
// when the call's deadline comes first, Cancelled when the call is cancelled.
absl::Status WaitForRoom(grpc::ServerContext* context, const Session& session);

}  // namespace mxgrid::services::internal

#endif  // MXGRID_SERVICES_WORKER_INTERNAL_WAIT_H_
