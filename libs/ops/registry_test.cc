#include "libs/ops/registry.h"

#include <cstring>

#include "gtest/gtest.h"
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

  float grad[2] = {5, 5};
  TensorView g{grad, Shape{2}, DType::kFloat32, Context::Cpu()};
  OpReq req = OpReq::kWriteTo;
  BackwardArgs args{{}, {}, {}, {&g, 1}, {&req, 1}};
  ASSERT_TRUE(op.Backward({}, args).ok());
  EXPECT_EQ(grad[0], 0.0f);  // no gradient defined: zeros
  std::vector<InferShape> shapes(2), outs(1);
  EXPECT_EQ(op.InferShapes(&shapes, &outs).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mxgrid::ops
