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
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
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
// FinishRead of each of `reads` (distinct arrays), waited for together: one engine operation
// ordered after every pending read of them all, and one wait, instead of two operations and
// a wait per value. One status per read.
std::vector<absl::Status> FinishReads(absl::Span<const PendingRead> reads);

// Pulls ref's value in `dtype` (DTYPE_UNSPECIFIED: the key's own) into `*value`, or, when
// `shm_out` is set, into that region at its offset with only the meta in `*value`. Errors:
// INVALID_ARGUMENT a bad dtype, a value that does not fit in the region from the offset;
// NOT_FOUND an unknown region; FAILED_PRECONDITION a truncated region; Job::Pull's.
absl::Status PullValue(kvstore::Job* job, const kvstore::KeyId& id, const v1::KeyRef& ref,
                       v1::DType dtype, const v1::ShmValue* shm_out,
                       const kvstore::ShmRegions& regions, const kvstore::WaitOptions& wait,
                       v1::Tensor* value);

// Where a pull into a caller's region lands (Batch's pulls, and PullValue): the job's copy
// writes straight into the region's bytes when the offset is aligned as arrays must be, else
// into an array of its own that Finish copies over.
//
//   MXGRID_ASSIGN_OR_RETURN(ShmPullTarget target, ShmPullTarget::Make(regions, ref, shm_out,
//                                                                     want));
//   kvstore::Job::PullDestination into = target.Destination();
//   MXGRID_ASSIGN_OR_RETURN(NDArray out, job->FinishPullQueued(ticket, wait, &into));
//   MXGRID_RETURN_IF_ERROR(out.WaitToRead());
//   MXGRID_RETURN_IF_ERROR(target.Finish(out, resp.mutable_value()));
//
// Thread-compatible; Destination() refers to the target, which must outlive its use.
class ShmPullTarget {
 public:
  // NOT_FOUND: the region is not registered for ref's (job, rank). `want`: the dtype the
  // caller asked for (none: the key's own).
  static absl::StatusOr<ShmPullTarget> Make(const kvstore::ShmRegions& regions,
                                            const v1::KeyRef& ref, const v1::ShmValue& shm_out,
                                            std::optional<DType> want);
  // The dtype the caller asked for (none: the key's own), when known only after Make.
  void set_want(std::optional<DType> want) { want_ = want; }
  // The array the job copies into (INVALID_ARGUMENT when the value does not fit in the
  // region from the offset).
  kvstore::Job::PullDestination Destination();
  // Once the copy into `out` (from Destination) is done: copies it over unless in place,
  // checks the region was not truncated meanwhile (FAILED_PRECONDITION) and writes only the
  // meta into `*meta_value`.
  absl::Status Finish(const tensor::NDArray& out, v1::Tensor* meta_value) const;

 private:
  ShmPullTarget(std::shared_ptr<const shm::Region> region, int64_t offset,
                std::optional<DType> want)
      : region_(std::move(region)), offset_(offset), want_(want) {}

  std::shared_ptr<const shm::Region> region_;
  int64_t offset_ = 0;
  std::optional<DType> want_;
  bool in_place_ = false;  // set by the destination
};

}  // namespace mxgrid::services

#endif  // MXGRID_SERVICES_KVSTORE_KVSTORE_SHM_H_
