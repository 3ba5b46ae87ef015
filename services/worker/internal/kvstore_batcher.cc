// ShardBatcher: the queue, the sender thread, and a batch's completion (kvstore_batcher.h).
#include "services/worker/internal/kvstore_batcher.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/client_context.h"
#include "libs/rpc/tensor_codec.h"
#include "services/worker/internal/kvstore_shard_shm.h"

namespace mxgrid::services::internal {
namespace {

using kvstore::client::Done;
using tensor::NDArray;
using Item = ShardBatcher::Item;

const v1::KeyRef& ItemRef(const v1::BatchItem& item) {
  if (item.has_push()) return item.push().ref();
  if (item.has_pull()) return item.pull().ref();
  return item.push_pull().ref();
}

bool SameJobAndRank(const v1::BatchItem& a, const v1::BatchItem& b) {
  return ItemRef(a).job() == ItemRef(b).job() && ItemRef(a).rank() == ItemRef(b).rank();
}

// One Batch call: its context and messages live until the callback.
struct BatchCall {
  grpc::ClientContext ctx;
  v1::BatchRequest req;
  v1::BatchResponse resp;
  std::vector<Item> items;  // items[i].proto moved into req.items(i)
  // The slot the shm items' values travel in, from `pool` of (ref.job, ref.rank).
  std::optional<ShmSlot> slot;
  std::shared_ptr<ShmSlotPool> pool;
  kvstore::client::KeyRef ref;
};

kvstore::client::KeyRef FromProto(const v1::KeyRef& r) {
  return {r.job(), r.key(), r.part(), r.rank()};
}

// Puts a shm item's values into its message instead (`proto`: the item's).
void EncodeInMessage(Item& item, v1::BatchItem* proto) {
  if (proto->has_push()) {
    proto->mutable_push()->clear_shm_value();
    if (proto->push().values_size() == 0) {
      EncodeTensor(item.value, proto->mutable_push()->add_values());
    }
  } else if (proto->has_pull()) {
    proto->mutable_pull()->clear_shm_out();
  } else {
    v1::PushPullRequest* pp = proto->mutable_push_pull();
    pp->clear_shm_value();
    pp->clear_shm_out();
    if (pp->values_size() == 0) EncodeTensor(item.value, pp->add_values());
  }
  item.shm = false;
}

// Names the item's range of `slot` in its message, the pushed value copied in first. False
// when the copy failed (the item then goes by message).
bool IntoSlot(const ShmSlot& slot, Item& item) {
  v1::BatchItem& proto = item.proto;
  v1::ShmValue* in = nullptr;
  v1::ShmValue* out = nullptr;
  if (proto.has_push()) {
    in = proto.mutable_push()->mutable_shm_value();
  } else if (proto.has_pull()) {
    out = proto.mutable_pull()->mutable_shm_out();
  } else {
    in = proto.mutable_push_pull()->mutable_shm_value();
    out = proto.mutable_push_pull()->mutable_shm_out();  // the same range: read, then written
  }
  if (in != nullptr) {
    if (!slot.memory->Write(item.shm_offset, item.value.data(),
                            static_cast<int64_t>(item.value.nbytes())).ok()) {
      return false;
    }
    in->set_region(slot.region);
    in->set_offset(item.shm_offset);
    rpc::ToProto(item.value.dtype(), item.value.shape(), in->mutable_meta());
  }
  if (out != nullptr) {
    out->set_region(slot.region);
    out->set_offset(item.shm_offset);
  }
  return true;
}

// Packs the shm items of `call` into one slot of the connection's pool (each at a 64-byte
// aligned offset), or encodes them into their messages when no slot can be had. Slots are
// taken at least `slot_bytes` large (a full batch), so that any slot given back fits any
// later batch: sized to each batch, a burst's batches of every size made new slots (an
// object, its page faults and a registration each) round after round.
void PackShm(const ImplPtr& impl, BatchCall& call, int64_t slot_bytes, absl::Time deadline) {
  int64_t total = 0;
  for (Item& item : call.items) {
    if (!item.shm) continue;
    item.shm_offset = kShmDataOffset + total;
    const int64_t bytes = static_cast<int64_t>(
        std::max(item.value.is_none() ? 0 : item.value.nbytes(),
                 item.out.is_none() ? 0 : item.out.nbytes()));
    total += (bytes + 63) / 64 * 64;
  }
  if (total == 0) return;
  call.ref = FromProto(ItemRef(call.items.front().proto));
  call.pool = impl->shm.Pool(call.ref.job, call.ref.rank);
  call.slot = TakeShmSlot(impl, *call.pool, call.ref, std::max(total, slot_bytes), deadline);
  for (Item& item : call.items) {
    if (item.shm && (!call.slot.has_value() || !IntoSlot(*call.slot, item))) {
      EncodeInMessage(item, &item.proto);
    }
  }
}

// Sends `item` alone as the unary call it stands for (an older shard without Batch).
void SendUnary(const ImplPtr& impl, const v1::BatchItem& proto, Item item) {
  if (proto.has_push()) {
    StartUnary<v1::PushRequest, v1::PushResponse>(
        impl, [](auto* a, auto* c, auto* q, auto* r, auto cb) { a->Push(c, q, r, std::move(cb)); },
        proto.push(), item.deadline,
        [done = std::move(item.done)](absl::Status s, const v1::PushResponse&) {
          done(std::move(s));
        });
    return;
  }
  std::function<void(absl::Status, const v1::PullResponse&)> decode =
      [out = item.out, done = std::move(item.done)](absl::Status s, const v1::PullResponse& r) {
        if (s.ok()) s = DecodeTensorInto(r.value(), out);
        done(std::move(s));
      };
  if (proto.has_pull()) {
    StartUnary<v1::PullRequest, v1::PullResponse>(
        impl, [](auto* a, auto* c, auto* q, auto* r, auto cb) { a->Pull(c, q, r, std::move(cb)); },
        proto.pull(), item.deadline, std::move(decode));
  } else {
    StartUnary<v1::PushPullRequest, v1::PullResponse>(
        impl,
        [](auto* a, auto* c, auto* q, auto* r, auto cb) { a->PushPull(c, q, r, std::move(cb)); },
        proto.push_pull(), item.deadline, std::move(decode));
  }
}

// Completes every item of an answered batch, then gives its slot back.
void CompleteItems(const ImplPtr& impl, BatchCall& call, const absl::Status& status) {
  const int n = static_cast<int>(call.items.size());
  absl::Status whole = status;
  if (whole.ok() && call.resp.results_size() != n) {
    whole = absl::InternalError(absl::StrCat("the shard answered a Batch of ", n, " items with ",
                                             call.resp.results_size(), " results"));
  }
  for (int i = 0; i < n; ++i) {
    Item& item = call.items[i];
    absl::Status s = whole;
    if (s.ok()) {
      const v1::BatchResult& r = call.resp.results(i);
      if (r.code() == static_cast<int>(absl::StatusCode::kNotFound) && item.shm) {
        // The shard forgot our regions (it restarted, or the rank left and rejoined): the
        // pool makes new ones for later batches; this item goes again alone, by message.
        call.pool->Invalidate();
        v1::BatchItem* proto = call.req.mutable_items(i);
        EncodeInMessage(item, proto);
        SendUnary(impl, *proto, std::move(item));
        continue;
      }
      if (r.code() != 0) {
        s = absl::Status(static_cast<absl::StatusCode>(r.code()), r.message());
      } else if (!item.out.is_none()) {
        s = item.shm ? CopyOutOfSlot(*call.slot, item.shm_offset, r.value().meta(), item.out)
                     : DecodeTensorInto(r.value(), item.out);
      }
    }
    Done done = std::move(item.done);
    done(std::move(s));
  }
  if (call.slot.has_value()) GiveBackShmSlot(impl, call.ref, *call.pool, *std::move(call.slot));
}

}  // namespace

ShardBatcher::ShardBatcher(ImplPtr impl, const ShardBatcherOptions& options)
    : impl_(std::move(impl)), options_(options), sender_([this] { SenderLoop(); }) {}

ShardBatcher::~ShardBatcher() {
  {
    base::MutexLock lock(&mu_);
    stop_ = true;
    wake_cv_.SignalAll();
  }
  sender_.join();
  CancelQueued();
}

bool ShardBatcher::Enqueue(Call call, const kvstore::client::KeyRef& ref, const NDArray* value,
                           const NDArray* out, absl::Time deadline, Done* done) {
  if (options_.max_item_bytes == 0 || state_->unsupported.load(std::memory_order_relaxed)) {
    return false;
  }
  const size_t bytes =
      (value != nullptr ? value->nbytes() : 0) + (out != nullptr ? out->nbytes() : 0);
  const bool shm = options_.min_shm_item_bytes > 0 && bytes >= options_.min_shm_item_bytes &&
                   (value == nullptr || value->context().is_cpu()) &&
                   (out == nullptr || out->context().is_cpu()) && impl_->shm.enabled();
  // Values that travel in the batch's slot do not grow its message: up to a whole batch.
  if (bytes > (shm ? std::max(options_.max_item_bytes, options_.max_batch_bytes)
                   : options_.max_item_bytes)) {
    return false;
  }
  Item item;
  item.bytes = bytes;
  item.deadline = deadline;
  item.shm = shm;
  v1::KeyRef* proto_ref = nullptr;
  switch (call) {
    case Call::kPush: {
      v1::PushRequest* push = item.proto.mutable_push();
      proto_ref = push->mutable_ref();
      if (item.shm) {
        item.value = *value;
      } else {
        EncodeTensor(*value, push->add_values());
      }
      break;
    }
    case Call::kPull: {
      v1::PullRequest* pull = item.proto.mutable_pull();
      proto_ref = pull->mutable_ref();
      pull->set_dtype(rpc::ToProtoDType(out->dtype()));
      item.out = *out;
      break;
    }
    case Call::kPushPull: {
      v1::PushPullRequest* pp = item.proto.mutable_push_pull();
      proto_ref = pp->mutable_ref();
      if (item.shm) {
        item.value = *value;
      } else {
        EncodeTensor(*value, pp->add_values());
      }
      pp->set_dtype(rpc::ToProtoDType(out->dtype()));
      item.out = *out;
      break;
    }
  }
  ToProto(ref, proto_ref);
  item.done = std::move(*done);
  {
    base::MutexLock lock(&mu_);
    queue_.push_back(std::move(item));
    // The thread draining now takes it; a holder's Release sends it.
    if (draining_ || holds_ > 0) return true;
    draining_ = true;
    if (state_->in_flight.load() > 0) {  // a burst under way: let the sender coalesce it
      wake_ = true;
      wake_cv_.Signal();
      return true;
    }
  }
  // A lone call goes at once from this thread (no thread hop on its way); what queued
  // meanwhile (a burst) goes to the sender thread, which coalesces it while this caller
  // returns to producing.
  if (!SendOneBatch()) return true;
  base::MutexLock lock(&mu_);
  if (queue_.empty()) {
    draining_ = false;
  } else {
    wake_ = true;
    wake_cv_.Signal();
  }
  return true;
}

void ShardBatcher::Hold() {
  base::MutexLock lock(&mu_);
  ++holds_;
}

void ShardBatcher::Release() {
  {
    base::MutexLock lock(&mu_);
    if (--holds_ > 0 || draining_ || queue_.empty()) return;
    draining_ = true;
  }
  while (SendOneBatch()) {
  }
}

void ShardBatcher::SenderLoop() {
  while (true) {
    {
      base::MutexLock lock(&mu_);
      while (!stop_ && !wake_) wake_cv_.Wait();
      if (stop_) return;
      wake_ = false;
    }
    while (SendOneBatch()) {
    }
  }
}

void ShardBatcher::CancelQueued() {
  std::deque<Item> cancelled;
  {
    base::MutexLock lock(&mu_);
    cancelled.swap(queue_);
  }
  for (Item& item : cancelled) {
    item.done(absl::CancelledError(
        absl::StrCat("kvstore: call to shard ", impl_->address, " cancelled")));
  }
}

bool ShardBatcher::SendOneBatch() {
  {
    auto call = std::make_shared<BatchCall>();
    absl::Time deadline = absl::InfinitePast();
    {
      base::MutexLock lock(&mu_);
      if (queue_.empty()) {
        draining_ = false;
        return false;
      }
      // FIFO, one job and rank, within the caps (the first item always goes).
      size_t bytes = 0;
      while (!queue_.empty() && static_cast<int>(call->items.size()) < options_.max_batch_items) {
        Item& next = queue_.front();
        if (!call->items.empty() && (bytes + next.bytes > options_.max_batch_bytes ||
                                     !SameJobAndRank(call->items.front().proto, next.proto))) {
          break;
        }
        bytes += next.bytes;
        deadline = std::max(deadline, next.deadline);
        call->items.push_back(std::move(next));
        queue_.pop_front();
      }
      // Tracked under mu_: CancelQueued then Impl::CancelAll cannot miss these items.
      impl_->Track(&call->ctx, deadline);
    }
    PackShm(impl_, *call, static_cast<int64_t>(options_.max_batch_bytes), deadline);
    call->req.mutable_items()->Reserve(static_cast<int>(call->items.size()));
    for (Item& item : call->items) call->req.add_items()->Swap(&item.proto);
    batches_sent_.fetch_add(1);
    state_->in_flight.fetch_add(1);
    impl_->stub->async()->Batch(&call->ctx, &call->req, &call->resp,
                                [state = state_, impl = impl_, call](grpc::Status s) mutable {
                                  ImplPtr self = std::move(impl);
                                  self->Untrack(&call->ctx);
                                  state->in_flight.fetch_sub(1);
                                  if (s.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
                                    // An older shard: send each item alone, and stop batching for
                                    // this connection.
                                    state->unsupported.store(true);
                                    for (size_t i = 0; i < call->items.size(); ++i) {
                                      v1::BatchItem* proto =
                                          call->req.mutable_items(static_cast<int>(i));
                                      if (call->items[i].shm) {
                                        EncodeInMessage(call->items[i], proto);
                                      }
                                      SendUnary(self, *proto, std::move(call->items[i]));
                                    }
                                    if (call->slot.has_value()) {
                                      GiveBackShmSlot(self, call->ref, *call->pool,
                                                      *std::move(call->slot));
                                    }
                                    return;
                                  }
                                  CompleteItems(self, *call, FromGrpc(s));
                                  self.reset();
                                });
  }
  return true;
}

}  // namespace mxgrid::services::internal
