// PushValues / PullValue (kvstore_shm.h): values in messages or in registered regions.
//
// A pushed value in shared memory is wrapped, not copied: the job's round reads it straight
// into its accumulator (Job::Push's copy or sum, engine operations), and the call waits for
// those reads (WaitToWrite on the wrapped array) before it answers, which is the contract
// ("the shard has read it when it answers"). The wrapper holds the region, so a concurrent
// UnregisterShardShm cannot unmap bytes the engine still reads.
#include "services/kvstore/kvstore_shm.h"

#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/base/status.h"
#include "libs/base/status_macros.h"
#include "libs/engine/engine.h"
#include "libs/rpc/tensor_codec.h"
#include "libs/shm/region.h"
#include "services/common/grpc_status.h"
#include "services/kvstore/kvstore_service.h"

namespace mxgrid::services {
namespace {

using kvstore::ShmRegions;
using tensor::NDArray;

// The region `shm` names for ref's (job, rank).
absl::StatusOr<std::shared_ptr<const shm::Region>> FindRegion(const ShmRegions& regions,
                                                              const v1::KeyRef& ref,
                                                              const v1::ShmValue& shm) {
  return regions.Find(ref.job(), ref.rank(), shm.region());
}

// dtype and shape of `meta` and their bytes, refusing sizes no region can hold.
absl::Status ShmMeta(const v1::TensorMeta& meta, DType* dtype, Shape* shape, int64_t* bytes) {
  MXGRID_RETURN_IF_ERROR(rpc::FromProto(meta, dtype, shape));
  const int64_t n = shape->Size();
  const int64_t unit = static_cast<int64_t>(DTypeSize(*dtype));
  if (n < 0 || n > shm::kMaxRegionBytes / unit) {
    return absl::InvalidArgumentError(absl::StrCat("shm value of ", shape->ToString(),
                                                   " is larger than any region"));
  }
  *bytes = n * unit;
  return absl::OkStatus();
}

// The value `shm` names as an array: the region's bytes themselves when aligned as arrays
// must be, else a copy. The wrapper keeps the region mapped while anything uses it.
absl::StatusOr<NDArray> ShmArray(std::shared_ptr<const shm::Region> region,
                                 const v1::ShmValue& shm) {
  DType dtype;
  Shape shape;
  int64_t bytes = 0;
  MXGRID_RETURN_IF_ERROR(ShmMeta(shm.meta(), &dtype, &shape, &bytes));
  MXGRID_ASSIGN_OR_RETURN(void* data, region->Address(shm.offset(), bytes));
  absl::StatusOr<NDArray> wrapped =
      NDArray::WrapHost(data, shape, dtype, Context::Cpu(), [region] {});
  if (wrapped.ok()) return wrapped;
  // Unaligned offset: one copy through the guarded read.
  MXGRID_ASSIGN_OR_RETURN(NDArray copy, NDArray::Empty(shape, Context::Cpu(), dtype));
  MXGRID_RETURN_IF_ERROR(region->Read(shm.offset(), copy.data(), bytes));
  return copy;
}

}  // namespace

absl::Status PushValues(kvstore::Job* job, const kvstore::KeyId& id, const v1::KeyRef& ref,
                        const google::protobuf::RepeatedPtrField<v1::Tensor>& values,
                        const v1::ShmValue* shm, const ShmRegions& regions,
                        const kvstore::WaitOptions& wait, std::vector<PendingRead>* reads) {
  if (shm == nullptr) {
    std::vector<NDArray> arrays;
    for (int i = 0; i < values.size(); ++i) {
      absl::StatusOr<NDArray> a = rpc::FromProto(values[i], Context::Cpu());
      if (!a.ok()) return Annotate(a.status(), absl::StrCat("values[", i, "]"));
      arrays.push_back(*std::move(a));
    }
    return job->Push(id, ref.rank(), arrays, wait);
  }
  if (!values.empty()) {
    return absl::InvalidArgumentError("kvstore: a push carries values or shm_value, not both");
  }
  MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<const shm::Region> region,
                          FindRegion(regions, ref, *shm));
  absl::StatusOr<NDArray> value = ShmArray(region, *shm);
  if (!value.ok()) return Annotate(value.status(), "shm_value");
  absl::Status pushed = job->Push(id, ref.rank(), {*value}, wait);
  // Every operation that reads the bytes done (also after a failed push: an operation may
  // have been queued): the client may reuse them once we answer.
  PendingRead read{*std::move(value), std::move(region)};
  if (reads != nullptr) {
    reads->push_back(std::move(read));
    return pushed;
  }
  absl::Status finished = FinishRead(read);
  MXGRID_RETURN_IF_ERROR(pushed);
  return finished;
}

absl::Status FinishRead(const PendingRead& read) {
  return FinishReads(absl::MakeConstSpan(&read, 1))[0];
}

std::vector<absl::Status> FinishReads(absl::Span<const PendingRead> reads) {
  std::vector<absl::Status> statuses(reads.size());
  if (reads.empty()) return statuses;
  std::vector<engine::VarHandle> vars;
  vars.reserve(reads.size());
  for (const PendingRead& read : reads) vars.push_back(read.value.var());
  // An empty write of every value orders after all their pending reads; waiting for one of
  // them waits for it.
  engine::PushOptions options;
  options.name = "finish_shm_reads";
  engine::Get()->PushSync([](const engine::RunContext&) { return absl::OkStatus(); },
                          Context::Cpu(), {}, vars, options);
  const absl::Status waited = engine::Get()->WaitForVar(vars[0]);
  for (size_t i = 0; i < reads.size(); ++i) {
    if (!waited.ok()) {
      statuses[i] = waited;
    } else if (reads[i].region->poisoned()) {
      statuses[i] = absl::FailedPreconditionError(absl::StrCat(
          "kvstore: shared memory ", reads[i].region->name(),
          " was truncated while the push read it; register a new region"));
    }
  }
  return statuses;
}

absl::Status PullValue(kvstore::Job* job, const kvstore::KeyId& id, const v1::KeyRef& ref,
                       v1::DType dtype, const v1::ShmValue* shm_out, const ShmRegions& regions,
                       const kvstore::WaitOptions& wait, v1::Tensor* value) {
  std::optional<DType> want;
  if (dtype != v1::DTYPE_UNSPECIFIED) {
    MXGRID_ASSIGN_OR_RETURN(DType d, rpc::FromProtoDType(dtype));
    want = d;
  }
  if (shm_out == nullptr) {
    MXGRID_ASSIGN_OR_RETURN(NDArray out, job->Pull(id, ref.rank(), want, wait));
    return rpc::ToProto(out, value);
  }
  // Before the wait: a bad region fails at once.
  MXGRID_ASSIGN_OR_RETURN(ShmPullTarget target, ShmPullTarget::Make(regions, ref, *shm_out, want));
  MXGRID_ASSIGN_OR_RETURN(NDArray out, job->PullInto(id, ref.rank(), wait, target.Destination()));
  return target.Finish(out, value);  // PullInto waited for its copy into `out`
}

absl::StatusOr<ShmPullTarget> ShmPullTarget::Make(const ShmRegions& regions,
                                                  const v1::KeyRef& ref,
                                                  const v1::ShmValue& shm_out,
                                                  std::optional<DType> want) {
  MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<const shm::Region> region,
                          FindRegion(regions, ref, shm_out));
  return ShmPullTarget(std::move(region), shm_out.offset(), want);
}

kvstore::Job::PullDestination ShmPullTarget::Destination() {
  return [this](const Shape& shape, DType own) -> absl::StatusOr<NDArray> {
    const DType dtype = want_.value_or(own);
    const int64_t bytes = shape.Size() * static_cast<int64_t>(DTypeSize(dtype));
    if (absl::Status s = region_->CheckRange(offset_, bytes); !s.ok()) {
      return Annotate(s, absl::StrCat("shm_out: the value of ", shape.ToString(), " ",
                                      DTypeName(dtype), " does not fit"));
    }
    MXGRID_ASSIGN_OR_RETURN(void* at, region_->Address(offset_, bytes));
    absl::StatusOr<NDArray> wrapped =
        NDArray::WrapHost(at, shape, dtype, Context::Cpu(), [region = region_] {});
    in_place_ = wrapped.ok();
    if (in_place_) return wrapped;
    return NDArray::Empty(shape, Context::Cpu(), dtype);
  };
}

absl::Status ShmPullTarget::Finish(const NDArray& out, v1::Tensor* meta_value) const {
  if (!in_place_) {
    MXGRID_RETURN_IF_ERROR(
        region_->Write(offset_, out.data(), static_cast<int64_t>(out.nbytes())));
  }
  if (region_->poisoned()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "kvstore: shared memory ", region_->name(),
        " was truncated while the pull wrote it; register a new region"));
  }
  rpc::ToProto(out.dtype(), out.shape(), meta_value->mutable_meta());
  return absl::OkStatus();
}

grpc::Status KVStoreService::RegisterShardShm(grpc::ServerContext*,
                                              const v1::RegisterShardShmRequest* request,
                                              v1::RegisterShardShmResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<kvstore::Job> job, table_->Find(request->job()));
    // The rank must be joined (FAILED_PRECONDITION otherwise); Heartbeat checks exactly that
    // (and refreshes the rank's last-seen time, which this call is evidence of anyway).
    MXGRID_RETURN_IF_ERROR(job->Heartbeat(request->rank()).status());
    MXGRID_ASSIGN_OR_RETURN(uint64_t id, regions_.Register(request->job(), request->rank(),
                                                           request->name(),
                                                           request->byte_size()));
    response->set_region(id);
    return absl::OkStatus();
  }());
}

grpc::Status KVStoreService::UnregisterShardShm(grpc::ServerContext*,
                                                const v1::UnregisterShardShmRequest* request,
                                                v1::UnregisterShardShmResponse*) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_RETURN_IF_ERROR(table_->Find(request->job()).status());
    return regions_.Unregister(request->job(), request->rank(), request->region());
  }());
}

}  // namespace mxgrid::services
