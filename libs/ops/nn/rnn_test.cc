// The RNN operator's parameter surface: what it refuses, the parameter-vector size MXNet
// 1.9.1 infers, and request-controlled sizes that must not overflow. Values are covered by
// the consistency cases (rnn_cases.cc) and the Python tests against MXNet.
#include <cmath>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "libs/ops/nn/nn_ops.h"
#include "libs/ops/registry.h"

namespace mxgrid::ops {
namespace {

const Registry& Ops() {
  static const Registry* registry = [] {
    auto* r = new Registry();  // Leaked on purpose: shared by every test.
    absl::Status s = RegisterNNOps(r);
    if (!s.ok()) ADD_FAILURE() << s;
    return r;
  }();
  return *registry;
}

AttrMap Attrs(const std::string& mode, int layers, int state, bool bidirectional = false) {
  AttrMap a = {{"mode", mode},
               {"num_layers", std::to_string(layers)},
               {"state_size", std::to_string(state)}};
  if (bidirectional) a["bidirectional"] = "True";
  return a;
}

// Shapes inferred from data alone: (inputs, status).
absl::Status InferFromData(const AttrMap& attrs, Shape data, std::vector<InferShape>* in) {
  absl::StatusOr<ParsedOp> op = Ops().Parse("RNN", attrs);
  if (!op.ok()) return op.status();
  in->assign(op->num_inputs(), std::nullopt);
  (*in)[0] = data;
  std::vector<InferShape> out(op->num_outputs());
  return op->InferShapes(in, &out);
}

TEST(RnnOpTest, ParameterSizeMatchesMxnet) {
  std::vector<InferShape> in;
  // Sizes MXNet 1.9.1's infer_shape gives for the same configurations.
  ASSERT_TRUE(InferFromData(Attrs("lstm", 2, 6, true), Shape{4, 3, 5}, &in).ok());
  EXPECT_EQ(*in[1], Shape{1584});
  EXPECT_EQ(*in[2], (Shape{4, 3, 6}));
  EXPECT_EQ(*in[3], (Shape{4, 3, 6}));
  ASSERT_TRUE(InferFromData(Attrs("gru", 3, 7), Shape{4, 3, 2}, &in).ok());
  EXPECT_EQ(*in[1], Shape{903});
  EXPECT_EQ(*in[2], (Shape{3, 3, 7}));
}

TEST(RnnOpTest, UnsupportedOptionsAreInvalidArgument) {
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"projection_size", "4"},
           {"lstm_state_clip_min", "-1"},
           {"lstm_state_clip_max", "1"},
           {"lstm_state_clip_nan", "True"},
           {"use_sequence_length", "True"}}) {
    AttrMap a = Attrs("lstm", 1, 4);
    a[key] = value;
    absl::Status s = Ops().Parse("RNN", a).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << key;
    EXPECT_NE(s.message().find(key), std::string::npos) << s;
  }
  AttrMap defaults = Attrs("lstm", 1, 4);
  defaults["projection_size"] = "None";
  defaults["use_sequence_length"] = "False";
  EXPECT_TRUE(Ops().Parse("RNN", defaults).ok());
  EXPECT_EQ(Ops().Parse("RNN", Attrs("lstm", 0, 4)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Ops().Parse("RNN", Attrs("peephole", 1, 4)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TensorView View(std::vector<double>* v, Shape s) {
  TensorView t;
  t.data = v->data();
  t.shape = std::move(s);
  t.dtype = DType::kFloat64;
  return t;
}

// Two rnn_tanh layers of one unit over two steps, every weight and bias 0.1, data 0.5,
// zero begin states: 2 * (1*(1+1) + 2*1) = 8 parameters.
TEST(RnnOpTest, DropoutBetweenLayersMasksTheLowerLayerInTrainingOnly) {
  AttrMap a = Attrs("rnn_tanh", 2, 1);
  a["p"] = "1";  // drops everything: the top layer sees zero input
  absl::StatusOr<ParsedOp> op = Ops().Parse("RNN", a);
  ASSERT_TRUE(op.ok()) << op.status();
  ASSERT_EQ(op->num_visible_outputs(), 1);
  ASSERT_EQ(op->num_outputs(), 2);  // the hidden mask
  std::vector<double> x = {0.5, 0.5}, params(8, 0.1), h0(2, 0.0);
  std::vector<double> y(2, -7), mask(2, -7);
  std::vector<TensorView> in = {View(&x, {2, 1, 1}), View(&params, {8}), View(&h0, {2, 1, 1})};
  std::vector<TensorView> out = {View(&y, {2, 1, 1}), View(&mask, {1, 2, 1, 1})};
  std::vector<OpReq> reqs = {OpReq::kWriteTo, OpReq::kWriteTo};
  std::mt19937_64 rng(5);
  OpContext train;
  train.is_train = true;
  train.rng = &rng;
  ASSERT_TRUE(op->Forward(train, in, reqs, out).ok());
  EXPECT_EQ(mask, (std::vector<double>{0, 0}));
  const double t0 = std::tanh(0.2), t1 = std::tanh(0.1 * t0 + 0.2);
  EXPECT_NEAR(y[0], t0, 1e-12);
  EXPECT_NEAR(y[1], t1, 1e-12);

  // Nothing reaches the output from the data or the lower layer's weights.
  std::vector<double> dy = {1, 1}, dx(2, -7), dparams(8, -7), dh0(2, -7);
  std::vector<TensorView> head = {View(&dy, {2, 1, 1})};
  std::vector<TensorView> grads = {View(&dx, {2, 1, 1}), View(&dparams, {8}),
                                   View(&dh0, {2, 1, 1})};
  std::vector<OpReq> greqs(3, OpReq::kWriteTo);
  BackwardArgs args{head, in, out, grads, greqs};
  ASSERT_TRUE(op->Backward(train, args).ok());
  EXPECT_EQ(dx, (std::vector<double>{0, 0}));
  // Layout: layer 0 W_i2h, W_h2h, layer 1 W_i2h, W_h2h, then b_i2h, b_h2h per layer.
  EXPECT_EQ(dparams[0], 0);
  EXPECT_EQ(dparams[1], 0);
  EXPECT_EQ(dparams[4], 0);
  EXPECT_EQ(dparams[5], 0);
  EXPECT_NE(dparams[6], 0);  // the top layer's bias does matter

  // Outside training the mask is all ones and the lower layer feeds the top one.
  OpContext infer;
  ASSERT_TRUE(op->Forward(infer, in, reqs, out).ok());
  EXPECT_EQ(mask, (std::vector<double>{1, 1}));
  const double l0 = std::tanh(0.05 + 0.2), l1 = std::tanh(0.05 + 0.1 * l0 + 0.2);
  const double u0 = std::tanh(0.1 * l0 + 0.2), u1 = std::tanh(0.1 * l1 + 0.1 * u0 + 0.2);
  EXPECT_NEAR(y[0], u0, 1e-12);
  EXPECT_NEAR(y[1], u1, 1e-12);
}

TEST(RnnOpTest, DropoutMaskIsScaledBernoulli) {
  AttrMap a = Attrs("gru", 3, 4, true);
  a["p"] = "0.25";
  absl::StatusOr<ParsedOp> op = Ops().Parse("RNN", a);
  ASSERT_TRUE(op.ok()) << op.status();
  const int64_t t = 5, n = 6, c = 3;
  std::vector<InferShape> in_shapes(op->num_inputs()), out_shapes(op->num_outputs());
  in_shapes[0] = Shape{t, n, c};
  ASSERT_TRUE(op->InferShapes(&in_shapes, &out_shapes).ok());
  ASSERT_EQ(*out_shapes[1], (Shape{2, t, n, 8}));
  std::vector<double> x(t * n * c, 0.3), params(in_shapes[1]->Size(), 0.05),
      h0(in_shapes[2]->Size(), 0.0), y(t * n * 8), mask(out_shapes[1]->Size());
  std::vector<TensorView> in = {View(&x, *in_shapes[0]), View(&params, *in_shapes[1]),
                                View(&h0, *in_shapes[2])};
  std::vector<TensorView> out = {View(&y, *out_shapes[0]), View(&mask, *out_shapes[1])};
  std::vector<OpReq> reqs = {OpReq::kWriteTo, OpReq::kWriteTo};
  std::mt19937_64 rng(11);
  OpContext train;
  train.is_train = true;
  train.rng = &rng;
  ASSERT_TRUE(op->Forward(train, in, reqs, out).ok());
  int zeros = 0;
  for (double m : mask) {
    EXPECT_TRUE(m == 0 || std::abs(m - 1 / 0.75) < 1e-12) << m;
    zeros += m == 0;
  }
  const double rate = static_cast<double>(zeros) / mask.size();
  EXPECT_GT(rate, 0.15);
  EXPECT_LT(rate, 0.35);
}

TEST(RnnOpTest, HugeSizesAreInvalidArgumentNotOverflow) {
  std::vector<InferShape> in;
  absl::Status s =
      InferFromData(Attrs("lstm", 1024, 1 << 20, true), Shape{1, 1, int64_t{1} << 40}, &in);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
}

}  // namespace
}  // namespace mxgrid::ops
