// The shard's side of same-host transfers (kvstore.proto RegisterShardShm, ShmValue): the
// values a Push / PushPull carries (in the message, or in a region of the caller's) and the
// delivery of a pulled value (into the response, or into a region). Shared by the unary
// handlers (kvstore_service.cc) and Batch's items, so that every call takes the same path.
//
//   MXGRID_RETURN_IF_ERROR(PushValues(job, id, req.ref(), req.values(),
//                                     req.has_shm_value() ? &req.shm_value() : nullptr,
//                                     regions, wait));
//   MXGRID_RETURN_IF_ERROR(PullValue(job, id, req.ref(), req.dtype(),
//                                    req.has_shm_out() ? &req.shm_out() : nullptr, regions,
//                                    wait, resp.mutable_value()));
//
// Thread-safety: thread-safe (the job and the registry are).
#ifndef MXGRID_SERVICES_KVSTORE_KVSTORE_SHM_H_
#define MXGRID_SERVICES_KVSTORE_KVSTORE_SHM_H_

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "libs/kvstore/job.h"
#include "libs/kvstore/shm_regions.h"
#include "libs/shm/region.h"
#include "libs/tensor/ndarray.h"
#include "proto/mxgrid/v1/kvstore.pb.h"

namespace mxgrid::services {

// Pushes `values`, or the one value `shm` names (null: none), as rank ref.rank() of `job`.
// A value in shared memory is used in place (no copy) and the call returns only once the
// job's work has read it: the caller may then reuse the bytes. Errors: INVALID_ARGUMENT both
// `values` and `shm`, a bad meta, a range outside the region; NOT_FOUND a region the rank did
// not register; FAILED_PRECONDITION a region truncated before or during the read (the round
// then received zeros for the missing bytes: the truncating client's loss); Job::Push's.
//
// `reads` (Batch's pushes): when non-null, a value in shared memory is not waited for here
// but appended to it; the caller waits for them all (FinishReads) before it answers, so
// that a batch's pushes queue their sums without a thread hop each.
struct PendingRead {
  tensor::NDArray value;                        // wraps the region's bytes
  std::shared_ptr<const shm::Region> region;
};
absl::Status PushValues(kvstore::Job* job, const kvstore::KeyId& id, const v1::KeyRef& ref,
                        const google::protobuf::RepeatedPtrField<v1::Tensor>& values,
                        const v1::ShmValue* shm, const kvstore::ShmRegions& regions,
                        const kvstore::WaitOptions& wait,
                        std::vector<PendingRead>* reads = nullptr);
// Waits until the job's work has read `read`'s bytes; FAILED_PRECONDITION when its region
// was truncated meanwhile.
absl::Status FinishRead(const PendingRead& read);

// Pulls ref's value in `dtype` (DTYPE_UNSPECIFIED: the key's own) into `*value`, or, when
// `shm_out` is set, into that region at its offset with only the meta in `*value`. Errors:
// INVALID_ARGUMENT a bad dtype, a value that does not fit in the region from the offset;
// NOT_FOUND an unknown region; FAILED_PRECONDITION a truncated region; Job::Pull's.
absl::Status PullValue(kvstore::Job* job, const kvstore::KeyId& id, const v1::KeyRef& ref,
                       v1::DType dtype, const v1::ShmValue* shm_out,
                       const kvstore::ShmRegions& regions, const kvstore::WaitOptions& wait,
                       v1::Tensor* value);

// Writes `value` (a pulled value, ready to read) into the region `shm_out` names for ref's
// (job, rank), with only its meta into `*meta_value` (Batch's pulls, whose values the job
// hands over whole). Errors as PullValue's for a region.
absl::Status WritePulled(const tensor::NDArray& value, const v1::KeyRef& ref,
                         const v1::ShmValue& shm_out, const kvstore::ShmRegions& regions,
                         v1::Tensor* meta_value);

}  // namespace mxgrid::services

#endif  // MXGRID_SERVICES_KVSTORE_KVSTORE_SHM_H_
