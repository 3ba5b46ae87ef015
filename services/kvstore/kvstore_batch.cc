// KVStoreService::Batch: many small Push / Pull / PushPull calls of one job and rank in one
// round trip (proto/mxgrid/v1/kvstore.proto's comment on rpc Batch is the contract).
//
// Items run in order on the handler's thread. A push (and a PushPull's push) is exactly a
// unary Push (a push over the run-ahead bound waits here and holds the later items, as the
// contract says), except that a value in shared memory is waited for with the others, once
// every item has been taken, rather than one by one. A pull only fixes its round when reached
// (Job::BeginPull); once every item has been taken, the handler waits for each pending pull
// in item order (Job::FinishPull, under the call's deadline and cancellation) and writes its
// value: into the result, or, when the item names shm_out (checked before the item's push
// half counts), straight into the caller's region by the job's copy. So [pull k1, push k2] from one rank and [pull k2,
// push k1] from another cannot wait on each other.
#include <deque>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/base/quote.h"
#include "libs/base/status_macros.h"
#include "services/common/grpc_status.h"
#include "services/kvstore/kvstore_calls.h"
#include "services/kvstore/kvstore_service.h"
#include "services/kvstore/kvstore_shm.h"

namespace mxgrid::services {
namespace {

using kvstore::Job;
using kvstore::KeyId;

// The item's ref; null for an item without a call.
const v1::KeyRef* ItemRef(const v1::BatchItem& item) {
  switch (item.call_case()) {
    case v1::BatchItem::kPush:
      return &item.push().ref();
    case v1::BatchItem::kPull:
      return &item.pull().ref();
    case v1::BatchItem::kPushPull:
      return &item.push_pull().ref();
    default:
      return nullptr;
  }
}

absl::Status CheckItems(const v1::BatchRequest& request) {
  if (request.items_size() == 0) {
    return absl::InvalidArgumentError("kvstore: Batch with no items; send at least one");
  }
  const v1::KeyRef* first = nullptr;
  for (int i = 0; i < request.items_size(); ++i) {
    const v1::KeyRef* ref = ItemRef(request.items(i));
    if (ref == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("kvstore: Batch items[", i, "] has no call (push, pull or push_pull)"));
    }
    const v1::BatchItem& item = request.items(i);
    if ((item.has_push() && item.push().has_rows()) ||
        (item.has_pull() && item.pull().has_rows())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "kvstore: Batch items[", i, "] carries rows; row_sparse pushes and pulls are unary "
          "Push and Pull calls"));
    }
    if (first == nullptr) {
      first = ref;
    } else if (ref->job() != first->job() || ref->rank() != first->rank()) {
      return absl::InvalidArgumentError(
          absl::StrCat("kvstore: Batch items[", i, "] is of job ", Quoted(ref->job()), " rank ",
                       ref->rank(), " but items[0] of job ", Quoted(first->job()), " rank ",
                       first->rank(), "; one Batch carries one job and rank"));
    }
  }
  return absl::OkStatus();
}

// A status that ends the whole call rather than one item's result.
bool EndsCall(absl::StatusCode code) {
  return code == absl::StatusCode::kDeadlineExceeded || code == absl::StatusCode::kCancelled;
}

void SetResult(const grpc::Status& s, v1::BatchResult* result) {
  result->set_code(static_cast<int32_t>(s.error_code()));
  result->set_message(s.error_message());
}

// A pull whose round is fixed and whose value is still to be waited for.
struct PendingPull {
  const v1::PullRequest* request;  // into the BatchRequest, or the handler's own copies
  std::shared_ptr<Job> job;  // kept alive until the pull is finished
  Job::PullTicket ticket;
  v1::BatchResult* result;
  std::optional<ShmPullTarget> target;  // the item's shm_out: the copy goes straight there
};

absl::Status BeginPull(const kvstore::JobTable& table, const v1::PullRequest& request,
                       std::optional<ShmPullTarget> target, v1::BatchResult* result,
                       std::vector<PendingPull>* pending) {
  KeyId id;
  MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Job> job,
                          kvstore_calls::FindRef(table, request.ref(), &id));
  MXGRID_ASSIGN_OR_RETURN(std::optional<DType> dtype, kvstore_calls::PullDType(request.dtype()));
  MXGRID_ASSIGN_OR_RETURN(Job::PullTicket ticket, job->BeginPull(id, request.ref().rank(), dtype));
  if (target.has_value()) target->set_want(dtype);
  pending->push_back({&request, job, std::move(ticket), result, std::move(target)});
  return absl::OkStatus();
}

}  // namespace

grpc::Status KVStoreService::Batch(grpc::ServerContext* context, const v1::BatchRequest* request,
                                   v1::BatchResponse* response) {
  if (absl::Status s = CheckItems(*request); !s.ok()) return ToGrpc(s);
  const int n = request->items_size();
  response->mutable_results()->Reserve(n);
  for (int i = 0; i < n; ++i) response->add_results();

  std::vector<PendingPull> pending;
  std::vector<PendingRead> reads;                // pushed values in shared memory
  std::vector<v1::BatchResult*> read_results;    // the item of each
  std::deque<v1::PullRequest> push_pull_pulls;  // a PushPull's pull half; stable addresses
  for (int i = 0; i < n; ++i) {
    const v1::BatchItem& item = request->items(i);
    v1::BatchResult* result = response->mutable_results(i);
    const v1::PullRequest* pull = nullptr;
    const v1::ShmValue* shm_out = item.has_pull() && item.pull().has_shm_out()
                                      ? &item.pull().shm_out()
                                  : item.has_push_pull() && item.push_pull().has_shm_out()
                                      ? &item.push_pull().shm_out()
                                      : nullptr;
    std::optional<ShmPullTarget> target;
    if (shm_out != nullptr) {
      // An unknown output region fails before a push half counts (the client redoes it).
      absl::StatusOr<ShmPullTarget> made =
          ShmPullTarget::Make(regions_, *ItemRef(item), *shm_out, std::nullopt);
      if (!made.ok()) {
        SetResult(ToGrpc(made.status()), result);
        continue;
      }
      target = *std::move(made);
    }
    if (item.has_push() || item.has_push_pull()) {
      v1::PushRequest split;  // a PushPull's push half
      const v1::PushRequest* push = &item.push();
      if (item.has_push_pull()) {
        const v1::PushPullRequest& pp = item.push_pull();
        *split.mutable_ref() = pp.ref();
        *split.mutable_values() = pp.values();
        if (pp.has_shm_value()) *split.mutable_shm_value() = pp.shm_value();
        push = &split;
      }
      // As the unary Push, except that a value in shared memory is waited for with the
      // rest, before the answer (reads).
      const size_t before = reads.size();
      absl::Status pushed = [&]() -> absl::Status {
        KeyId id;
        MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Job> job, kvstore_calls::FindRef(*table_, push->ref(), &id));
        return PushValues(job.get(), id, push->ref(), push->values(),
                          push->has_shm_value() ? &push->shm_value() : nullptr, regions_,
                          kvstore_calls::Wait(context), &reads);
      }();
      if (reads.size() > before) read_results.resize(reads.size(), result);
      const grpc::Status s = ToGrpc(pushed);
      if (EndsCall(pushed.code())) {
        FinishReads(reads);  // the bytes are the client's again once we answer
        return s;
      }
      SetResult(s, result);
      if (!s.ok() || item.has_push()) continue;
      v1::PullRequest& half = push_pull_pulls.emplace_back();
      *half.mutable_ref() = item.push_pull().ref();
      half.set_dtype(item.push_pull().dtype());
      if (shm_out != nullptr) *half.mutable_shm_out() = *shm_out;
      pull = &half;
    } else {
      pull = &item.pull();
    }
    if (absl::Status s = BeginPull(*table_, *pull, std::move(target), result, &pending);
        !s.ok()) {
      SetResult(ToGrpc(s), result);
    }
  }

  // The pushed values in shared memory read (the client reuses the bytes once we answer);
  // a truncated region fails its item.
  const std::vector<absl::Status> read = FinishReads(reads);
  for (size_t i = 0; i < reads.size(); ++i) {
    if (!read[i].ok() && read_results[i]->code() == 0) SetResult(ToGrpc(read[i]), read_results[i]);
  }
  // Every pull's round first (the copies queue on the engine), then every copy's wait.
  const kvstore::WaitOptions wait = kvstore_calls::Wait(context);
  std::vector<absl::StatusOr<tensor::NDArray>> values;
  values.reserve(pending.size());
  for (PendingPull& p : pending) {
    if (p.target.has_value()) {
      const Job::PullDestination into = p.target->Destination();
      values.push_back(p.job->FinishPullQueued(p.ticket, wait, &into));
    } else {
      values.push_back(p.job->FinishPullQueued(p.ticket, wait));
    }
    if (EndsCall(values.back().status().code())) return ToGrpc(values.back().status());
  }
  for (size_t i = 0; i < pending.size(); ++i) {
    PendingPull& p = pending[i];
    absl::Status s = values[i].status();
    if (s.ok()) s = values[i]->WaitToRead();
    if (s.ok()) {
      s = p.target.has_value()
              ? p.target->Finish(*values[i], p.result->mutable_value())
              : kvstore_calls::EncodePulled(*p.request, *values[i], p.result->mutable_value());
    }
    if (!s.ok()) {
      p.result->clear_value();
      SetResult(ToGrpc(s), p.result);
    }
  }
  return grpc::Status::OK;
}

}  // namespace mxgrid::services
