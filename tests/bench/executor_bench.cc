// Graph and executor benchmarks (float32, CPU), the MXNet 1.9.1 side being
// tests/bench/mxnet_executor_peer.py, measured by tools/bench in the same run:
//   - one training step through the executor: Forward(is_train) + Backward + an SGD
//     (momentum 0.9) update of every weight + wait, for the 784-128-64-10 MLP and LeNet at
//     batch 128 (median ms over 300 steps for the MLP, 20 for LeNet, after warm-up);
//   - ResNet-50 with data (32, 3, 224, 224): InferShape alone, MakePlan (shapes, types,
//     gradient graph, memory plan; grad_req write for every argument) and SimpleBind (the
//     plan plus allocating arguments, gradients and the planned blocks);
//   - memory of a bound training executor (ResNet-18 batch 32, the MLP): the planned
//     intermediate bytes against every intermediate array on its own.
// Prints {"metric": ..., "value": ..., "unit": ...} lines; a per-phase breakdown of the
// training steps (and their CPU time and page faults per step) goes to stderr. An argument
// "mlp" or "lenet" runs only that training step (for profiling).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "libs/base/check.h"
#include "libs/engine/engine.h"
#include "libs/executor/executor.h"
#include "libs/graph/infer.h"
#include "libs/graph/plan.h"
#include "libs/graph/testing/models.h"
#include "libs/kvstore/optimizer.h"
#include "tests/bench/process_counters.h"

namespace mxgrid {
namespace {

using bench::ProcessCounters;

using executor::Executor;
using executor::GradReq;
using graph::Symbol;
using tensor::NDArray;

void Emit(const char* metric, double value, const char* unit) {
  std::printf("{\"metric\": \"%s\", \"value\": %.6g, \"unit\": \"%s\"}\n", metric, value, unit);
  std::fflush(stdout);
}

void WaitAll() {
  absl::Status s = engine::Get()->WaitForAll();
  MXGRID_CHECK(s.ok()) << s;
}

double Ms(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

// Median milliseconds of `fn` over `iters` runs after `warmup` runs.
double MedianMs(int warmup, int iters, const std::function<void()>& fn) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> ms;
  for (int i = 0; i < iters; ++i) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    ms.push_back(Ms(start));
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

void FillUniform(const NDArray& a, float scale, std::mt19937* rng) {
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<float> v(static_cast<size_t>(a.size()));
  for (float& x : v) x = u(*rng);
  absl::Status s = a.CopyFromHost(v.data(), v.size() * sizeof(float));
  MXGRID_CHECK(s.ok()) << s;
}

// One training step of `net` (data, softmax_label; gradients for the weights only) as in
// the file comment; returns the median step ms and prints the phase breakdown.
double TrainStepMs(const char* label, const Symbol& net, const Shape& data_shape, int steps) {
  const int64_t batch = data_shape[0];
  absl::StatusOr<std::unique_ptr<Executor>> bound = Executor::SimpleBind(
      net, Context::Cpu(), {{"data", data_shape}, {"softmax_label", Shape{batch}}},
      GradReq::kWrite, {{"data", GradReq::kNull}, {"softmax_label", GradReq::kNull}});
  MXGRID_CHECK(bound.ok()) << bound.status();
  Executor& exec = **bound;
  std::mt19937 rng(7);
  std::map<std::string, NDArray> args = exec.arg_dict();
  for (const auto& [name, array] : args) {
    if (name == "softmax_label") {
      std::vector<float> labels(static_cast<size_t>(batch));
      for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<float>(i % 10);
      MXGRID_CHECK(array.CopyFromHost(labels.data(), labels.size() * sizeof(float)).ok());
    } else {
      FillUniform(array, name == "data" ? 1.0f : 0.07f, &rng);
    }
  }
  absl::StatusOr<std::unique_ptr<kvstore::Optimizer>> opt = kvstore::Optimizer::Create(
      "sgd", {{"learning_rate", "0.01"}, {"momentum", "0.9"},
              {"rescale_grad", std::to_string(1.0 / static_cast<double>(batch))}});
  MXGRID_CHECK(opt.ok()) << opt.status();
  std::vector<std::pair<NDArray, NDArray>> params;  // (weight, gradient)
  for (const auto& [name, grad] : exec.grad_dict()) params.emplace_back(args.at(name), grad);

  auto forward = [&] { MXGRID_CHECK(exec.Forward(/*is_train=*/true).ok()); };
  auto backward = [&] { MXGRID_CHECK(exec.Backward().ok()); };
  auto update = [&] {
    for (size_t i = 0; i < params.size(); ++i) {
      absl::Status s = (*opt)->Update(static_cast<int>(i), params[i].first, params[i].second);
      MXGRID_CHECK(s.ok()) << s;
    }
  };
  auto train_step = [&] {
    forward();
    backward();
    update();
    WaitAll();
  };
  for (int i = 0; i < 3; ++i) train_step();
  const ProcessCounters before = ProcessCounters::Now();
  const double step = MedianMs(0, steps, train_step);
  const ProcessCounters used = ProcessCounters::Now() - before;
  // Breakdown: each phase waited on its own (no overlap between phases).
  const double fwd = MedianMs(1, 10, [&] { forward(); WaitAll(); });
  const double fwd_bwd = MedianMs(1, 10, [&] { forward(); backward(); WaitAll(); });
  const double upd = MedianMs(1, 10, [&] { update(); WaitAll(); });
  std::fprintf(stderr,
               "%s step %.3f ms: forward %.3f, backward %.3f, update %.3f (%zu params); per "
               "step %.3f ms CPU, %.1f page faults\n",
               label, step, fwd, fwd_bwd - fwd, upd, params.size(),
               used.cpu_ms / steps, static_cast<double>(used.minor_faults) / steps);
  return step;
}

graph::PlanOptions TrainingPlanOptions(const Symbol& net, const Shape& data_shape) {
  graph::PlanOptions options;
  options.shapes = {{"data", data_shape}};
  for (const std::string& name : net.ListArguments()) {
    options.grad_reqs[name] = ops::OpReq::kWriteTo;
  }
  return options;
}

void GraphBenchmarks() {
  absl::StatusOr<Symbol> resnet50 = graph::models::ResNet({.depth = 50});
  MXGRID_CHECK(resnet50.ok()) << resnet50.status();
  const Shape image{32, 3, 224, 224};
  Emit("resnet50_infer_shape_ms", MedianMs(2, 20, [&] {
         absl::StatusOr<graph::ShapeInference> r = graph::InferShape(*resnet50, {{"data", image}});
         MXGRID_CHECK(r.ok() && r->complete) << r.status();
       }), "ms");
  const graph::PlanOptions options = TrainingPlanOptions(*resnet50, image);
  Emit("resnet50_make_plan_ms", MedianMs(2, 20, [&] {
         absl::StatusOr<graph::Plan> plan = graph::MakePlan(*resnet50, options);
         MXGRID_CHECK(plan.ok()) << plan.status();
       }), "ms");
  Emit("resnet50_simple_bind_ms", MedianMs(1, 5, [&] {
         absl::StatusOr<std::unique_ptr<Executor>> exec =
             Executor::SimpleBind(*resnet50, Context::Cpu(), {{"data", image}});
         MXGRID_CHECK(exec.ok()) << exec.status();
         WaitAll();
       }), "ms");
}

// Planned intermediate bytes of a training plan, against each array on its own (and, as a
// check, the plan made with share_memory = false).
void MemoryBenchmark(const char* prefix, const Symbol& net, const Shape& data_shape) {
  graph::PlanOptions options = TrainingPlanOptions(net, data_shape);
  absl::StatusOr<graph::Plan> plan = graph::MakePlan(net, options);
  MXGRID_CHECK(plan.ok()) << plan.status();
  options.share_memory = false;
  absl::StatusOr<graph::Plan> unshared = graph::MakePlan(net, options);
  MXGRID_CHECK(unshared.ok()) << unshared.status();
  constexpr double kMiB = 1024.0 * 1024.0;
  const std::string p(prefix);
  Emit((p + "_planned_mib").c_str(), plan->planned_bytes() / kMiB, "MiB");
  Emit((p + "_unplanned_mib").c_str(), plan->unplanned_bytes() / kMiB, "MiB");
  Emit((p + "_unshared_plan_mib").c_str(), unshared->planned_bytes() / kMiB, "MiB");
}

// `only`: "mlp" or "lenet" runs just that training step (profiling); empty runs everything.
void Run(const std::string& only) {
  absl::StatusOr<Symbol> mlp = graph::models::Mlp({128, 64});
  MXGRID_CHECK(mlp.ok()) << mlp.status();
  absl::StatusOr<Symbol> lenet = graph::models::LeNet();
  MXGRID_CHECK(lenet.ok()) << lenet.status();
  if (only.empty() || only == "mlp") {
    Emit("mlp_train_step_ms", TrainStepMs("mlp", *mlp, Shape{128, 784}, 300), "ms");
  }
  if (only.empty() || only == "lenet") {
    Emit("lenet_train_step_ms", TrainStepMs("lenet", *lenet, Shape{128, 1, 28, 28}, 20), "ms");
  }
  if (!only.empty()) return;
  GraphBenchmarks();
  absl::StatusOr<Symbol> resnet18 = graph::models::ResNet({.depth = 18});
  MXGRID_CHECK(resnet18.ok()) << resnet18.status();
  MemoryBenchmark("resnet18", *resnet18, Shape{32, 3, 224, 224});
  MemoryBenchmark("mlp", *mlp, Shape{128, 784});
}

}  // namespace
}  // namespace mxgrid

int main(int argc, char** argv) {
  mxgrid::Run(argc > 1 ? argv[1] : "");
  return 0;
}
