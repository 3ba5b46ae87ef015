// Reductions, add_n, norm, argmax, topk and broadcast gradients on the integer dtypes, and
// max/min/argmax/argmin on NaN, against values MXNet 1.9.1 printed from the venv (e.g.
// mx.nd.norm(mx.nd.array([[7, -3, 5], [100, -100, 50]], dtype='int8'), axis=1)).
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "libs/ops/registry.h"
#include "libs/ops/tensor/common.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace {

const Registry& TestRegistry() {
  static Registry* registry = [] {
    auto* r = new Registry();
    absl::Status s = RegisterTensorOps(r);
    EXPECT_TRUE(s.ok()) << s;
    return r;
  }();
  return *registry;
}

template <typename T>
DType DTypeOf() {
  if constexpr (std::is_same_v<T, uint8_t>) return DType::kUint8;
  if constexpr (std::is_same_v<T, int8_t>) return DType::kInt8;
  if constexpr (std::is_same_v<T, int32_t>) return DType::kInt32;
  if constexpr (std::is_same_v<T, float>) return DType::kFloat32;
  return DType::kInt64;
}

// One operator call on T arrays: forward (and backward when `dy` is given).
template <typename T>
struct Call {
  std::string op;
  AttrMap attrs;
  std::vector<std::vector<T>> in;
  std::vector<Shape> shapes;

  absl::StatusOr<ParsedOp> Parse() const { return TestRegistry().Parse(op, attrs); }

  // Output 0 of the forward (or the failing status).
  absl::StatusOr<std::vector<T>> Forward() const {
    std::vector<std::vector<T>> outs;
    absl::Status s = Run(&outs);
    if (!s.ok()) return s;
    return outs[0];
  }

  absl::Status Run(std::vector<std::vector<T>>* outs, std::vector<Shape>* out_shapes = nullptr,
                   std::vector<TensorView>* in_views = nullptr,
                   std::vector<TensorView>* out_views = nullptr) const {
    absl::StatusOr<ParsedOp> p = Parse();
    if (!p.ok()) return p.status();
    std::vector<InferShape> is(shapes.begin(), shapes.end()), os(p->num_outputs());
    absl::Status s = p->InferShapes(&is, &os);
    if (!s.ok()) return s;
    std::vector<TensorView> in_v, out_v;
    for (size_t i = 0; i < in.size(); ++i) {
      in_v.push_back({const_cast<T*>(in[i].data()), shapes[i], DTypeOf<T>(), Context::Cpu()});
    }
    outs->clear();
    for (const auto& o : os) outs->emplace_back(o->Size(), T(0));
    for (size_t i = 0; i < os.size(); ++i) {
      out_v.push_back({(*outs)[i].data(), *os[i], DTypeOf<T>(), Context::Cpu()});
    }
    std::vector<OpReq> reqs(os.size(), OpReq::kWriteTo);
    s = p->Forward(OpContext{}, in_v, reqs, out_v);
    if (out_shapes) {
      for (const auto& o : os) out_shapes->push_back(*o);
    }
    if (in_views) *in_views = in_v;
    if (out_views) *out_views = out_v;
    return s;
  }

  // The gradient of input 0 given the head gradient of output 0.
  absl::StatusOr<std::vector<T>> Grad(std::vector<T> dy) const {
    std::vector<std::vector<T>> outs;
    std::vector<Shape> os;
    std::vector<TensorView> in_v, out_v;
    absl::Status s = Run(&outs, &os, &in_v, &out_v);
    if (!s.ok()) return s;
    absl::StatusOr<ParsedOp> p = Parse();
    std::vector<std::vector<T>> dx;
    std::vector<TensorView> dx_v;
    std::vector<OpReq> reqs;
    for (size_t i = 0; i < in.size(); ++i) {
      dx.emplace_back(in[i].size(), T(0));
      reqs.push_back(i == 0 ? OpReq::kWriteTo : OpReq::kNull);
    }
    for (size_t i = 0; i < in.size(); ++i) {
      dx_v.push_back({dx[i].data(), shapes[i], DTypeOf<T>(), Context::Cpu()});
    }
    std::vector<TensorView> dy_v = {{dy.data(), os[0], DTypeOf<T>(), Context::Cpu()}};
    s = p->Backward(OpContext{}, BackwardArgs{dy_v, in_v, out_v, dx_v, reqs});
    if (!s.ok()) return s;
    return dx[0];
  }
};

using I8 = std::vector<int8_t>;
using U8 = std::vector<uint8_t>;
using I32 = std::vector<int32_t>;
using I64 = std::vector<int64_t>;

TEST(IntegerReduceTest, NormUsesMxnetScaledIntegerArithmetic) {
  Call<int8_t> l2{"norm", {{"axis", "1"}}, {{7, -3, 5, 100, -100, 50}}, {Shape{2, 3}}};
  EXPECT_EQ(*l2.Forward(), (I8{7, -115}));
  Call<int8_t> l1{"norm", {{"axis", "1"}, {"ord", "1"}}, {{7, -3, 5, 100, -100, 50}},
                  {Shape{2, 3}}};
  EXPECT_EQ(*l1.Forward(), (I8{15, -6}));
  EXPECT_EQ(*Call<int32_t>({"norm", {}, {{1, 2, 3, 3}}, {Shape{4}}}).Forward(), (I32{4}));
  EXPECT_EQ(*Call<int64_t>({"norm", {}, {{3, 0, -2, 2}}, {Shape{4}}}).Forward(), (I64{3}));
  EXPECT_EQ(*Call<uint8_t>({"norm", {}, {{1, 2, 3, 4, 5, 6}}, {Shape{2, 3}}}).Forward(),
            (U8{6}));
  // int8's minimum first: |x| wraps to itself and the next element divides by a zero scale.
  absl::Status s = Call<int8_t>({"norm", {}, {{-128, 3}}, {Shape{2}}}).Forward().status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
}

TEST(IntegerReduceTest, AddNWrapsInEveryIntegerDtype) {
  Call<int8_t> c{"add_n", {{"num_args", "2"}}, {{100, -100}, {100, -100}},
                 {Shape{2}, Shape{2}}};
  EXPECT_EQ(*c.Forward(), (I8{-56, 56}));
  Call<int64_t> d{"ElementWiseSum", {{"num_args", "3"}}, {{1, 2}, {3, 4}, {5, 6}},
                  {Shape{2}, Shape{2}, Shape{2}}};
  EXPECT_EQ(*d.Forward(), (I64{9, 12}));
  EXPECT_EQ(*d.Grad({3, -4}), (I64{3, -4}));
}

TEST(IntegerReduceTest, ArgmaxKeepsTheDtypeAndTheFirstExtreme) {
  Call<uint8_t> c{"argmax", {{"axis", "1"}}, {{3, 9, 9, 0, 0, 0}}, {Shape{2, 3}}};
  EXPECT_EQ(*c.Forward(), (U8{1, 0}));
  Call<int32_t> m{"argmin", {}, {{5, -7, 2, -7}}, {Shape{4}}};
  EXPECT_EQ(*m.Forward(), (I32{1}));
  Call<int8_t> ch{"argmax_channel", {}, {{1, 2, 3, 4, 5, 6}}, {Shape{2, 3}}};
  EXPECT_EQ(*ch.Forward(), (I8{2, 2}));
}

TEST(IntegerReduceTest, MaxMinArgmaxPropagateNaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> x = {1, nan, 3, nan, 2, -1, 4, 5, 6};
  std::vector<float> mx = *Call<float>({"max", {{"axis", "1"}}, {x}, {Shape{3, 3}}}).Forward();
  EXPECT_TRUE(std::isnan(mx[0]) && std::isnan(mx[1]));
  EXPECT_EQ(mx[2], 6.0f);
  std::vector<float> mn = *Call<float>({"min", {{"axis", "0"}}, {x}, {Shape{3, 3}}}).Forward();
  EXPECT_TRUE(std::isnan(mn[0]) && std::isnan(mn[1]));
  EXPECT_EQ(mn[2], -1.0f);
  EXPECT_EQ(*Call<float>({"argmax", {{"axis", "1"}}, {x}, {Shape{3, 3}}}).Forward(),
            (std::vector<float>{1, 0, 2}));
  EXPECT_EQ(*Call<float>({"argmin", {{"axis", "0"}}, {x}, {Shape{3, 3}}}).Forward(),
            (std::vector<float>{1, 0, 1}));
}

TEST(IntegerReduceTest, ReductionGradientsInIntegers) {
  const std::vector<int32_t> x = {1, 2, 3, 4, 5, 6};
  Call<int32_t> mean{"mean", {{"axis", "1"}}, {x}, {Shape{2, 3}}};
  EXPECT_EQ(*mean.Grad({7, -7}), (I32{2, 2, 2, -2, -2, -2}));
  Call<int32_t> mx{"max", {{"axis", "0"}}, {x}, {Shape{2, 3}}};
  EXPECT_EQ(*mx.Grad({7, -7, 2}), (I32{0, 0, 0, 7, -7, 2}));
  Call<int32_t> prod{"prod", {{"axis", "0"}}, {x}, {Shape{2, 3}}};
  EXPECT_EQ(*prod.Grad({1, 1, 1}), (I32{4, 5, 6, 1, 2, 3}));
  Call<int32_t> zero{"prod", {}, {{0, 3}}, {Shape{2}}};
  EXPECT_EQ(zero.Grad({1}).status().code(), absl::StatusCode::kInvalidArgument);
  Call<int8_t> sub{"broadcast_sub", {}, {{1, 2, 3, 4, 5, 6}, {10, 20, 30}},
                   {Shape{2, 3}, Shape{3}}};
  EXPECT_EQ(*sub.Grad({1, 1, 1, 1, 1, 1}), (I8{1, 1, 1, 1, 1, 1}));
}

TEST(IntegerReduceTest, TopkValueGradientScattersIntegers) {
  Call<int64_t> c{"topk", {{"k", "2"}, {"ret_typ", "value"}}, {{5, 9, 1, 7}}, {Shape{4}}};
  EXPECT_EQ(*c.Forward(), (I64{9, 7}));
  EXPECT_EQ(*c.Grad({3, 4}), (I64{0, 3, 0, 4}));
}

TEST(IntegerReduceTest, BroadcastHypotTruncates) {
  Call<int32_t> c{"broadcast_hypot", {}, {{3, 5}, {4, 12, 1}}, {Shape{2, 1}, Shape{3}}};
  EXPECT_EQ(*c.Forward(), (I32{5, 12, 3, 6, 13, 5}));
  Call<int8_t> e{"_hypot", {}, {{1, 2, 3}, {1, 2, 3}}, {Shape{3}, Shape{3}}};
  EXPECT_EQ(*e.Forward(), (I8{1, 2, 4}));
  // The scalar converts to the dtype first: hypot(2, 2) for 2.5.
  Call<int32_t> s{"_hypot_scalar", {{"scalar", "2.5"}}, {{1, 2, 3}}, {Shape{3}}};
  EXPECT_EQ(*s.Forward(), (I32{2, 2, 3}));
}

// The reduce kernels' slot map: the same mapping as BroadcastIndex's table for every pattern
// of reduced axes (all, leading, trailing, middle, alternating, size-1 and empty axes).
TEST(IntegerReduceTest, SlotMapMatchesBroadcastIndex) {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{1, 1}, {2, 3}},       {{2, 1}, {2, 3}},       {{1, 3}, {2, 3}},
      {{2, 1, 1}, {2, 3, 4}}, {{1, 1, 4}, {2, 3, 4}}, {{1, 3, 1}, {2, 3, 4}},
      {{2, 1, 4}, {2, 3, 4}}, {{2, 1, 1}, {2, 1, 3}}, {{1, 1, 3}, {2, 1, 3}},
      {{1, 3, 1, 5}, {2, 3, 4, 5}}, {{2, 1}, {2, 0}}, {{4}, {4}}};
  for (const auto& [kept, in] : cases) {
    const std::vector<int64_t> table = tensor_internal::BroadcastIndex(kept, in);
    const tensor_internal::SlotMap slot(kept, in);
    ASSERT_EQ(slot.size(), table.size()) << in.ToString();
    for (size_t i = 0; i < table.size(); ++i) {
      ASSERT_EQ(slot[i], table[i]) << kept.ToString() << " of " << in.ToString() << " at " << i;
    }
  }
}

}  // namespace
}  // namespace mxgrid::ops
