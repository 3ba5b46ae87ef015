// GrpcShardConnection's same-host path (kvstore_shard_shm.h): slots from the pool of the
// call's (job, rank), registered lazily on the first large call.
#include "services/worker/internal/kvstore_shard_shm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/client_context.h"
#include "libs/base/status_macros.h"
#include "libs/rpc/tensor_codec.h"
#include "services/worker/internal/kvstore_streams.h"

namespace mxgrid::services::internal {
namespace {

using kvstore::client::Done;
using kvstore::client::KeyRef;
using tensor::NDArray;

// Registration answers that mean the shard cannot share memory with us at all.
bool ForGood(absl::StatusCode code) {
  return code == absl::StatusCode::kFailedPrecondition ||
         code == absl::StatusCode::kUnimplemented ||
         code == absl::StatusCode::kInvalidArgument ||
         code == absl::StatusCode::kPermissionDenied;
}

// RegisterShardShm, blocking: it runs once per slot made, not per call.
absl::StatusOr<uint64_t> Register(const ShmImplPtr& impl, const KeyRef& ref,
                                  const std::string& name, int64_t bytes, absl::Time deadline) {
  v1::RegisterShardShmRequest req;
  req.set_job(ref.job);
  req.set_rank(ref.rank);
  req.set_name(name);
  req.set_byte_size(bytes);
  v1::RegisterShardShmResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(std::min(deadline, absl::Now() + absl::Seconds(10))));
  MXGRID_RETURN_IF_ERROR(FromGrpc(impl->stub->RegisterShardShm(&ctx, req, &resp)));
  return resp.region();
}

}  // namespace

std::optional<ShmSlot> TakeShmSlot(const ShmImplPtr& impl, ShmSlotPool& pool, const KeyRef& ref,
                                int64_t bytes, absl::Time deadline) {
  absl::StatusOr<ShmSlot> slot =
      pool.Take(bytes, [&](const std::string& name, int64_t size) {
        return Register(impl, ref, name, size, deadline);
      });
  if (slot.ok()) return *std::move(slot);
  if (ForGood(slot.status().code())) impl->shm.Disable();
  return std::nullopt;
}

// One dropped for the pool's keep limit is unregistered best effort: the shard also forgets
// it when the rank leaves.
void GiveBackShmSlot(const ShmImplPtr& impl, const KeyRef& ref, ShmSlotPool& pool,
                     ShmSlot slot) {
  std::optional<uint64_t> gone = pool.Give(std::move(slot));
  if (!gone.has_value()) return;
  v1::UnregisterShardShmRequest req;
  req.set_job(ref.job);
  req.set_rank(ref.rank);
  req.set_region(*gone);
  StartUnary<v1::UnregisterShardShmRequest, v1::UnregisterShardShmResponse>(
      impl, [](auto* a, auto* c, auto* q, auto* r, auto cb) {
        a->UnregisterShardShm(c, q, r, std::move(cb));
      },
      std::move(req), absl::Now() + absl::Seconds(10),
      [](absl::Status, const v1::UnregisterShardShmResponse&) {});
}

namespace {

void SetValue(const ShmSlot& slot, const NDArray& value, v1::ShmValue* out) {
  out->set_region(slot.region);
  out->set_offset(kShmDataOffset);
  rpc::ToProto(value.dtype(), value.shape(), out->mutable_meta());
}

}  // namespace

absl::Status CopyOutOfSlot(const ShmSlot& slot, int64_t offset, const v1::TensorMeta& meta,
                           const NDArray& out) {
  DType dtype;
  Shape shape;
  MXGRID_RETURN_IF_ERROR(rpc::FromProto(meta, &dtype, &shape));
  if (dtype != out.dtype() || shape.Size() != out.size()) {
    return absl::InvalidArgumentError(absl::StrCat("the shard sent ", shape.ToString(), " ",
                                                   DTypeName(dtype), " for a part of ",
                                                   out.size(), " ", DTypeName(out.dtype()),
                                                   " elements"));
  }
  return slot.memory->Read(offset, out.data(), static_cast<int64_t>(out.nbytes()));
}

namespace {

// Copies the pulled value out of the slot into `out` after checking the answer's meta.
absl::Status CopyOut(const ShmSlot& slot, const v1::TensorMeta& meta, const NDArray& out) {
  return CopyOutOfSlot(slot, kShmDataOffset, meta, out);
}

bool Wanted(const ShmImplPtr& impl, const NDArray& a) {
  return static_cast<int64_t>(a.nbytes()) >= kShmMinBytes && a.context().is_cpu() &&
         impl->shm.enabled();
}

// The end of a call through `slot`: the slot goes back, then NOT_FOUND (the shard forgot
// our regions) redoes the call by message, anything else is the answer.
void Finish(ShmImplPtr impl, const KeyRef& ref, const std::shared_ptr<ShmSlotPool>& pool,
            ShmSlot slot, absl::Status status, const ByMessage& by_message, Done done) {
  if (absl::IsNotFound(status)) {
    pool->Invalidate();
    impl.reset();
    return by_message(std::move(done));
  }
  GiveBackShmSlot(impl, ref, *pool, std::move(slot));
  impl.reset();
  done(std::move(status));
}

}  // namespace

ShardShm::ShardShm() {
  const char* env = std::getenv("MXGRID_KV_SHM");
  enabled_ = env == nullptr || std::strcmp(env, "0") != 0;
}

bool ShardShm::enabled() const {
  base::MutexLock lock(&mu_);
  return enabled_;
}

void ShardShm::Disable() {
  base::MutexLock lock(&mu_);
  enabled_ = false;
}

std::shared_ptr<ShmSlotPool> ShardShm::Pool(const std::string& job, int rank) {
  base::MutexLock lock(&mu_);
  std::shared_ptr<ShmSlotPool>& pool = pools_[{job, rank}];
  if (pool == nullptr) pool = std::make_shared<ShmSlotPool>(ShmSlotPoolOptions{});
  return pool;
}

namespace {

// A slot of at least `bytes` holding `value` (which the caller keeps readable until the
// call's callback: shard_connection.h), or nothing (the call goes by message).
std::optional<ShmSlot> SlotWithValue(const ShmImplPtr& impl, ShmSlotPool& pool,
                                     const KeyRef& ref, const NDArray& value, int64_t bytes,
                                     absl::Time deadline) {
  std::optional<ShmSlot> slot = TakeShmSlot(impl, pool, ref, bytes, deadline);
  if (!slot.has_value()) return std::nullopt;
  if (!slot->memory->Write(kShmDataOffset, value.data(), static_cast<int64_t>(value.nbytes()))
           .ok()) {
    GiveBackShmSlot(impl, ref, pool, *std::move(slot));
    return std::nullopt;
  }
  return slot;
}

}  // namespace

bool ShmPush(const ShmImplPtr& impl, const KeyRef& ref, const NDArray& value,
             absl::Time deadline, Done* done, ByMessage by_message) {
  if (!Wanted(impl, value)) return false;
  std::shared_ptr<ShmSlotPool> pool = impl->shm.Pool(ref.job, ref.rank);
  std::optional<ShmSlot> slot = SlotWithValue(impl, *pool, ref, value,
                                              static_cast<int64_t>(value.nbytes()), deadline);
  if (!slot.has_value()) return false;
  v1::PushRequest req;
  ToProto(ref, req.mutable_ref());
  SetValue(*slot, value, req.mutable_shm_value());
  StartUnary<v1::PushRequest, v1::PushResponse>(
      impl, [](auto* a, auto* c, auto* q, auto* r, auto cb) { a->Push(c, q, r, std::move(cb)); },
      std::move(req), deadline,
      [impl, ref, pool, slot = *std::move(slot), by_message = std::move(by_message),
       done = std::move(*done)](absl::Status s, const v1::PushResponse&) mutable {
        Finish(std::move(impl), ref, pool, std::move(slot), std::move(s), by_message,
               std::move(done));
      });
  return true;
}

bool ShmPull(const ShmImplPtr& impl, const KeyRef& ref, const NDArray& out, absl::Time deadline,
             Done* done, ByMessage by_message) {
  if (!Wanted(impl, out)) return false;
  std::shared_ptr<ShmSlotPool> pool = impl->shm.Pool(ref.job, ref.rank);
  std::optional<ShmSlot> slot =
      TakeShmSlot(impl, *pool, ref, static_cast<int64_t>(out.nbytes()), deadline);
  if (!slot.has_value()) return false;
  v1::PullRequest req;
  ToProto(ref, req.mutable_ref());
  req.set_dtype(rpc::ToProtoDType(out.dtype()));
  req.mutable_shm_out()->set_region(slot->region);
  req.mutable_shm_out()->set_offset(kShmDataOffset);
  StartUnary<v1::PullRequest, v1::PullResponse>(
      impl, [](auto* a, auto* c, auto* q, auto* r, auto cb) { a->Pull(c, q, r, std::move(cb)); },
      std::move(req), deadline,
      [impl, ref, out, pool, slot = *std::move(slot), by_message = std::move(by_message),
       done = std::move(*done)](absl::Status s, const v1::PullResponse& r) mutable {
        if (s.ok()) s = CopyOut(slot, r.value().meta(), out);
        Finish(std::move(impl), ref, pool, std::move(slot), std::move(s), by_message,
               std::move(done));
      });
  return true;
}

bool ShmPushPull(const ShmImplPtr& impl, const KeyRef& ref, const NDArray& value,
                 const NDArray& out, absl::Time deadline, Done* done, ByMessage by_message) {
  if (!Wanted(impl, value) || !Wanted(impl, out)) return false;
  std::shared_ptr<ShmSlotPool> pool = impl->shm.Pool(ref.job, ref.rank);
  const int64_t bytes = static_cast<int64_t>(std::max(value.nbytes(), out.nbytes()));
  std::optional<ShmSlot> slot = SlotWithValue(impl, *pool, ref, value, bytes, deadline);
  if (!slot.has_value()) return false;
  // One range both ways: the shard reads the pushed value before it writes the pulled one.
  v1::PushPullRequest req;
  ToProto(ref, req.mutable_ref());
  req.set_dtype(rpc::ToProtoDType(out.dtype()));
  SetValue(*slot, value, req.mutable_shm_value());
  req.mutable_shm_out()->set_region(slot->region);
  req.mutable_shm_out()->set_offset(kShmDataOffset);
  StartUnary<v1::PushPullRequest, v1::PullResponse>(
      impl,
      [](auto* a, auto* c, auto* q, auto* r, auto cb) { a->PushPull(c, q, r, std::move(cb)); },
      std::move(req), deadline,
      [impl, ref, out, pool, slot = *std::move(slot), by_message = std::move(by_message),
       done = std::move(*done)](absl::Status s, const v1::PullResponse& r) mutable {
        if (s.ok()) s = CopyOut(slot, r.value().meta(), out);
        Finish(std::move(impl), ref, pool, std::move(slot), std::move(s), by_message,
               std::move(done));
      });
  return true;
}

}  // namespace mxgrid::services::internal
