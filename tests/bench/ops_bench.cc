// Operator kernel benchmarks (float32, CPU): forward + backward time per iteration of
// FullyConnected (batch 256, 784 -> 1024), Convolution (batch 64, 3x32x32 -> 64 filters 3x3,
// pad 1), BatchNorm (training, batch 64 x 64 x 32 x 32) and max Pooling (2x2, stride 2, same
// input); and the heavy operators added later: a fused LSTM (RNN, sequence 35, batch 32, 256 ->
// 256), LayerNorm (128 x 1024), a 3-D Convolution (batch 8, 16x16x32x32 -> 32 filters 3x3x3,
// pad 1), topk (k 10 values of 256 x 1000) and sort (256 x 1000). The peer is MXNet 1.9.1 running the same op through its executor
// (tests/bench/mxnet_ops_peer.py), measured by tools/bench in the same run.
// Prints {"metric": ..., "value": ..., "unit": "ms"} lines, and per op a "faults" line (minor
// page faults per iteration); stderr gets min / max, CPU time and faults per iteration.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "libs/base/check.h"
#include "libs/ops/builtin.h"
#include "tests/bench/process_counters.h"

namespace mxgrid::ops {
namespace {

using bench::ProcessCounters;

struct Buffer {
  std::vector<float> data;
  TensorView view;
};

Buffer MakeBuffer(const Shape& shape, std::mt19937* rng) {
  Buffer b;
  b.data.resize(static_cast<size_t>(shape.Size()));
  std::uniform_real_distribution<float> u(-1, 1);
  for (float& v : b.data) v = u(*rng);
  b.view = {b.data.data(), shape, DType::kFloat32, Context::Cpu()};
  return b;
}

constexpr int kIters = 15;

// Median milliseconds of forward (train) + backward over kIters runs after warm-up; the
// minor page faults per run go to *faults_per_iter, a summary line to stderr.
double TimeOp(const std::string& name, const AttrMap& attrs, std::vector<Shape> arg_shapes,
              double* faults_per_iter) {
  absl::StatusOr<ParsedOp> op = GlobalRegistry().Parse(name, attrs);
  MXGRID_CHECK(op.ok()) << op.status();
  std::vector<InferShape> in(arg_shapes.begin(), arg_shapes.end());
  in.resize(op->num_inputs());
  std::vector<InferShape> out(op->num_outputs());
  absl::Status s = op->InferShapes(&in, &out);
  MXGRID_CHECK(s.ok()) << s;
  std::mt19937 rng(7);
  std::vector<Buffer> inputs, outputs, grads, heads;
  std::vector<TensorView> in_views, out_views, grad_views, head_views;
  for (const InferShape& shape : in) inputs.push_back(MakeBuffer(*shape, &rng));
  for (const InferShape& shape : out) outputs.push_back(MakeBuffer(*shape, &rng));
  for (const InferShape& shape : in) grads.push_back(MakeBuffer(*shape, &rng));
  for (int i = 0; i < op->num_visible_outputs(); ++i) {
    heads.push_back(MakeBuffer(*out[i], &rng));
  }
  for (auto* list : {&inputs, &outputs, &grads, &heads}) {
    auto& views = list == &inputs ? in_views : list == &outputs ? out_views
                  : list == &grads ? grad_views : head_views;
    for (const Buffer& b : *list) views.push_back(b.view);
  }
  std::vector<OpReq> out_reqs(out_views.size(), OpReq::kWriteTo);
  std::vector<OpReq> grad_reqs(grad_views.size(), OpReq::kWriteTo);
  for (int aux : op->aux_indices()) grad_reqs[aux] = OpReq::kNull;
  std::mt19937_64 op_rng(1);
  OpContext ctx{true, Context::Cpu(), &op_rng};
  auto once = [&] {
    absl::Status f = op->Forward(ctx, in_views, out_reqs, out_views);
    MXGRID_CHECK(f.ok()) << f;
    BackwardArgs args{head_views, in_views, out_views, grad_views, grad_reqs};
    absl::Status b = op->Backward(ctx, args);
    MXGRID_CHECK(b.ok()) << b;
  };
  for (int i = 0; i < 3; ++i) once();
  std::vector<double> ms;
  const ProcessCounters before = ProcessCounters::Now();
  for (int i = 0; i < kIters; ++i) {
    const auto start = std::chrono::steady_clock::now();
    once();
    ms.push_back(std::chrono::duration<double, std::milli>(
                     std::chrono::steady_clock::now() - start).count());
  }
  const ProcessCounters used = ProcessCounters::Now() - before;
  std::sort(ms.begin(), ms.end());
  *faults_per_iter = static_cast<double>(used.minor_faults) / kIters;
  std::fprintf(stderr, "%s: median %.3f ms (min %.3f, max %.3f); per iteration %.3f ms CPU, "
               "%.1f page faults\n", name.c_str(), ms[ms.size() / 2], ms.front(), ms.back(),
               used.cpu_ms / kIters, *faults_per_iter);
  return ms[ms.size() / 2];
}

void Emit(const char* metric, double value, const char* unit) {
  std::printf("{\"metric\": \"%s\", \"value\": %.6g, \"unit\": \"%s\"}\n", metric, value,
              unit);
  std::fflush(stdout);
}

// The rows named on the command line; empty: every row.
std::vector<std::string>& OnlyRows() {
  static std::vector<std::string> rows;
  return rows;
}

// Emits `metric`_ms and `metric`_faults (minor page faults per iteration) for one op.
void Bench(const std::string& metric, const std::string& op, const AttrMap& attrs,
           std::vector<Shape> arg_shapes) {
  const std::vector<std::string>& only = OnlyRows();
  if (!only.empty() && std::find(only.begin(), only.end(), metric) == only.end()) return;
  double faults = 0;
  const double ms = TimeOp(op, attrs, std::move(arg_shapes), &faults);
  Emit((metric + "_ms").c_str(), ms, "ms");
  Emit((metric + "_faults").c_str(), faults, "faults");
}

}  // namespace
}  // namespace mxgrid::ops

// Usage: ops_bench [row...] (e.g. `ops_bench conv3d`); no arguments runs every row.
int main(int argc, char** argv) {
  using mxgrid::Shape;
  using mxgrid::ops::Bench;
  for (int i = 1; i < argc; ++i) mxgrid::ops::OnlyRows().push_back(argv[i]);
  Bench("fc", "FullyConnected", {{"num_hidden", "1024"}}, {Shape{256, 784}});
  Bench("conv", "Convolution", {{"kernel", "(3, 3)"}, {"num_filter", "64"}, {"pad", "(1, 1)"}},
        {Shape{64, 3, 32, 32}});
  Bench("bn", "BatchNorm", {}, {Shape{64, 64, 32, 32}});
  Bench("pool", "Pooling", {{"kernel", "(2, 2)"}, {"stride", "(2, 2)"}, {"pool_type", "max"}},
        {Shape{64, 64, 32, 32}});
  // The heavy operators added for MXNet's unit tests (issue 13).
  Bench("lstm", "RNN", {{"mode", "lstm"}, {"state_size", "256"}, {"num_layers", "1"}},
        {Shape{35, 32, 256}});
  Bench("layernorm", "LayerNorm", {}, {Shape{128, 1024}});
  Bench("conv3d", "Convolution",
        {{"kernel", "(3, 3, 3)"}, {"num_filter", "32"}, {"pad", "(1, 1, 1)"}},
        {Shape{8, 16, 16, 32, 32}});
  Bench("topk", "topk", {{"k", "10"}, {"ret_typ", "value"}}, {Shape{256, 1000}});
  Bench("sort", "sort", {}, {Shape{256, 1000}});
  return 0;
}
