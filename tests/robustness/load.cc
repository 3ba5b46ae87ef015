#include "tests/robustness/load.h"

#include <algorithm>
#include <chrono>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "tests/integration/wire.h"

namespace mxgrid::robustness {

using integration::FloatMeta;
using integration::SetTimeout;

namespace {

double Percentile(std::vector<double> sorted, double q) {
  if (sorted.empty()) return 0;
  const size_t i = std::min(sorted.size() - 1, static_cast<size_t>(q * sorted.size()));
  return sorted[i];
}

}  // namespace

LatencySummary TimeCalls(absl::Duration duration, int64_t max_calls,
                         const std::function<grpc::Status()>& call, absl::Duration pause) {
  LatencySummary summary;
  std::vector<double> ms;
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + absl::ToChronoNanoseconds(duration);
  while (std::chrono::steady_clock::now() < end && (max_calls <= 0 || summary.calls < max_calls)) {
    const auto t0 = std::chrono::steady_clock::now();
    const grpc::Status s = call();
    const auto t1 = std::chrono::steady_clock::now();
    if (pause > absl::ZeroDuration()) absl::SleepFor(pause);
    if (!s.ok()) {
      if (summary.failures++ == 0) summary.first_failure = s;
      continue;
    }
    ++summary.calls;
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  summary.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::sort(ms.begin(), ms.end());
  summary.p50_ms = Percentile(ms, 0.50);
  summary.p99_ms = Percentile(ms, 0.99);
  summary.max_ms = ms.empty() ? 0 : ms.back();
  return summary;
}

absl::StatusOr<std::unique_ptr<TinyOpVictim>> TinyOpVictim::Open(
    std::shared_ptr<grpc::Channel> channel) {
  std::unique_ptr<TinyOpVictim> victim(new TinyOpVictim(std::move(channel)));
  grpc::Status s = victim->client_.Open();
  if (s.ok()) s = victim->client_.UploadFloats({1}, {1}, &victim->input_);
  if (!s.ok()) {
    return absl::UnavailableError("victim setup: " + integration::Describe(s));
  }
  return victim;
}

grpc::Status TinyOpVictim::Step(absl::Duration deadline) {
  v1::InvokeRequest request;
  request.set_session(client_.session());
  request.set_op("_plus_scalar");
  (*request.mutable_attrs())["scalar"] = "1";
  request.add_inputs(input_);
  v1::InvokeResponse response;
  {
    grpc::ClientContext context;
    SetTimeout(&context, deadline);
    const grpc::Status s = client_.stub()->Invoke(&context, request, &response);
    if (!s.ok()) return s;
  }
  const uint64_t out = response.outputs(0).handle();
  v1::Tensor value;
  grpc::Status s = client_.Download(out, &value, deadline);
  if (s.ok() && integration::TensorFloats(value) != std::vector<float>{2}) {
    s = grpc::Status(grpc::StatusCode::DATA_LOSS, "the victim's 1 + 1 was not 2");
  }
  const grpc::Status freed = client_.Free({out});
  return s.ok() ? freed : s;
}

Flooder::Flooder(std::shared_ptr<grpc::Channel> channel, FloodOptions options)
    : options_(options), client_(std::move(channel)) {}

Flooder::~Flooder() { Stop(); }

grpc::Status Flooder::Start() {
  grpc::Status s = client_.Open();
  if (s.ok()) s = client_.Create(FloatMeta({options_.n, options_.n}), 0.5, &x_);
  if (s.ok()) s = client_.Create(FloatMeta({options_.n, options_.n}), 0, &o_);
  if (!s.ok()) return s;
  thread_ = std::thread([this] { Loop(); });
  return grpc::Status::OK;
}

void Flooder::Stop() {
  if (!thread_.joinable()) return;
  stop_ = true;
  thread_.join();
  client_.Close().ok();  // the worker frees the session's queued work as it finishes
}

std::map<grpc::StatusCode, int64_t> Flooder::codes() const {
  base::MutexLock lock(&mu_);
  return codes_;
}

void Flooder::Loop() {
  v1::InvokeBatchRequest request;
  request.set_session(client_.session());
  for (int i = 0; i < options_.batch; ++i) {
    v1::InvokeRequest* call = request.add_calls();
    call->set_op("dot");
    call->add_inputs(x_);
    call->add_inputs(x_);
    call->add_outputs(o_);
  }
  while (!stop_) {
    grpc::ClientContext context;
    SetTimeout(&context, options_.call_deadline);
    v1::InvokeBatchResponse response;
    const grpc::Status s = client_.stub()->InvokeBatch(&context, request, &response);
    queued_ += response.results_size();
    base::MutexLock lock(&mu_);
    ++codes_[s.error_code()];
  }
}

}  // namespace mxgrid::robustness
