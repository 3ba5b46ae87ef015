// GrpcShardConnection: unary calls through the callback API, large values through chunk
// stream reactors (kvstore_streams.h).
#include "services/worker/internal/kvstore_shards.h"

#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "libs/base/status_macros.h"
#include "services/worker/internal/kvstore_batcher.h"
#include "services/worker/internal/kvstore_shard_shm.h"
#include "services/worker/internal/kvstore_streams.h"

namespace mxgrid::services::internal {
namespace {

using kvstore::client::Done;
using kvstore::client::JobInfo;
using kvstore::client::KeyRef;
using kvstore::client::Membership;
using kvstore::client::Mode;
using kvstore::client::PartState;
using tensor::NDArray;

v1::KVMode ToProto(Mode mode) {
  switch (mode) {
    case Mode::kSync:
      return v1::KV_MODE_SYNC;
    case Mode::kAsync:
      return v1::KV_MODE_ASYNC;
    case Mode::kUnspecified:
      break;
  }
  return v1::KV_MODE_UNSPECIFIED;
}

Mode FromProto(v1::KVMode mode) {
  switch (mode) {
    case v1::KV_MODE_SYNC:
      return Mode::kSync;
    case v1::KV_MODE_ASYNC:
      return Mode::kAsync;
    default:
      return Mode::kUnspecified;
  }
}

}  // namespace

void ToProto(const KeyRef& ref, v1::KeyRef* out) {
  out->set_job(ref.job);
  out->set_key(ref.key);
  out->set_part(ref.part);
  out->set_rank(ref.rank);
}

absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

namespace {

// One channel per (address, message limit) for the process, never destroyed: stores of every
// session share a shard's connection, and the callback API's completion queue stays
// referenced (gRPC 1.51 races the release of its last reference against the queue's own
// thread, which aborted processes that dropped their last callback channel: 4 runs in 20).
std::shared_ptr<grpc::Channel> SharedChannel(const std::string& address,
                                             const ShardConnectionOptions& options) {
  static base::Mutex* const mu = new base::Mutex();
  // Guarded by *mu.
  static auto* const channels =
      new std::map<std::pair<std::string, int>, std::shared_ptr<grpc::Channel>>();
  base::MutexLock lock(mu);
  std::shared_ptr<grpc::Channel>& channel =
      (*channels)[{address, options.max_message_bytes}];
  if (channel != nullptr) return channel;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  args.SetMaxSendMessageSize(options.max_message_bytes);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 60000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // A restarted shard is found again quickly (the retries re-join it).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  channel = grpc::CreateCustomChannel(
      address,
      options.credentials != nullptr ? options.credentials : grpc::InsecureChannelCredentials(),
      args);
  return channel;
}

}  // namespace

GrpcShardConnection::Impl::Impl(std::string address, const ShardConnectionOptions& options)
    : address(std::move(address)),
      options(options),
      channel(SharedChannel(this->address, options)),
      stub(v1::KVStore::NewStub(channel)) {}

void GrpcShardConnection::Impl::Track(grpc::ClientContext* ctx, absl::Time deadline) {
  ctx->set_deadline(absl::ToChronoTime(deadline));
  base::MutexLock lock(&mu);
  live.insert(ctx);
}

void GrpcShardConnection::Impl::Untrack(grpc::ClientContext* ctx) {
  base::MutexLock lock(&mu);
  live.erase(ctx);
}

void GrpcShardConnection::Impl::CancelAll() {
  base::MutexLock lock(&mu);
  for (grpc::ClientContext* ctx : live) ctx->TryCancel();
}

namespace {

template <typename Resp>
std::function<void(absl::Status, const Resp&)> StatusOnly(Done done) {
  return [done = std::move(done)](absl::Status s, const Resp&) { done(std::move(s)); };
}

}  // namespace

std::unique_ptr<GrpcShardConnection> GrpcShardConnection::Create(
    const std::string& address, const ShardConnectionOptions& options) {
  return std::unique_ptr<GrpcShardConnection>(
      new GrpcShardConnection(std::make_shared<Impl>(address, options)));
}

GrpcShardConnection::GrpcShardConnection(std::shared_ptr<Impl> impl)
    : impl_(std::move(impl)),
      batcher_(std::make_unique<ShardBatcher>(impl_, impl_->options.batching)) {}

GrpcShardConnection::~GrpcShardConnection() {
  batcher_.reset();  // joins its sender; queued items end CANCELLED
  impl_->CancelAll();
}

int64_t GrpcShardConnection::batches_sent() const { return batcher_->batches_sent(); }

const std::string& GrpcShardConnection::address() const { return impl_->address; }

void GrpcShardConnection::Hold() { batcher_->Hold(); }

void GrpcShardConnection::Release() { batcher_->Release(); }

void GrpcShardConnection::CancelAll() {
  batcher_->CancelQueued();  // first: a batch is tracked as its items leave the queue
  impl_->CancelAll();
}

void GrpcShardConnection::JoinJob(const Membership& m, absl::Time deadline,
                                  std::function<void(absl::StatusOr<JobInfo>)> done) {
  v1::JoinJobRequest req;
  req.set_job(m.job);
  req.set_rank(m.rank);
  req.set_num_workers(m.num_workers);
  req.set_mode(ToProto(m.mode));
  req.set_heartbeat_timeout_ms(absl::ToInt64Milliseconds(m.heartbeat_timeout));
  StartUnary<v1::JoinJobRequest, v1::JoinJobResponse>(
      impl_, [](auto* a, auto* c, auto* q, auto* r, auto cb) { a->JoinJob(c, q, r, std::move(cb)); }, std::move(req), deadline,
      [done = std::move(done)](absl::Status s, const v1::JoinJobResponse& r) {
        if (!s.ok()) return done(std::move(s));
        done(JobInfo{.num_workers = r.num_workers(),
                     .mode = FromProto(r.mode()),
                     .heartbeat_timeout = absl::Milliseconds(r.heartbeat_timeout_ms()),
                     .restored_round = r.restored_round(),
                     .restored_keys = r.restored_keys()});
      });
}

void GrpcShardConnection::Heartbeat(const std::string& job, int rank, absl::Time deadline,
                                    Done done) {
  v1::HeartbeatRequest req;
  req.set_job(job);
  req.set_rank(rank);
  StartUnary<v1::HeartbeatRequest, v1::HeartbeatResponse>(
      impl_, [](auto* a, auto* c, auto* q, auto* r, auto cb) { a->Heartbeat(c, q, r, std::move(cb)); }, std::move(req), deadline,
      StatusOnly<v1::HeartbeatResponse>(std::move(done)));
}

void GrpcShardConnection::LeaveJob(const std::string& job, int rank, absl::Time deadline,
                                   Done done) {
  v1::LeaveJobRequest req;
  req.set_job(job);
  req.set_rank(rank);
  StartUnary<v1::LeaveJobRequest, v1::LeaveJobResponse>(
      impl_, [](auto* a, auto* c, auto* q, auto* r, auto cb) { a->LeaveJob(c, q, r, std::move(cb)); }, std::move(req), deadline,
      StatusOnly<v1::LeaveJobResponse>(std::move(done)));
}

void GrpcShardConnection::Barrier(const std::string& job, int rank, absl::Time deadline,
                                  Done done) {
  v1::BarrierRequest req;
  req.set_job(job);
  req.set_rank(rank);
  StartUnary<v1::BarrierRequest, v1::BarrierResponse>(
      impl_, [](auto* a, auto* c, auto* q, auto* r, auto cb) { a->Barrier(c, q, r, std::move(cb)); }, std::move(req), deadline,
      StatusOnly<v1::BarrierResponse>(std::move(done)));
}

void GrpcShardConnection::Init(const KeyRef& ref, int index, const NDArray& value,
                               absl::Time deadline, Done done) {
  if (value.nbytes() > impl_->options.max_unary_bytes) {
    v1::InitStreamRequest first;
    ToProto(ref, first.mutable_ref());
    first.set_index(index);
    StartInitStream(impl_, std::move(first), value, deadline, std::move(done));
    return;
  }
  v1::InitRequest req;
  ToProto(ref, req.mutable_ref());
  req.set_index(index);
  EncodeTensor(value, req.mutable_value());
  StartUnary<v1::InitRequest, v1::InitResponse>(impl_, [](auto* a, auto* c, auto* q, auto* r, auto cb) { a->Init(c, q, r, std::move(cb)); },
                                           std::move(req), deadline,
                                           StatusOnly<v1::InitResponse>(std::move(done)));
}

namespace {

// Push and Pull over `impl`'s channel (unary, or a chunk stream for large values); free
// functions so that a callback may chain them without the connection object.
void PushByMessage(const std::shared_ptr<GrpcShardConnection::Impl>& impl, const KeyRef& ref,
                   const NDArray& value, absl::Time deadline, Done done) {
  if (value.nbytes() > impl->options.max_unary_bytes) {
    v1::PushStreamRequest first;
    internal::ToProto(ref, first.mutable_ref());
    StartPushStream(impl, std::move(first), value, deadline, std::move(done));
    return;
  }
  v1::PushRequest req;
  internal::ToProto(ref, req.mutable_ref());
  EncodeTensor(value, req.add_values());
  StartUnary<v1::PushRequest, v1::PushResponse>(impl, [](auto* a, auto* c, auto* q, auto* r, auto cb) { a->Push(c, q, r, std::move(cb)); },
                                           std::move(req), deadline,
                                           StatusOnly<v1::PushResponse>(std::move(done)));
}

void PullByMessage(const std::shared_ptr<GrpcShardConnection::Impl>& impl, const KeyRef& ref,
                   const NDArray& out, absl::Time deadline, Done done) {
  if (out.nbytes() > impl->options.max_unary_bytes) {
    v1::PullStreamRequest req;
    internal::ToProto(ref, req.mutable_ref());
    req.set_dtype(rpc::ToProtoDType(out.dtype()));
    req.set_chunk_bytes(static_cast<int64_t>(rpc::kDefaultChunkBytes));
    StartPullStream(impl, std::move(req), out, deadline, std::move(done));
    return;
  }
  v1::PullRequest req;
  internal::ToProto(ref, req.mutable_ref());
  req.set_dtype(rpc::ToProtoDType(out.dtype()));
  StartUnary<v1::PullRequest, v1::PullResponse>(
      impl, [](auto* a, auto* c, auto* q, auto* r, auto cb) { a->Pull(c, q, r, std::move(cb)); }, std::move(req), deadline,
      [out, done = std::move(done)](absl::Status s, const v1::PullResponse& r) {
        if (!s.ok()) return done(std::move(s));
        done(DecodeTensorInto(r.value(), out));
      });
}

// Large values through same-host shared memory when the shard shares it
// (kvstore_shard_shm.h), else by message.
void PushOn(const std::shared_ptr<GrpcShardConnection::Impl>& impl, const KeyRef& ref,
            const NDArray& value, absl::Time deadline, Done done) {
  if (ShmPush(impl, ref, value, deadline, &done, [impl, ref, value, deadline](Done d) {
        PushByMessage(impl, ref, value, deadline, std::move(d));
      })) {
    return;
  }
  PushByMessage(impl, ref, value, deadline, std::move(done));
}

void PullOn(const std::shared_ptr<GrpcShardConnection::Impl>& impl, const KeyRef& ref,
            const NDArray& out, absl::Time deadline, Done done) {
  if (ShmPull(impl, ref, out, deadline, &done, [impl, ref, out, deadline](Done d) {
        PullByMessage(impl, ref, out, deadline, std::move(d));
      })) {
    return;
  }
  PullByMessage(impl, ref, out, deadline, std::move(done));
}

}  // namespace

namespace {

void ToProto(const kvstore::PartRows& rows, v1::PartRows* out) {
  out->mutable_ids()->Assign(rows.ids().begin(), rows.ids().end());
  out->set_row_length(rows.row_length());
  out->set_first(rows.first());
}

// RESOURCE_EXHAUSTED for a row_sparse value over the message limit (rows go unary only).
absl::Status CheckRowsFit(const GrpcShardConnection::Impl& impl, const NDArray& value) {
  // Room for the message's other fields (the row ids: at most 10 bytes each).
  if (value.nbytes() + 4096 <= static_cast<size_t>(impl.options.max_message_bytes)) {
    return absl::OkStatus();
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "kvstore row_sparse push or pull of ", value.nbytes(), " bytes to ", impl.address,
      " is over the ", impl.options.max_message_bytes,
      "-byte message limit (the shards' and workers' --max_message_bytes)"));
}

}  // namespace

void GrpcShardConnection::PushRows(const KeyRef& ref, const kvstore::PartRows& rows,
                                   const NDArray& value, absl::Time deadline, Done done) {
  if (absl::Status s = CheckRowsFit(*impl_, value); !s.ok()) return done(std::move(s));
  v1::PushRequest req;
  internal::ToProto(ref, req.mutable_ref());
  ToProto(rows, req.mutable_rows());
  EncodeTensor(value, req.add_values());
  StartUnary<v1::PushRequest, v1::PushResponse>(
      impl_, [](auto* a, auto* c, auto* q, auto* r, auto cb) { a->Push(c, q, r, std::move(cb)); },
      std::move(req), deadline, StatusOnly<v1::PushResponse>(std::move(done)));
}

void GrpcShardConnection::PullRows(const KeyRef& ref, const kvstore::PartRows& rows,
                                   const NDArray& out, absl::Time deadline, Done done) {
  if (absl::Status s = CheckRowsFit(*impl_, out); !s.ok()) return done(std::move(s));
  v1::PullRequest req;
  internal::ToProto(ref, req.mutable_ref());
  ToProto(rows, req.mutable_rows());
  req.set_dtype(rpc::ToProtoDType(out.dtype()));
  StartUnary<v1::PullRequest, v1::PullResponse>(
      impl_, [](auto* a, auto* c, auto* q, auto* r, auto cb) { a->Pull(c, q, r, std::move(cb)); },
      std::move(req), deadline,
      [out, done = std::move(done)](absl::Status s, const v1::PullResponse& r) {
        if (!s.ok()) return done(std::move(s));
        done(DecodeTensorInto(r.value(), out));
      });
}

void GrpcShardConnection::Push(const KeyRef& ref, const NDArray& value, absl::Time deadline,
                               Done done) {
  if (batcher_->Enqueue(ShardBatcher::Call::kPush, ref, &value, nullptr, deadline, &done)) return;
  PushOn(impl_, ref, value, deadline, std::move(done));
}

void GrpcShardConnection::Pull(const KeyRef& ref, const NDArray& out, absl::Time deadline,
                               Done done) {
  if (batcher_->Enqueue(ShardBatcher::Call::kPull, ref, nullptr, &out, deadline, &done)) return;
  PullOn(impl_, ref, out, deadline, std::move(done));
}

void GrpcShardConnection::PushPull(const KeyRef& ref, const NDArray& value, const NDArray& out,
                                   absl::Time deadline, Done done) {
  if (batcher_->Enqueue(ShardBatcher::Call::kPushPull, ref, &value, &out, deadline, &done)) {
    return;
  }
  // Through shared memory (kvstore_shard_shm.h); a shard that forgot our regions gets the
  // push, then the pull, by message.
  if (ShmPushPull(impl_, ref, value, out, deadline, &done,
                  [impl = impl_, ref, value, out, deadline](Done d) {
                    PushByMessage(impl, ref, value, deadline,
                                  [impl, ref, out, deadline, d = std::move(d)](absl::Status s) {
                                    if (!s.ok()) return d(std::move(s));
                                    PullByMessage(impl, ref, out, deadline, std::move(d));
                                  });
                  })) {
    return;
  }
  if (value.nbytes() > impl_->options.max_unary_bytes ||
      out.nbytes() > impl_->options.max_unary_bytes) {
    // Streams: the push, then the pull from its callback. The callback lets go of impl
    // before `done` runs (as the stream reactors do), so that it is not the one to drop the
    // last reference to the channel.
    PushOn(impl_, ref, value, deadline,
           [impl = impl_, ref, out, deadline, done = std::move(done)](absl::Status s) mutable {
             std::shared_ptr<Impl> self = std::move(impl);
             if (!s.ok()) {
               self.reset();
               return done(std::move(s));
             }
             PullOn(self, ref, out, deadline, std::move(done));
           });
    return;
  }
  v1::PushPullRequest req;
  ToProto(ref, req.mutable_ref());
  EncodeTensor(value, req.add_values());
  req.set_dtype(rpc::ToProtoDType(out.dtype()));
  StartUnary<v1::PushPullRequest, v1::PullResponse>(
      impl_, [](auto* a, auto* c, auto* q, auto* r, auto cb) { a->PushPull(c, q, r, std::move(cb)); },
      std::move(req), deadline,
      [out, done = std::move(done)](absl::Status s, const v1::PullResponse& r) {
        if (!s.ok()) return done(std::move(s));
        done(DecodeTensorInto(r.value(), out));
      });
}

void GrpcShardConnection::SetOptimizer(const std::string& job, int rank,
                                       const std::string& name,
                                       const std::map<std::string, std::string>& params,
                                       const kvstore::KeyMultipliers& mults,
                                       absl::Time deadline, Done done) {
  v1::SetOptimizerRequest req;
  req.set_job(job);
  req.set_rank(rank);
  req.set_name(name);
  for (const auto& [k, v] : params) (*req.mutable_params())[k] = v;
  for (const auto& [k, v] : mults.lr) (*req.mutable_lr_mult())[k] = v;
  for (const auto& [k, v] : mults.wd) (*req.mutable_wd_mult())[k] = v;
  StartUnary<v1::SetOptimizerRequest, v1::SetOptimizerResponse>(
      impl_, [](auto* a, auto* c, auto* q, auto* r, auto cb) { a->SetOptimizer(c, q, r, std::move(cb)); }, std::move(req), deadline,
      StatusOnly<v1::SetOptimizerResponse>(std::move(done)));
}

void GrpcShardConnection::GetOptimizerStates(
    const std::string& job, absl::Time deadline,
    std::function<void(absl::StatusOr<std::vector<PartState>>)> done) {
  v1::GetOptimizerStatesRequest req;
  req.set_job(job);
  StartGetOptimizerStates(impl_, std::move(req), deadline, std::move(done));
}

void GrpcShardConnection::SetOptimizerStates(const std::string& job,
                                             std::vector<PartState> states, absl::Time deadline,
                                             Done done) {
  if (states.empty()) return done(absl::OkStatus());
  std::vector<v1::SetOptimizerStatesRequest> requests;
  for (const PartState& s : states) {
    v1::SetOptimizerStatesRequest r;
    if (requests.empty()) r.set_job(job);
    v1::OptimizerState* state = r.mutable_state();
    state->set_key(s.key);
    state->set_part(s.part);
    state->set_index(s.index);
    state->set_update_count(s.update_count);
    for (const NDArray& a : s.arrays) EncodeTensor(a, state->add_arrays());
    requests.push_back(std::move(r));
  }
  StartSetOptimizerStates(impl_, std::move(requests), deadline, std::move(done));
}

}  // namespace mxgrid::services::internal
