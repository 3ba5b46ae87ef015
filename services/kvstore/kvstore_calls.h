// Pieces the KVStore service's handlers share (kvstore_service.cc's unary and stream handlers
// and kvstore_batch.cc's Batch): the call's wait options, a KeyRef's job and key, a pull's
// dtype, and how a pulled value goes into a reply. Private to services/kvstore.
//
// Thread-safety: pure functions (the JobTable is thread-safe).
#ifndef MXGRID_SERVICES_KVSTORE_KVSTORE_CALLS_H_
#define MXGRID_SERVICES_KVSTORE_KVSTORE_CALLS_H_

#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/server_context.h"
#include "libs/kvstore/job.h"
#include "libs/kvstore/job_table.h"
#include "libs/tensor/ndarray.h"
#include "proto/mxgrid/v1/kvstore.pb.h"

namespace mxgrid::services::kvstore_calls {

// The call's deadline and cancellation, for the job's waits. A wait ends a little before the
// client's deadline, so that the client gets the server's answer (which says what the wait
// was for) and the job's state (e.g. a barrier call withdrawn) is settled before the client
// can call again. `context` must outlive the returned options' use.
kvstore::WaitOptions Wait(grpc::ServerContext* context);

// The job a KeyRef names and its (key, part), validated. InvalidArgument empty key or
// negative part; NotFound unknown job.
absl::StatusOr<std::shared_ptr<kvstore::Job>> FindRef(const kvstore::JobTable& table, const v1::KeyRef& ref,
                                      kvstore::KeyId* id);

// Decoded values of a push. InvalidArgument naming the bad value.
absl::StatusOr<std::vector<tensor::NDArray>> Values(
    const google::protobuf::RepeatedPtrField<v1::Tensor>& values);

// None for DTYPE_UNSPECIFIED (the key's own). InvalidArgument unknown dtype.
absl::StatusOr<std::optional<DType>> PullDType(v1::DType dtype);

// Writes a pulled value into a reply's `out` (a Batch item's: shm_out is refused there).
absl::Status EncodePulled(const v1::PullRequest& request, const tensor::NDArray& value,
                          v1::Tensor* out);

}  // namespace mxgrid::services::kvstore_calls

#endif  // MXGRID_SERVICES_KVSTORE_KVSTORE_CALLS_H_
