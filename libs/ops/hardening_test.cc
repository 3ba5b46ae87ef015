// Request-controlled values (shapes, parameters, the arrays a caller passes) that used to
// reach an absl hardening check, a null pointer or an int64 overflow inside an operator are
// InvalidArgument from the call that receives them. Each test fed its input to the code
// before the fix, where it crashed the process or was accepted.
#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "libs/ops/builtin.h"
#include "libs/ops/registry.h"

namespace mxgrid::ops {
namespace {

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

ParsedOp Parse(const std::string& op, const AttrMap& attrs) {
  absl::StatusOr<ParsedOp> parsed = GlobalRegistry().Parse(op, attrs);
  EXPECT_TRUE(parsed.ok()) << op << ": " << parsed.status();
  return *std::move(parsed);
}

absl::StatusCode ParseCode(const std::string& op, const AttrMap& attrs) {
  return GlobalRegistry().Parse(op, attrs).status().code();
}

// Shape inference from the first input shapes (the rest unknown).
absl::Status Infer(const ParsedOp& op, std::vector<InferShape> in) {
  EXPECT_LE(static_cast<int>(in.size()), op.num_inputs());
  in.resize(op.num_inputs());
  std::vector<InferShape> out(op.num_outputs());
  return op.InferShapes(&in, &out);
}

TensorView View(float* data, Shape shape) {
  return TensorView{data, std::move(shape), DType::kFloat32, Context::Cpu()};
}

// The Concat crash: a kNull gradient passed as an empty view (no shape) used to be indexed
// by Concat's backward (Shape::operator[] past the end: SIGILL).
TEST(HardeningTest, ConcatBackwardRejectsANullGradientWithoutItsInputsShape) {
  ParsedOp op = Parse("Concat", {{"num_args", "2"}, {"dim", "0"}});
  std::vector<float> head(6, 1), grad(4, 5);
  const TensorView heads[] = {View(head.data(), Shape{3, 2})};
  const TensorView grads[] = {View(grad.data(), Shape{2, 2}), TensorView{}};
  const OpReq reqs[] = {OpReq::kWriteTo, OpReq::kNull};
  absl::Status s = op.Backward({}, BackwardArgs{heads, {}, {}, grads, reqs});
  EXPECT_EQ(s.code(), kInvalid) << s;
  EXPECT_EQ(grad[0], 5.0f);  // no kernel ran
  // With the contract's view (the input's shape, no data) it works.
  const TensorView shaped[] = {grads[0], View(nullptr, Shape{1, 2})};
  ASSERT_TRUE(op.Backward({}, BackwardArgs{heads, {}, {}, shaped, reqs}).ok());
  EXPECT_EQ(grad, std::vector<float>(4, 1));
}

TEST(HardeningTest, BackwardRejectsAMissingOrMiscountedHeadGradient) {
  ParsedOp add = Parse("elemwise_add", {});
  std::vector<float> grad(4, 0);
  const TensorView no_head[] = {View(nullptr, Shape{4})};
  const TensorView grads[] = {View(grad.data(), Shape{4}), View(grad.data(), Shape{4})};
  const OpReq reqs[] = {OpReq::kWriteTo, OpReq::kNull};
  EXPECT_EQ(add.Backward({}, BackwardArgs{no_head, {}, {}, grads, reqs}).code(), kInvalid);

  // BatchNorm with output_mean_var has three visible outputs, so three head gradients.
  ParsedOp bn = Parse("BatchNorm", {{"output_mean_var", "True"}});
  std::vector<float> x(8, 1), c(2, 1), y(8), head(8, 1), dx(8, 7);
  const TensorView in[] = {View(x.data(), Shape{4, 2}), View(c.data(), Shape{2}),
                           View(c.data(), Shape{2}), View(c.data(), Shape{2}),
                           View(c.data(), Shape{2})};
  const TensorView bn_grads[] = {View(dx.data(), Shape{4, 2}), View(nullptr, Shape{2}),
                                 View(nullptr, Shape{2}), View(nullptr, Shape{2}),
                                 View(nullptr, Shape{2})};
  const OpReq bn_reqs[] = {OpReq::kWriteTo, OpReq::kNull, OpReq::kNull, OpReq::kNull,
                           OpReq::kNull};
  const TensorView one_head[] = {View(head.data(), Shape{4, 2})};
  EXPECT_EQ(bn.Backward({}, BackwardArgs{one_head, in, {}, bn_grads, bn_reqs}).code(), kInvalid);
  EXPECT_EQ(dx[0], 7.0f);
  // A gradient for an auxiliary state (moving_mean) is refused too.
  std::vector<float> dmean(2);
  const TensorView aux_grads[] = {bn_grads[0], bn_grads[1], bn_grads[2],
                                  View(dmean.data(), Shape{2}), bn_grads[4]};
  const OpReq aux_reqs[] = {OpReq::kWriteTo, OpReq::kNull, OpReq::kNull, OpReq::kWriteTo,
                            OpReq::kNull};
  std::vector<float> mean(2), var(2);
  const TensorView heads[] = {one_head[0], View(mean.data(), Shape{2}),
                              View(var.data(), Shape{2})};
  EXPECT_EQ(bn.Backward({}, BackwardArgs{heads, in, {}, aux_grads, aux_reqs}).code(), kInvalid);
}

// Shapes no array can have, computed by an op's inference from its parameters: the one
// check in ParsedOp::InferShapes.
TEST(HardeningTest, InferredShapesMustBeValidArrayShapes) {
  // 2^30 indices x depth 2^40: 2^70 elements.
  EXPECT_EQ(Infer(Parse("one_hot", {{"depth", "1099511627776"}}), {Shape{1 << 30}}).code(),
            kInvalid);
  // A 33rd dimension.
  EXPECT_EQ(Infer(Parse("expand_dims", {{"axis", "0"}}), {Shape(std::vector<int64_t>(32, 1))})
                .code(),
            kInvalid);
  EXPECT_TRUE(Infer(Parse("expand_dims", {{"axis", "0"}}), {Shape(std::vector<int64_t>(31, 1))})
                  .ok());
}

// Reshape's codes come from the request: a product that wrapped around passed the element
// count check (4 elements "reshaped" to (2^62 + 1, 4)).
TEST(HardeningTest, ReshapeRejectsTargetsWhoseProductOverflows) {
  EXPECT_EQ(Infer(Parse("Reshape", {{"shape", "(4611686018427387905, 4)"}}), {Shape{4}}).code(),
            kInvalid);
  EXPECT_EQ(Infer(Parse("Reshape", {{"shape", "(4611686018427387905, -1)"}}), {Shape{4}}).code(),
            kInvalid);
  // -4 splits 0 into 2^32 x 2^32, whose product wraps to 0.
  EXPECT_EQ(Infer(Parse("Reshape", {{"shape", "(-4, 4294967296, 4294967296)"}}), {Shape{0}})
                .code(),
            kInvalid);
  EXPECT_TRUE(Infer(Parse("Reshape", {{"shape", "(-4, 2, -1)"}}), {Shape{6}}).ok());
}

// SoftmaxOutput on a scalar with a scalar (probability) label passed inference, and its
// kernel then read dim 0 of a 0-d shape.
TEST(HardeningTest, SoftmaxOutputRejectsScalarData) {
  ParsedOp op = Parse("SoftmaxOutput", {});
  EXPECT_EQ(Infer(op, {Shape{}, Shape{}}).code(), kInvalid);
  float x = 1, label = 0, y = 0;
  const TensorView in[] = {View(&x, Shape{}), View(&label, Shape{})};
  const TensorView out[] = {View(&y, Shape{})};
  const OpReq write[] = {OpReq::kWriteTo};
  EXPECT_EQ(op.Forward({}, in, write, out).code(), kInvalid);
  ParsedOp multi = Parse("SoftmaxOutput", {{"multi_output", "True"}});
  EXPECT_EQ(Infer(multi, {Shape{3}, Shape{3}}).code(), kInvalid);
}

TEST(HardeningTest, ParametersOutsideTheirRangeAreRejectedAtParse) {
  // broadcast_to to a negative dim (a 1 broadcast to anything passed the shape check).
  EXPECT_EQ(ParseCode("broadcast_to", {{"shape", "(2, -5)"}}), kInvalid);
  // slice divides by -step.
  EXPECT_EQ(ParseCode("slice", {{"begin", "(0,)"}, {"end", "(None,)"},
                                {"step", "(-9223372036854775808,)"}}),
            kInvalid);
  // Spatial parameters whose shape arithmetic (kernel * dilate, data + 2 * pad) overflows.
  EXPECT_EQ(ParseCode("Convolution", {{"kernel", "(1099511627776,)"}, {"num_filter", "1"}}),
            kInvalid);
  EXPECT_EQ(ParseCode("Convolution", {{"kernel", "(3,)"}, {"num_filter", "1"},
                                      {"dilate", "(4294967296,)"}}),
            kInvalid);
  EXPECT_EQ(ParseCode("Pooling", {{"kernel", "(2,)"}, {"pad", "(4611686018427387904,)"}}),
            kInvalid);
  EXPECT_EQ(ParseCode("Deconvolution", {{"kernel", "(3,)"}, {"num_filter", "1"},
                                        {"target_shape", "(-3,)"}}),
            kInvalid);
  EXPECT_TRUE(GlobalRegistry().Parse("Pooling", {{"kernel", "(2,)"}, {"pad", "(1,)"}}).ok());
}

// Deconvolution's output length stride * (in - 1) + kernel must fit int64: here it wraps to
// 17 + 3, which passed as an output of 20 for an input of 5e17.
TEST(HardeningTest, DeconvolutionRejectsAnOutputLengthThatOverflows) {
  ParsedOp op = Parse("Deconvolution",
                      {{"kernel", "(3,)"}, {"num_filter", "1"}, {"stride", "(2147483645,)"}});
  EXPECT_EQ(Infer(op, {Shape{1, 1, 512409553546685094}}).code(), kInvalid);
  const absl::Status fits = Infer(op, {Shape{1, 1, 4}});
  EXPECT_TRUE(fits.ok()) << fits;
}

}  // namespace
}  // namespace mxgrid::ops
