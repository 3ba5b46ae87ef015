#include "services/worker/internal/kvstore_streams.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/support/client_callback.h"
#include "libs/base/status_macros.h"

namespace mxgrid::services::internal {
namespace {

using kvstore::client::Done;
using kvstore::client::PartState;
using tensor::NDArray;

// Writes `value` as TensorChunks after the key fields of `first` (InitStreamRequest or
// PushStreamRequest: both have `chunk`).
template <typename Req>
class ChunkWriter final : public grpc::ClientWriteReactor<Req> {
 public:
  ChunkWriter(ImplPtr impl, Req first, NDArray value, Done done)
      : impl_(std::move(impl)),
        first_(std::move(first)),
        value_(std::move(value)),
        total_(static_cast<int64_t>(value_.nbytes())),
        done_(std::move(done)) {}

  // `start(async, ctx, resp, reactor)` calls the stream method.
  template <typename StartFn>
  void Start(StartFn start, absl::Time deadline) {
    impl_->Track(&ctx_, deadline);
    start(impl_->stub->async(), &ctx_, &resp_, this);
    WriteNext();
    this->StartCall();
  }

  void OnWriteDone(bool ok) override {
    if (ok) WriteNext();  // otherwise the stream failed: OnDone follows
  }

  void OnDone(const grpc::Status& s) override {
    impl_->Untrack(&ctx_);
    Done done = std::move(done_);
    delete this;
    done(FromGrpc(s));
  }

 private:
  void WriteNext() {
    if (sent_first_ && offset_ >= total_) {
      this->StartWritesDone();
      return;
    }
    if (!sent_first_) {
      req_ = std::move(first_);
      rpc::ToProto(value_.dtype(), value_.shape(), req_.mutable_chunk()->mutable_meta());
      sent_first_ = true;
    } else {
      req_.Clear();
    }
    const int64_t n =
        std::min<int64_t>(static_cast<int64_t>(rpc::kDefaultChunkBytes), total_ - offset_);
    v1::TensorChunk* chunk = req_.mutable_chunk();
    chunk->set_offset(offset_);
    chunk->set_data(static_cast<const char*>(value_.data()) + offset_, static_cast<size_t>(n));
    offset_ += n;
    this->StartWrite(&req_);
  }

  const ImplPtr impl_;
  grpc::ClientContext ctx_;
  Req first_;
  Req req_;
  typename std::conditional<std::is_same<Req, v1::InitStreamRequest>::value, v1::InitResponse,
                            v1::PushResponse>::type resp_;
  const NDArray value_;
  const int64_t total_;
  int64_t offset_ = 0;
  bool sent_first_ = false;
  Done done_;
};

// Reads a PullStream's chunks into `out`.
class ChunkReader final : public grpc::ClientReadReactor<v1::PullStreamResponse> {
 public:
  ChunkReader(ImplPtr impl, v1::PullStreamRequest request, NDArray out, Done done)
      : impl_(std::move(impl)),
        req_(std::move(request)),
        out_(std::move(out)),
        total_(static_cast<int64_t>(out_.nbytes())),
        done_(std::move(done)) {}

  void Start(absl::Time deadline) {
    impl_->Track(&ctx_, deadline);
    impl_->stub->async()->PullStream(&ctx_, &req_, this);
    StartRead(&resp_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // end of stream or failure: OnDone follows
    error_ = Add(resp_.chunk());
    if (!error_.ok()) {
      ctx_.TryCancel();
      return;
    }
    StartRead(&resp_);
  }

  void OnDone(const grpc::Status& s) override {
    impl_->Untrack(&ctx_);
    absl::Status result = error_.ok() ? FromGrpc(s) : error_;
    if (result.ok() && (!started_ || received_ != total_)) {
      result = absl::InvalidArgumentError(absl::StrCat(
          "the pull stream ended after ", received_, " of ", total_, " bytes"));
    }
    Done done = std::move(done_);
    delete this;
    done(std::move(result));
  }

 private:
  absl::Status Add(const v1::TensorChunk& chunk) {
    if (!started_) {
      if (!chunk.has_meta()) {
        return absl::InvalidArgumentError("the first chunk of a pull stream carries no meta");
      }
      DType dtype;
      Shape shape;
      MXGRID_RETURN_IF_ERROR(rpc::FromProto(chunk.meta(), &dtype, &shape));
      if (dtype != out_.dtype() || shape.Size() != out_.size()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the shard sent ", shape.ToString(), " ", DTypeName(dtype), " for a part of ",
            out_.size(), " ", DTypeName(out_.dtype()), " elements"));
      }
      started_ = true;
    }
    const int64_t n = static_cast<int64_t>(chunk.data().size());
    if (chunk.offset() != received_ || n > total_ - received_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "pull stream chunk at offset ", chunk.offset(), " with ", n, " bytes; expected offset ",
          received_, " of ", total_));
    }
    std::memcpy(static_cast<char*>(out_.data()) + received_, chunk.data().data(), n);
    received_ += n;
    return absl::OkStatus();
  }

  const ImplPtr impl_;
  grpc::ClientContext ctx_;
  v1::PullStreamRequest req_;
  v1::PullStreamResponse resp_;
  const NDArray out_;
  const int64_t total_;
  int64_t received_ = 0;
  bool started_ = false;
  absl::Status error_;
  Done done_;
};

// Collects GetOptimizerStates' stream.
class StateReader final : public grpc::ClientReadReactor<v1::OptimizerState> {
 public:
  using Callback = std::function<void(absl::StatusOr<std::vector<PartState>>)>;
  StateReader(ImplPtr impl, v1::GetOptimizerStatesRequest request, Callback done)
      : impl_(std::move(impl)), req_(std::move(request)), done_(std::move(done)) {}

  void Start(absl::Time deadline) {
    impl_->Track(&ctx_, deadline);
    impl_->stub->async()->GetOptimizerStates(&ctx_, &req_, this);
    StartRead(&resp_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    PartState state{.key = resp_.key(),
                    .part = resp_.part(),
                    .index = resp_.index(),
                    .update_count = resp_.update_count()};
    for (const v1::Tensor& t : resp_.arrays()) {
      absl::StatusOr<NDArray> a = rpc::FromProto(t, Context::Cpu());
      if (!a.ok()) {
        error_ = a.status();
        ctx_.TryCancel();
        return;
      }
      state.arrays.push_back(std::move(*a));
    }
    states_.push_back(std::move(state));
    StartRead(&resp_);
  }

  void OnDone(const grpc::Status& s) override {
    impl_->Untrack(&ctx_);
    absl::StatusOr<std::vector<PartState>> result =
        !error_.ok() ? absl::StatusOr<std::vector<PartState>>(error_)
        : s.ok()     ? absl::StatusOr<std::vector<PartState>>(std::move(states_))
                     : absl::StatusOr<std::vector<PartState>>(FromGrpc(s));
    Callback done = std::move(done_);
    delete this;
    done(std::move(result));
  }

 private:
  const ImplPtr impl_;
  grpc::ClientContext ctx_;
  v1::GetOptimizerStatesRequest req_;
  v1::OptimizerState resp_;
  std::vector<PartState> states_;
  absl::Status error_;
  Callback done_;
};

// Writes SetOptimizerStates' stream.
class StateWriter final : public grpc::ClientWriteReactor<v1::SetOptimizerStatesRequest> {
 public:
  StateWriter(ImplPtr impl, std::vector<v1::SetOptimizerStatesRequest> requests, Done done)
      : impl_(std::move(impl)), requests_(std::move(requests)), done_(std::move(done)) {}

  void Start(absl::Time deadline) {
    impl_->Track(&ctx_, deadline);
    impl_->stub->async()->SetOptimizerStates(&ctx_, &resp_, this);
    WriteNext();
    StartCall();
  }
  void OnWriteDone(bool ok) override {
    if (ok) WriteNext();
  }
  void OnDone(const grpc::Status& s) override {
    impl_->Untrack(&ctx_);
    Done done = std::move(done_);
    delete this;
    done(FromGrpc(s));
  }

 private:
  void WriteNext() {
    if (next_ >= requests_.size()) {
      StartWritesDone();
      return;
    }
    StartWrite(&requests_[next_++]);
  }

  const ImplPtr impl_;
  grpc::ClientContext ctx_;
  std::vector<v1::SetOptimizerStatesRequest> requests_;
  size_t next_ = 0;
  v1::SetOptimizerStatesResponse resp_;
  Done done_;
};

}  // namespace

void EncodeTensor(const NDArray& array, v1::Tensor* out) {
  rpc::ToProto(array.dtype(), array.shape(), out->mutable_meta());
  out->set_data(static_cast<const char*>(array.data()), array.nbytes());
}

absl::Status DecodeTensorInto(const v1::Tensor& tensor, const NDArray& out) {
  DType dtype;
  Shape shape;
  MXGRID_RETURN_IF_ERROR(rpc::FromProto(tensor.meta(), &dtype, &shape));
  if (dtype != out.dtype() || shape.Size() != out.size() ||
      tensor.data().size() != out.nbytes()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the shard sent ", shape.ToString(), " ", DTypeName(dtype), " (", tensor.data().size(),
        " bytes) for a part of ", out.size(), " ", DTypeName(out.dtype()), " elements"));
  }
  std::memcpy(out.data(), tensor.data().data(), tensor.data().size());
  return absl::OkStatus();
}

void StartInitStream(const ImplPtr& impl, v1::InitStreamRequest first, const NDArray& value,
                     absl::Time deadline, Done done) {
  auto* w = new ChunkWriter<v1::InitStreamRequest>(impl, std::move(first), value, std::move(done));
  w->Start([](auto* a, auto* c, auto* r, auto* w) { a->InitStream(c, r, w); }, deadline);
}

void StartPushStream(const ImplPtr& impl, v1::PushStreamRequest first, const NDArray& value,
                     absl::Time deadline, Done done) {
  auto* w = new ChunkWriter<v1::PushStreamRequest>(impl, std::move(first), value, std::move(done));
  w->Start([](auto* a, auto* c, auto* r, auto* w) { a->PushStream(c, r, w); }, deadline);
}

void StartPullStream(const ImplPtr& impl, v1::PullStreamRequest request, const NDArray& out,
                     absl::Time deadline, Done done) {
  (new ChunkReader(impl, std::move(request), out, std::move(done)))->Start(deadline);
}

void StartGetOptimizerStates(
    const ImplPtr& impl, v1::GetOptimizerStatesRequest request, absl::Time deadline,
    std::function<void(absl::StatusOr<std::vector<PartState>>)> done) {
  (new StateReader(impl, std::move(request), std::move(done)))->Start(deadline);
}

void StartSetOptimizerStates(const ImplPtr& impl,
                             std::vector<v1::SetOptimizerStatesRequest> requests,
                             absl::Time deadline, Done done) {
  (new StateWriter(impl, std::move(requests), std::move(done)))->Start(deadline);
}

}  // namespace mxgrid::services::internal
