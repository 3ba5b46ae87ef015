#include "libs/ops/registry.h"

#include <omp.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "libs/base/parallelism.h"
#include "libs/ops/params.h"

namespace mxgrid::ops {
namespace {

struct NoParams : OpParams {};

// A minimal op: out = in (no gradient defined).
OpDef CopyLike(const std::string& name, std::vector<std::string> aliases) {
  OpDef def;
  def.name = name;
  def.aliases = std::move(aliases);
  def.parse = [name](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    ParamReader r(name, attrs);
    if (absl::Status s = r.Finish(); !s.ok()) return s;
    return std::make_shared<NoParams>();
  };
  def.input_names = [](const OpParams&) { return std::vector<std::string>{"data"}; };
  def.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  def.infer_shape = [](const OpParams&, std::vector<InferShape>* in,
                       std::vector<InferShape>* out) {
    if ((*in)[0]) (*out)[0] = (*in)[0];
    return absl::OkStatus();
  };
  def.forward = [](const OpContext&, const OpParams&, absl::Span<const TensorView> in,
                   absl::Span<const OpReq>, absl::Span<const TensorView> out) {
    std::memcpy(out[0].data, in[0].data, in[0].size() * DTypeSize(in[0].dtype));
    return absl::OkStatus();
  };
  return def;
}

TEST(RegistryTest, FindsByNameAndAliasAndRejectsDuplicates) {
  Registry registry;
  ASSERT_TRUE(registry.Register(CopyLike("_copy", {"identity"})).ok());
  EXPECT_EQ((*registry.Find("identity"))->name, "_copy");
  EXPECT_EQ(registry.Find("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry.Register(CopyLike("other", {"identity"})).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(registry.List().size(), 1u);
}

TEST(RegistryTest, ParsedOpChecksCountsAndDefaultsGradientsAndTypes) {
  Registry registry;
  ASSERT_TRUE(registry.Register(CopyLike("_copy", {})).ok());
  EXPECT_EQ(registry.Parse("_copy", {{"x", "1"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  ParsedOp op = *registry.Parse("_copy", {});
  std::vector<InferType> in = {DType::kFloat64}, out(1);
  ASSERT_TRUE(op.InferTypes(&in, &out).ok());
  EXPECT_EQ(*out[0], DType::kFloat64);
  std::vector<InferType> bad_in = {DType::kFloat64}, bad_out = {DType::kFloat32};
  EXPECT_EQ(op.InferTypes(&bad_in, &bad_out).code(), absl::StatusCode::kInvalidArgument);

  float grad[2] = {5, 5}, head[2] = {1, 1};
  TensorView g{grad, Shape{2}, DType::kFloat32, Context::Cpu()};
  TensorView h{head, Shape{2}, DType::kFloat32, Context::Cpu()};
  OpReq req = OpReq::kWriteTo;
  BackwardArgs args{{&h, 1}, {}, {}, {&g, 1}, {&req, 1}};
  ASSERT_TRUE(op.Backward({}, args).ok());
  EXPECT_EQ(grad[0], 0.0f);  // no gradient defined: zeros
  std::vector<InferShape> shapes(2), outs(1);
  EXPECT_EQ(op.InferShapes(&shapes, &outs).code(), absl::StatusCode::kInvalidArgument);
}

// BackwardArgs' contract is checked before any kernel runs: a kernel that ran would mark
// the head gradient.
TEST(RegistryTest, BackwardRejectsArgumentsBreakingTheContract) {
  Registry registry;
  OpDef def = CopyLike("_copy", {});
  def.backward = [](const OpContext&, const OpParams&, const BackwardArgs& a) {
    static_cast<float*>(a.out_grads[0].data)[0] = -1;
    return absl::OkStatus();
  };
  def.backward_deps.inputs = true;
  def.aux_indices = [](const OpParams&) { return std::vector<int>{}; };
  ASSERT_TRUE(registry.Register(std::move(def)).ok());
  ParsedOp op = *registry.Parse("_copy", {});
  float x[2] = {1, 2}, head[2] = {1, 1}, grad[2] = {0, 0};
  const TensorView in{x, Shape{2}, DType::kFloat32, Context::Cpu()};
  const TensorView h{head, Shape{2}, DType::kFloat32, Context::Cpu()};
  TensorView g{grad, Shape{2}, DType::kFloat32, Context::Cpu()};
  OpReq req = OpReq::kWriteTo;
  auto run = [&](BackwardArgs args) { return op.Backward({}, args).code(); };
  const auto kBad = absl::StatusCode::kInvalidArgument;

  EXPECT_EQ(run({{}, {&in, 1}, {}, {&g, 1}, {&req, 1}}), kBad);  // no head gradient
  EXPECT_EQ(run({{&h, 1}, {}, {}, {&g, 1}, {&req, 1}}), kBad);  // inputs are needed
  TensorView no_data = g;
  no_data.data = nullptr;
  EXPECT_EQ(run({{&h, 1}, {&in, 1}, {}, {&no_data, 1}, {&req, 1}}), kBad);
  TensorView wrong_shape = g;
  wrong_shape.shape = Shape{1, 2};
  EXPECT_EQ(run({{&h, 1}, {&in, 1}, {}, {&wrong_shape, 1}, {&req, 1}}), kBad);
  TensorView wrong_dtype = g;
  wrong_dtype.dtype = DType::kFloat64;
  EXPECT_EQ(run({{&h, 1}, {&in, 1}, {}, {&wrong_dtype, 1}, {&req, 1}}), kBad);
  TensorView no_head = h;
  no_head.data = nullptr;
  EXPECT_EQ(run({{&no_head, 1}, {&in, 1}, {}, {&g, 1}, {&req, 1}}), kBad);
  EXPECT_EQ(head[0], 1.0f);  // no kernel ran

  // A gradient not wanted: its input's shape, null data.
  OpReq null_req = OpReq::kNull;
  EXPECT_EQ(run({{&h, 1}, {&in, 1}, {}, {&no_data, 1}, {&null_req, 1}}), absl::StatusCode::kOk);
  EXPECT_EQ(head[0], -1.0f);
  // A wanted gradient of a zero-size input needs no data.
  const TensorView empty_in{nullptr, Shape{0}, DType::kFloat32, Context::Cpu()};
  TensorView empty_grad{nullptr, Shape{0}, DType::kFloat32, Context::Cpu()};
  EXPECT_EQ(run({{&h, 1}, {&empty_in, 1}, {}, {&empty_grad, 1}, {&req, 1}}),
            absl::StatusCode::kOk);
}

TEST(RegistryTest, BackwardRejectsAGradientForAnAuxiliaryState) {
  Registry registry;
  OpDef def = CopyLike("_copy", {});
  def.input_names = [](const OpParams&) { return std::vector<std::string>{"data", "state"}; };
  def.aux_indices = [](const OpParams&) { return std::vector<int>{1}; };
  ASSERT_TRUE(registry.Register(std::move(def)).ok());
  ParsedOp op = *registry.Parse("_copy", {});
  float head[2] = {1, 1}, grads[4] = {5, 5, 5, 5};
  const TensorView h{head, Shape{2}, DType::kFloat32, Context::Cpu()};
  const TensorView g[2] = {{grads, Shape{2}, DType::kFloat32, Context::Cpu()},
                           {grads + 2, Shape{2}, DType::kFloat32, Context::Cpu()}};
  const OpReq reqs[2] = {OpReq::kWriteTo, OpReq::kWriteTo};
  BackwardArgs args{{&h, 1}, {}, {}, g, reqs};
  EXPECT_EQ(op.Backward({}, args).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(grads[0], 5.0f);
}

TEST(RegistryTest, ForwardRejectsMissingData) {
  Registry registry;
  ASSERT_TRUE(registry.Register(CopyLike("_copy", {})).ok());
  ParsedOp op = *registry.Parse("_copy", {});
  float x[2] = {1, 2}, y[2] = {0, 0};
  const TensorView in{x, Shape{2}, DType::kFloat32, Context::Cpu()};
  const TensorView out{y, Shape{2}, DType::kFloat32, Context::Cpu()};
  TensorView no_data = in;
  no_data.data = nullptr;
  const OpReq write = OpReq::kWriteTo;
  EXPECT_EQ(op.Forward({}, {&no_data, 1}, {&write, 1}, {&out, 1}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(op.Forward({}, {&in, 1}, {&write, 1}, {&no_data, 1}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(op.Forward({}, {&in, 1}, {&write, 1}, {&out, 1}).ok());
  EXPECT_EQ(y[1], 2.0f);
}

// Kernels start at most base::KernelThreadLimit() OpenMP threads (oneDNN and the OpenMP
// loops read the calling thread's setting, which ParsedOp applies before each kernel), and
// small kernels (a few thousand elements) run on one thread whatever the limit.
TEST(RegistryTest, KernelsSeeTheKernelThreadLimit) {
  Registry registry;
  OpDef def = CopyLike("_threads", {});
  def.forward = [](const OpContext&, const OpParams&, absl::Span<const TensorView>,
                   absl::Span<const OpReq>, absl::Span<const TensorView> out) {
    *out[0].as<float>() = static_cast<float>(omp_get_max_threads());
    return absl::OkStatus();
  };
  ASSERT_TRUE(registry.Register(std::move(def)).ok());
  ParsedOp op = *registry.Parse("_threads", {});
  // 4 Mi elements: enough work for every thread of any machine this runs on.
  const int64_t big = int64_t{1} << 22;
  std::vector<float> x(big), y(big);
  const TensorView in{x.data(), Shape{big}, DType::kFloat32, Context::Cpu()};
  const TensorView out{y.data(), Shape{big}, DType::kFloat32, Context::Cpu()};
  const TensorView small_in{x.data(), Shape{1000}, DType::kFloat32, Context::Cpu()};
  const TensorView small_out{y.data(), Shape{1000}, DType::kFloat32, Context::Cpu()};
  const OpReq write = OpReq::kWriteTo;
  // Every thread: OMP_NUM_THREADS or the core count. (omp_get_max_threads() here would read
  // what an earlier small kernel on this thread left.)
  const char* env = std::getenv("OMP_NUM_THREADS");
  const int all = env != nullptr ? std::atoi(env) : omp_get_num_procs();
  base::SetKernelThreadLimit(1);
  ASSERT_TRUE(op.Forward({}, {&in, 1}, {&write, 1}, {&out, 1}).ok());
  EXPECT_EQ(y[0], 1.0f);
  base::SetKernelThreadLimit(0);
  ASSERT_TRUE(op.Forward({}, {&in, 1}, {&write, 1}, {&out, 1}).ok());
  EXPECT_EQ(y[0], static_cast<float>(all));
  ASSERT_TRUE(op.Forward({}, {&small_in, 1}, {&write, 1}, {&small_out, 1}).ok());
  EXPECT_EQ(y[0], 1.0f);
  ASSERT_TRUE(op.Forward({}, {&in, 1}, {&write, 1}, {&out, 1}).ok());
  EXPECT_EQ(y[0], static_cast<float>(all));
}

}  // namespace
}  // namespace mxgrid::ops
