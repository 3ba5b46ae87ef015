// ShardBatcher: the queue, the sender thread, and a batch's completion (kvstore_batcher.h).
#include "services/worker/internal/kvstore_batcher.h"

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/client_context.h"

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
};

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

// Completes every item of an answered batch.
void CompleteItems(BatchCall& call, const absl::Status& status) {
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
      if (r.code() != 0) {
        s = absl::Status(static_cast<absl::StatusCode>(r.code()), r.message());
      } else if (!item.out.is_none()) {
        s = DecodeTensorInto(r.value(), item.out);
      }
    }
    Done done = std::move(item.done);
    done(std::move(s));
  }
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
  if (bytes > options_.max_item_bytes) return false;
  Item item;
  item.bytes = bytes;
  item.deadline = deadline;
  v1::KeyRef* proto_ref = nullptr;
  switch (call) {
    case Call::kPush: {
      v1::PushRequest* push = item.proto.mutable_push();
      proto_ref = push->mutable_ref();
      EncodeTensor(*value, push->add_values());
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
      EncodeTensor(*value, pp->add_values());
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
    if (draining_) return true;  // the thread draining now takes it
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
                                      SendUnary(self, call->req.items(static_cast<int>(i)),
                                                std::move(call->items[i]));
                                    }
                                    return;
                                  }
                                  self.reset();
                                  CompleteItems(*call, FromGrpc(s));
                                });
  }
  return true;
}

}  // namespace mxgrid::services::internal
