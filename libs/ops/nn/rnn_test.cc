// The RNN operator's parameter surface: what it refuses, the parameter-vector size MXNet
// 1.9.1 infers, and request-controlled sizes that must not overflow. Values are covered by
// the consistency cases (rnn_cases.cc) and the Python tests against MXNet.
#include <cmath>
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

TEST(RnnOpTest, DropoutBetweenLayersIsRefusedOnlyInTraining) {
  AttrMap a = Attrs("rnn_tanh", 2, 2);
  a["p"] = "0.5";
  absl::StatusOr<ParsedOp> op = Ops().Parse("RNN", a);
  ASSERT_TRUE(op.ok()) << op.status();
  std::vector<double> x(1 * 1 * 2, 0.5), params(24, 0.1), h0(2 * 2, 0.0);
  std::vector<double> y(1 * 1 * 2, -7);  // 24 parameters: two layers of 2*(2+2) + 2*2
  auto view = [](std::vector<double>* v, Shape s) {
    TensorView t;
    t.data = v->data();
    t.shape = std::move(s);
    t.dtype = DType::kFloat64;
    return t;
  };
  std::vector<TensorView> in = {view(&x, {1, 1, 2}), view(&params, {24}),
                                view(&h0, {2, 1, 2})};
  std::vector<TensorView> out = {view(&y, {1, 1, 2})};
  std::vector<OpReq> reqs = {OpReq::kWriteTo};
  OpContext train;
  train.is_train = true;
  EXPECT_EQ(op->Forward(train, in, reqs, out).code(), absl::StatusCode::kInvalidArgument);
  OpContext infer;
  ASSERT_TRUE(op->Forward(infer, in, reqs, out).ok());
  // tanh(0.1*0.5*2 + 0.1 + 0.1) for both layers' first unit, then layer 2 on that.
  const double h1 = std::tanh(0.1 + 0.2), h2 = std::tanh(0.1 * h1 * 2 + 0.2);
  EXPECT_NEAR(y[0], h2, 1e-12);
  EXPECT_NEAR(y[1], h2, 1e-12);
}

TEST(RnnOpTest, HugeSizesAreInvalidArgumentNotOverflow) {
  std::vector<InferShape> in;
  absl::Status s =
      InferFromData(Attrs("lstm", 1024, 1 << 20, true), Shape{1, 1, int64_t{1} << 40}, &in);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
}

}  // namespace
}  // namespace mxgrid::ops
