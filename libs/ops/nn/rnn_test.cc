// The RNN operator's parameter surface: what it refuses, the parameter-vector size MXNet
// 1.9.1 infers, and request-controlled sizes that must not overflow. Values are covered by
// the consistency cases (rnn_cases.cc) and the Python tests against MXNet.
#include <cmath>
#include <random>
#include <string>
#include <type_traits>
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

// One RNN call in float32 (oneDNN) or float64 (the loops): forward in training with a
// seeded generator (so both draw the same dropout mask), then backward with fixed head
// gradients (those of the states zero unless state_heads). Returns every output and every
// wanted gradient, as doubles.
struct RnnRun {
  std::vector<std::vector<double>> outputs, grads;
  std::vector<std::vector<double>> grads_again;  // a second backward after one forward
};

template <typename T>
RnnRun RunRnn(const AttrMap& attrs, const Shape& data, const std::vector<OpReq>& greqs,
              bool state_heads) {
  RnnRun run;
  absl::StatusOr<ParsedOp> op = Ops().Parse("RNN", attrs);
  if (!op.ok()) {
    ADD_FAILURE() << op.status();
    return run;
  }
  std::vector<InferShape> in_shapes(op->num_inputs()), out_shapes(op->num_outputs());
  in_shapes[0] = data;
  absl::Status s = op->InferShapes(&in_shapes, &out_shapes);
  if (!s.ok()) {
    ADD_FAILURE() << s;
    return run;
  }
  const DType dtype = std::is_same_v<T, float> ? DType::kFloat32 : DType::kFloat64;
  // Values from a fixed generator in double, rounded to T: both runs see the same numbers.
  std::mt19937 gen(3);
  std::uniform_real_distribution<double> u(-0.5, 0.5);
  auto fill = [&](const Shape& shape) {
    std::vector<T> v(shape.Size());
    for (T& x : v) x = static_cast<T>(static_cast<float>(u(gen)));
    return v;
  };
  std::vector<std::vector<T>> ins, outs, heads, grads;
  std::vector<TensorView> in_views, out_views, head_views, grad_views;
  auto view = [&](std::vector<T>* v, const Shape& shape) {
    return TensorView{v->data(), shape, dtype, Context::Cpu()};
  };
  for (const InferShape& shape : in_shapes) ins.push_back(fill(*shape));
  for (const InferShape& shape : out_shapes) outs.push_back(std::vector<T>(shape->Size(), T(-7)));
  for (int i = 0; i < op->num_visible_outputs(); ++i) heads.push_back(fill(*out_shapes[i]));
  for (const InferShape& shape : in_shapes) grads.push_back(fill(*shape));  // kAddTo base
  for (size_t i = 0; i < ins.size(); ++i) in_views.push_back(view(&ins[i], *in_shapes[i]));
  for (size_t i = 0; i < outs.size(); ++i) out_views.push_back(view(&outs[i], *out_shapes[i]));
  for (size_t i = 0; i < heads.size(); ++i) {
    if (i > 0 && !state_heads) std::fill(heads[i].begin(), heads[i].end(), T(0));
    head_views.push_back(view(&heads[i], *out_shapes[i]));
  }
  for (size_t i = 0; i < grads.size(); ++i) {
    grad_views.push_back(view(&grads[i], *in_shapes[i]));
    if (greqs[i] == OpReq::kNull) grad_views.back().data = nullptr;
  }
  std::mt19937_64 rng(5);
  OpContext train;
  train.is_train = true;
  train.rng = &rng;
  std::vector<OpReq> reqs(outs.size(), OpReq::kWriteTo);
  s = op->Forward(train, in_views, reqs, out_views);
  if (!s.ok()) {
    ADD_FAILURE() << s;
    return run;
  }
  BackwardArgs args{head_views, in_views, out_views, grad_views, greqs};
  s = op->Backward(train, args);
  if (!s.ok()) {
    ADD_FAILURE() << s;
    return run;
  }
  for (const auto& v : outs) run.outputs.emplace_back(v.begin(), v.end());
  for (size_t i = 0; i < grads.size(); ++i) {
    if (greqs[i] != OpReq::kNull) run.grads.emplace_back(grads[i].begin(), grads[i].end());
  }
  // float32: the first backward read what the forward left; this one finds nothing left
  // and runs the forward again. With kAddTo requests it adds a second time.
  s = op->Backward(train, args);
  if (!s.ok()) {
    ADD_FAILURE() << s;
    return run;
  }
  for (size_t i = 0; i < grads.size(); ++i) {
    if (greqs[i] != OpReq::kNull) run.grads_again.emplace_back(grads[i].begin(), grads[i].end());
  }
  return run;
}

void ExpectClose(const std::vector<std::vector<double>>& got,
                 const std::vector<std::vector<double>>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].size(), want[i].size()) << what << " " << i;
    int bad = 0;
    for (size_t j = 0; j < got[i].size() && bad < 5; ++j) {
      const double tol = 2e-5 + 1e-4 * std::abs(want[i][j]);
      if (!(std::abs(got[i][j] - want[i][j]) <= tol)) {
        ADD_FAILURE() << what << " array " << i << " element " << j << ": " << got[i][j]
                      << " vs " << want[i][j];
        ++bad;
      }
    }
  }
}

// float32 runs through oneDNN's RNN primitives (weights repacked, GRU's gates reordered,
// biases summed or split; backward from what the training forward left, or from the forward
// run again); float64 through the loops the consistency cases check against the scalar
// reference. The two must agree on every output and gradient.
TEST(RnnOpTest, Float32OneDnnMatchesFloat64Loops) {
  struct Config {
    std::string mode;
    int layers;
    int state;
    bool bidirectional;
    double p;
    Shape data;
  };
  const std::vector<Config> configs = {
      {"rnn_tanh", 1, 5, false, 0, Shape{4, 3, 6}},
      {"rnn_relu", 2, 4, true, 0, Shape{3, 2, 5}},
      {"lstm", 1, 8, false, 0, Shape{5, 3, 4}},
      {"lstm", 2, 6, true, 0, Shape{4, 2, 3}},
      {"lstm", 3, 5, false, 0.3, Shape{4, 3, 5}},
      {"gru", 1, 7, false, 0, Shape{5, 2, 3}},
      {"gru", 2, 4, true, 0.5, Shape{3, 4, 6}},
  };
  for (const Config& cf : configs) {
    AttrMap a = Attrs(cf.mode, cf.layers, cf.state, cf.bidirectional);
    a["state_outputs"] = "True";
    if (cf.p > 0) a["p"] = std::to_string(cf.p);
    const int inputs = cf.mode == "lstm" ? 4 : 3;
    const std::string name = cf.mode + " " + std::to_string(cf.layers) + " layers";
    // Every gradient written, all head gradients given.
    std::vector<OpReq> write(inputs, OpReq::kWriteTo);
    RnnRun f32 = RunRnn<float>(a, cf.data, write, true);
    RnnRun f64 = RunRnn<double>(a, cf.data, write, true);
    ExpectClose(f32.outputs, f64.outputs, name + " outputs");
    ExpectClose(f32.grads, f64.grads, name + " gradients");
    ExpectClose(f32.grads_again, f64.grads, name + " gradients (forward run again)");
    // No data gradient, parameters accumulated, zero head gradients for the states.
    std::vector<OpReq> mixed(inputs, OpReq::kWriteTo);
    mixed[0] = OpReq::kNull;
    mixed[1] = OpReq::kAddTo;
    f32 = RunRnn<float>(a, cf.data, mixed, false);
    f64 = RunRnn<double>(a, cf.data, mixed, false);
    ExpectClose(f32.grads, f64.grads, name + " gradients (dx null, dparams add)");
    ExpectClose(f32.grads_again, f64.grads_again, name + " gradients (added twice)");
  }
}

TEST(RnnOpTest, HugeSizesAreInvalidArgumentNotOverflow) {
  std::vector<InferShape> in;
  absl::Status s =
      InferFromData(Attrs("lstm", 1024, 1 << 20, true), Shape{1, 1, int64_t{1} << 40}, &in);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
}

}  // namespace
}  // namespace mxgrid::ops
