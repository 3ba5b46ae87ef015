// GPU benchmarks of the C++ core on gpu(0), the PyTorch side being
// tests/bench/torch_gpu_peer.py (same work, same sizes), run alternately by tools/gpu_check:
//   - SGEMM through FullyConnected forward: (8192 x 8192) x (8192 x 8192)^T + bias, float32
//     (TF32 only when MXGRID_GPU_ALLOW_TF32=1, reported as the "tf32" metric then);
//   - Convolution forward+backward: batch 64, 64 -> 64 channels, 56x56, 3x3 pad 1;
//   - training steps (Forward + Backward + sgd_update of every weight) of the MLP
//     784-128-64-10 at batch 128 and 8192 and of LeNet at batch 128 and 1024;
//   - 256 MiB upload (pageable host memory -> device) and download through NDArray copies;
//   - cudaMalloc calls per training step once warm (the pooled allocator's steady state).
// Prints {"metric": ..., "value": ..., "unit": ...} lines.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/base/check.h"
#include "libs/engine/engine.h"
#include "libs/executor/executor.h"
#include "libs/executor/imperative.h"
#include "libs/graph/testing/models.h"
#include "libs/gpu/gpu.h"
#include "libs/ops/builtin.h"

namespace mxgrid {
namespace {

using executor::Executor;
using executor::GradReq;
using graph::Symbol;
using tensor::NDArray;

const Context kGpu = Context::Gpu(0);

void Emit(const std::string& metric, double value, const char* unit) {
  std::printf("{\"metric\": \"%s\", \"value\": %.6g, \"unit\": \"%s\"}\n", metric.c_str(), value,
              unit);
  std::fflush(stdout);
}

void WaitAll() {
  absl::Status s = engine::Get()->WaitForAll();
  MXGRID_CHECK(s.ok()) << s;
}

// Milliseconds per call of `fn`: the median over `rounds` rounds of `iters` calls each (one
// wait per round), after `warmup` calls.
double TimeMs(int warmup, int rounds, int iters, const std::function<void()>& fn) {
  for (int i = 0; i < warmup; ++i) fn();
  WaitAll();
  std::vector<double> per_call;
  for (int r = 0; r < rounds; ++r) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) fn();
    WaitAll();
    per_call.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count() /
        iters);
  }
  std::sort(per_call.begin(), per_call.end());
  return per_call[per_call.size() / 2];
}

NDArray RandomArray(const Shape& shape, uint32_t seed, float scale = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(static_cast<size_t>(shape.Size()));
  for (float& x : v) x = dist(gen);
  absl::StatusOr<NDArray> a = NDArray::FromVector<float>(shape, v, kGpu);
  MXGRID_CHECK(a.ok()) << a.status();
  return *a;
}

std::shared_ptr<const ops::ParsedOp> Parse(const std::string& name, const ops::AttrMap& attrs) {
  absl::StatusOr<ops::ParsedOp> op = ops::GlobalRegistry().Parse(name, attrs);
  MXGRID_CHECK(op.ok()) << op.status();
  return std::make_shared<ops::ParsedOp>(*op);
}

// The nets of libs/graph/testing/models.h.
Symbol Model(absl::StatusOr<Symbol> net) {
  MXGRID_CHECK(net.ok()) << net.status();
  return *net;
}

// One training step: Forward(train) + Backward + sgd_update of each weight, as MXNet's
// Module does with an optimizer on the worker.
struct Trainer {
  std::unique_ptr<Executor> exec;
  std::vector<std::pair<NDArray, NDArray>> weights;  // (weight, gradient)
  std::shared_ptr<const ops::ParsedOp> sgd = Parse("sgd_update", {{"lr", "0.01"}});
  NDArray data, label;

  Trainer(const Symbol& net, const Shape& data_shape) {
    absl::StatusOr<std::unique_ptr<Executor>> e =
        Executor::SimpleBind(net, kGpu, {{"data", data_shape}}, GradReq::kWrite,
                             {{"data", GradReq::kNull}, {"softmax_label", GradReq::kNull}});
    MXGRID_CHECK(e.ok()) << e.status();
    exec = std::move(*e);
    uint32_t seed = 1;
    for (const auto& [name, g] : exec->grad_dict()) {
      NDArray w = exec->arg_dict().at(name);
      MXGRID_CHECK(RandomArray(w.shape(), seed++, 0.05f).CopyTo(w).ok());
      weights.emplace_back(w, g);
    }
    data = RandomArray(data_shape, 99);
    std::vector<float> labels(static_cast<size_t>(data_shape[0]));
    for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<float>(i % 10);
    label = *NDArray::FromVector<float>(Shape{data_shape[0]}, labels, kGpu);
    MXGRID_CHECK(exec->Forward(true, {{"data", data}, {"softmax_label", label}}).ok());
  }

  void Step() {
    MXGRID_CHECK(exec->Forward(true).ok());
    MXGRID_CHECK(exec->Backward().ok());
    for (const auto& [w, g] : weights) {
      executor::InvokeOptions options;
      options.out = {w};
      MXGRID_CHECK(executor::Invoke(sgd, {w, g}, options).ok());
    }
  }
};

void Sgemm(bool tf32) {
  const int64_t n = 8192;
  NDArray x = RandomArray({n, n}, 1), w = RandomArray({n, n}, 2), b = RandomArray({n}, 3);
  NDArray y = *NDArray::Empty({n, n}, kGpu);
  auto fc = Parse("FullyConnected", {{"num_hidden", absl::StrCat(n)}});
  executor::InvokeOptions options;
  options.out = {y};
  const double ms = TimeMs(3, 5, 5, [&] {
    MXGRID_CHECK(executor::Invoke(fc, {x, w, b}, options).ok());
  });
  Emit(tf32 ? "sgemm_tf32_tflops" : "sgemm_tflops", 2.0 * n * n * n / (ms * 1e-3) / 1e12,
       "TFLOP/s");
}

void ConvForwardBackward() {
  graph::NameManager names;
  Symbol conv = Model(Symbol::Create(
      ops::GlobalRegistry(), "Convolution",
      {{"kernel", "(3, 3)"}, {"pad", "(1, 1)"}, {"num_filter", "64"}},
      {{}, {{"data", Symbol::Variable("data")}}}, "conv", &names));
  absl::StatusOr<std::unique_ptr<Executor>> e =
      Executor::SimpleBind(conv, kGpu, {{"data", Shape{64, 64, 56, 56}}}, GradReq::kWrite);
  MXGRID_CHECK(e.ok()) << e.status();
  for (const auto& [name, a] : (*e)->arg_dict()) {
    MXGRID_CHECK(RandomArray(a.shape(), 7, 0.1f).CopyTo(a).ok());
  }
  std::vector<NDArray> heads = {RandomArray({64, 64, 56, 56}, 8)};
  const double ms = TimeMs(3, 5, 10, [&] {
    MXGRID_CHECK((*e)->Forward(true).ok());
    MXGRID_CHECK((*e)->Backward(heads).ok());
  });
  Emit("conv_fwd_bwd_ms", ms, "ms");
}

void Training(const std::string& name, const Symbol& net, const Shape& data_shape, int iters) {
  Trainer t(net, data_shape);
  const double ms = TimeMs(10, 5, iters, [&] { t.Step(); });
  Emit(name + "_step_ms", ms, "ms");
  if (name == "mlp128") {
    const int64_t before = gpu::MallocCalls(0);
    for (int i = 0; i < 100; ++i) t.Step();
    WaitAll();
    Emit("cuda_malloc_per_step", static_cast<double>(gpu::MallocCalls(0) - before) / 100,
         "calls");
  }
}

void Transfers() {
  const size_t bytes = size_t{256} << 20;
  std::vector<char> host(bytes, 1), back(bytes);
  NDArray g = *NDArray::Empty({static_cast<int64_t>(bytes / 4)}, kGpu);
  const double up = TimeMs(2, 7, 1, [&] { MXGRID_CHECK(g.CopyFromHost(host.data(), bytes).ok()); });
  const double down = TimeMs(2, 7, 1, [&] { MXGRID_CHECK(g.CopyToHost(back.data(), bytes).ok()); });
  Emit("upload_gbps", bytes / (up * 1e-3) / 1e9, "GB/s");
  Emit("download_gbps", bytes / (down * 1e-3) / 1e9, "GB/s");
}

int Main(int argc, char** argv) {
  if (gpu::DeviceCount() == 0) {
    std::fprintf(stderr, "gpu_bench: no GPU (%s)\n", gpu::NoDeviceReason().c_str());
    return 2;
  }
  const std::string only = argc > 1 ? argv[1] : "";
  const char* tf32 = std::getenv("MXGRID_GPU_ALLOW_TF32");
  if (tf32 != nullptr && std::string(tf32) == "1") {
    Sgemm(/*tf32=*/true);
    return 0;
  }
  if (only.empty() || only == "sgemm") Sgemm(false);
  if (only.empty() || only == "conv") ConvForwardBackward();
  if (only.empty() || only == "mlp") {
    Training("mlp128", Model(graph::models::Mlp({128, 64})), {128, 784}, 200);
    Training("mlp8192", Model(graph::models::Mlp({128, 64})), {8192, 784}, 50);
  }
  if (only.empty() || only == "lenet") {
    Training("lenet128", Model(graph::models::LeNet()), {128, 1, 28, 28}, 50);
    Training("lenet1024", Model(graph::models::LeNet()), {1024, 1, 28, 28}, 20);
  }
  if (only.empty() || only == "transfer") Transfers();
  return 0;
}

}  // namespace
}  // namespace mxgrid

int main(int argc, char** argv) { return mxgrid::Main(argc, argv); }
