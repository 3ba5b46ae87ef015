// The elementwise, scalar, broadcast, unary and reduce ops on integer dtypes, against values
// MXNet 1.9.1 printed from the venv (e.g. (mx.nd.array([7, -7], dtype='int32') / 2.5)
// .asnumpy()), and the "integer division by zero" error where MXNet dies of SIGFPE.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "libs/ops/registry.h"
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
  return DType::kInt64;
}

// Runs the forward of `op` on T inputs of the given shapes into `y` (pre-filled by the
// caller), returning the kernel's status.
template <typename T>
absl::Status RunOp(const std::string& op, const AttrMap& attrs,
                   std::vector<std::vector<T>> inputs,
                 const std::vector<Shape>& shapes, std::vector<T>* y) {
  absl::StatusOr<ParsedOp> p = TestRegistry().Parse(op, attrs);
  if (!p.ok()) return p.status();
  std::vector<InferShape> in_shapes(shapes.begin(), shapes.end()), out_shapes(1);
  absl::Status s = p->InferShapes(&in_shapes, &out_shapes);
  if (!s.ok()) return s;
  if (y->empty()) y->assign(out_shapes[0]->Size(), T(0));
  std::vector<TensorView> in;
  for (size_t i = 0; i < inputs.size(); ++i) {
    in.push_back({inputs[i].data(), shapes[i], DTypeOf<T>(), Context::Cpu()});
  }
  std::vector<TensorView> out = {{y->data(), *out_shapes[0], DTypeOf<T>(), Context::Cpu()}};
  std::vector<OpReq> reqs = {OpReq::kWriteTo};
  return p->Forward(OpContext{}, in, reqs, out);
}

// Output of a forward expected to succeed.
template <typename T>
std::vector<T> Forward(const std::string& op, const AttrMap& attrs,
                       std::vector<std::vector<T>> inputs, const std::vector<Shape>& shapes) {
  std::vector<T> y;
  absl::Status s = RunOp<T>(op, attrs, std::move(inputs), shapes, &y);
  EXPECT_TRUE(s.ok()) << op << ": " << s;
  return y;
}

// Same-shape (1-d) inputs.
template <typename T>
std::vector<T> Fwd(const std::string& op, std::vector<std::vector<T>> inputs,
                   const AttrMap& attrs = {}) {
  std::vector<Shape> shapes;
  for (const auto& v : inputs) shapes.push_back(Shape{static_cast<int64_t>(v.size())});
  return Forward<T>(op, attrs, std::move(inputs), shapes);
}

template <typename T>
std::vector<T> Scalar(const std::string& op, std::vector<T> x, const std::string& scalar) {
  return Fwd<T>(op, {std::move(x)}, {{"scalar", scalar}});
}

using I8 = std::vector<int8_t>;
using U8 = std::vector<uint8_t>;
using I32 = std::vector<int32_t>;
using I64 = std::vector<int64_t>;
constexpr int32_t kMin32 = std::numeric_limits<int32_t>::min();
constexpr int32_t kMax32 = std::numeric_limits<int32_t>::max();
constexpr int64_t kMin64 = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax64 = std::numeric_limits<int64_t>::max();

TEST(IntegerScalarTest, ScalarIsCastToTheDtypeFirst) {
  const I32 a = {7, -7, 8, 5, -3, 0};
  // a / 2 and a / 2.5 both divide by 2, truncating toward zero.
  EXPECT_EQ(Scalar<int32_t>("_div_scalar", a, "2"), (I32{3, -3, 4, 2, -1, 0}));
  EXPECT_EQ(Scalar<int32_t>("_div_scalar", a, "2.5"), (I32{3, -3, 4, 2, -1, 0}));
  EXPECT_EQ(Scalar<int32_t>("_plus_scalar", a, "1.5"), (I32{8, -6, 9, 6, -2, 1}));
  EXPECT_EQ(Scalar<int32_t>("_plus_scalar", a, "-1.5"), (I32{6, -8, 7, 4, -4, -1}));
  EXPECT_EQ(Scalar<int32_t>("_minus_scalar", a, "1.5"), (I32{6, -8, 7, 4, -4, -1}));
  EXPECT_EQ(Scalar<int32_t>("_rminus_scalar", a, "1.5"), (I32{-6, 8, -7, -4, 4, 1}));
  EXPECT_EQ(Scalar<int32_t>("_mul_scalar", a, "1.5"), a);
  EXPECT_EQ(Scalar<int32_t>("_mul_scalar", a, "2.5"), (I32{14, -14, 16, 10, -6, 0}));
  // 7.5 / (a + 1) and 7 / (a + 1) agree.
  EXPECT_EQ(Scalar<int32_t>("_rdiv_scalar", {8, -6, 9, 6, -2, 1}, "7.5"),
            (I32{0, -1, 0, 1, -3, 7}));
  // Out-of-range scalars: DType(1e10) is INT32_MIN, added with wraparound.
  EXPECT_EQ(Scalar<int32_t>("_plus_scalar", {kMax32, kMin32, 7, -7}, "1e10"),
            (I32{-1, 0, -2147483641, 2147483641}));
  // rdiv divides in float32: INT32_MIN / 7 rounds to -306783392; INT32_MIN / -1 overflows.
  EXPECT_EQ(Scalar<int32_t>("_rdiv_scalar", {kMax32, kMin32, 7, 3, -1}, "1e10"),
            (I32{-1, 1, -306783392, -715827904, kMin32}));
  EXPECT_EQ(Scalar<int32_t>("_rdiv_scalar", {1, -1, 3}, "16777217"),
            (I32{16777216, -16777216, 5592405}));
}

TEST(IntegerScalarTest, OtherDtypesMatchMXNet) {
  // uint8: -1.5 casts to 255, so + -1.5 subtracts 1; 1.5 - a wraps.
  const U8 u = {7, 250, 8, 5, 3, 0};
  EXPECT_EQ(Scalar<uint8_t>("_plus_scalar", u, "-1.5"), (U8{6, 249, 7, 4, 2, 255}));
  EXPECT_EQ(Scalar<uint8_t>("_rminus_scalar", u, "1.5"), (U8{250, 7, 249, 252, 254, 1}));
  EXPECT_EQ(Scalar<uint8_t>("_mul_scalar", u, "2.5"), (U8{14, 244, 16, 10, 6, 0}));
  EXPECT_EQ(Scalar<uint8_t>("_div_scalar", u, "2.5"), (U8{3, 125, 4, 2, 1, 0}));
  EXPECT_EQ(Scalar<uint8_t>("_rdiv_scalar", {8, 251, 9, 6, 4, 1}, "7.5"),
            (U8{0, 0, 0, 1, 1, 7}));
  EXPECT_EQ(Scalar<int8_t>("_rdiv_scalar", {100, -100, 12}, "1e10"), (I8{0, 0, 0}));
  EXPECT_EQ(Scalar<int8_t>("_mul_scalar", {100, -100, 12, -128, 127, 3}, "-1"),
            (I8{-100, 100, -12, -128, -127, -3}));
  EXPECT_EQ(Scalar<int8_t>("_div_scalar", {-128, 5}, "-1"), (I8{-128, -5}));
  EXPECT_EQ(Scalar<int64_t>("_rminus_scalar", {16777217, kMin64}, "3.9"),
            (I64{-16777214, -9223372036854775805}));
  EXPECT_EQ(Scalar<int64_t>("_rdiv_scalar", {kMax64, 7, -1}, "1e10"),
            (I64{0, 1428571392, -10000000000}));
}

TEST(IntegerModTest, FollowsPythonSignAsMXNet) {
  const I32 a = {7, -7, 8, 5, -3, 0};
  EXPECT_EQ(Scalar<int32_t>("_mod_scalar", a, "3"), (I32{1, 2, 2, 2, 0, 0}));
  EXPECT_EQ(Scalar<int32_t>("_mod_scalar", a, "-3"), (I32{-2, -1, -1, -1, 0, 0}));
  EXPECT_EQ(Scalar<int32_t>("_mod_scalar", a, "2.5"), (I32{1, 1, 0, 1, 1, 0}));
  EXPECT_EQ(Scalar<int32_t>("_rmod_scalar", {8, -6, 9, 6, -2, 1}, "13"),
            (I32{5, -5, 4, 1, -1, 0}));
  EXPECT_EQ(Scalar<int32_t>("_rmod_scalar", {3, -3, 5}, "-7.5"), (I32{2, -1, 3}));
  EXPECT_EQ(Fwd<int32_t>("_mod", {{kMax32, kMin32, 7, -7, 3, -1}, {3, -3, 3, -3, 2, 7}}),
            (I32{1, -2, 1, -1, 1, 6}));
  // uint8: -3 casts to 253.
  EXPECT_EQ(Scalar<uint8_t>("_mod_scalar", {7, 250, 8, 5, 3, 0}, "-3"),
            (U8{7, 250, 8, 5, 3, 0}));
  EXPECT_EQ(Fwd<uint8_t>("_mod", {{200, 100, 12, 255, 0, 3}, {3, 253, 3, 253, 2, 7}}),
            (U8{2, 100, 0, 2, 0, 3}));
  // MXNet computes mod in double: 2^63 - 1 and 2^53 + 1 round first.
  EXPECT_EQ(Fwd<int64_t>("_mod", {{kMax64, kMin64, 7, -7, (int64_t{1} << 53) + 1, -1},
                                  {3, -3, 3, -3, 2, 7}}),
            (I64{2, -2, 1, -1, 0, 6}));
  EXPECT_EQ(Forward<int32_t>("broadcast_mod", {}, {{7, -7, 8}, {3, -3}}, {{1, 3}, {2, 1}}),
            (I32{1, 2, 2, -2, -1, -1}));
}

TEST(IntegerBinaryTest, ArithmeticWrapsAndDivisionTruncates) {
  EXPECT_EQ(Fwd<int32_t>("elemwise_add", {{kMax32, kMin32, 7, -7, 3, -1},
                                          {kMax32, kMin32, 7, -7, 3, -1}}),
            (I32{-2, 0, 14, -14, 6, -2}));
  EXPECT_EQ(Fwd<int32_t>("elemwise_sub", {{kMax32, kMin32, 7, -7, 3, -1},
                                          {-1, 3, -7, 7, kMin32, kMax32}}),
            (I32{kMin32, 2147483645, 14, -14, -2147483645, kMin32}));
  EXPECT_EQ(Fwd<int32_t>("elemwise_mul", {{kMax32, kMin32, 7, -7, 3, -1},
                                          {kMax32, kMin32, 7, -7, 3, -1}}),
            (I32{1, 0, 49, 49, 9, 1}));
  EXPECT_EQ(Fwd<int32_t>("elemwise_div", {{kMax32, kMin32, 7, -7, 3, -1}, {3, 3, 3, 3, 3, 3}}),
            (I32{715827882, -715827882, 2, -2, 1, 0}));
  // MXNet traps on INT32_MIN / -1; mxgrid wraps as MXNet's int8 does.
  EXPECT_EQ(Fwd<int32_t>("_div", {{kMin32, 5}, {-1, -1}}), (I32{kMin32, -5}));
  EXPECT_EQ(Fwd<int8_t>("elemwise_add", {{100, -100, 12, -128, 127, 3},
                                         {100, -100, 12, -128, 127, 3}}),
            (I8{-56, 56, 24, 0, -2, 6}));
  EXPECT_EQ(Fwd<int8_t>("elemwise_mul", {{100, -100, 12, -128, 127, 3},
                                         {100, -100, 12, -128, 127, 3}}),
            (I8{16, 16, -112, 0, 1, 9}));
  EXPECT_EQ(Fwd<int8_t>("_div", {{-128, 5}, {-1, -1}}), (I8{-128, -5}));
  EXPECT_EQ(Fwd<uint8_t>("elemwise_mul", {{200, 100, 12, 255, 0, 3}, {200, 100, 12, 255, 0, 3}}),
            (U8{64, 16, 144, 1, 0, 9}));
  EXPECT_EQ(Fwd<uint8_t>("elemwise_sub", {{200, 100, 12, 255, 0, 3}, {3, 0, 255, 12, 100, 200}}),
            (U8{197, 100, 13, 243, 156, 59}));
  EXPECT_EQ(Fwd<int64_t>("elemwise_mul", {{(int64_t{1} << 53) + 1, kMax64},
                                          {(int64_t{1} << 53) + 1, kMax64}}),
            (I64{18014398509481985, 1}));
  EXPECT_EQ(Fwd<int32_t>("_maximum", {{kMax32, kMin32, 7}, {3, 3, 3}}), (I32{kMax32, 3, 7}));
}

TEST(IntegerBroadcastTest, MatchesMXNet) {
  const std::vector<Shape> shapes = {{2, 1}, {1, 3}};
  EXPECT_EQ(Forward<int32_t>("broadcast_div", {}, {{7, -7}, {2, -2, 3}}, shapes),
            (I32{3, -3, 2, -3, 3, -2}));
  EXPECT_EQ(Forward<int32_t>("broadcast_mul", {}, {{65536, -7}, {32768, -2, 3}}, shapes),
            (I32{kMin32, -131072, 196608, -229376, 14, -21}));
  EXPECT_EQ(Forward<int32_t>("broadcast_add", {}, {{kMax32, -7}, {1, -2, 3}}, shapes),
            (I32{kMin32, 2147483645, -2147483646, -6, -9, -4}));
  EXPECT_EQ(Forward<int32_t>("broadcast_sub", {}, {{kMin32, -7}, {1, -2, 3}}, shapes),
            (I32{kMax32, -2147483646, 2147483645, -8, -5, -10}));
  EXPECT_EQ(Forward<int8_t>("broadcast_plus", {}, {{100, -7}, {100, -2, 3}}, shapes),
            (I8{-56, 98, 103, 93, -9, -4}));
}

TEST(IntegerUnaryTest, MatchesMXNet) {
  // square goes through float32 (46341^2 and 16777217^2 overflow to INT32_MIN), abs through
  // float64 (abs(INT32_MIN) stays INT32_MIN), negative wraps exactly.
  EXPECT_EQ(Fwd<int32_t>("square", {{kMax32, kMin32, 7, 46341, 16777217, -3}}),
            (I32{kMin32, kMin32, 49, kMin32, kMin32, 9}));
  EXPECT_EQ(Fwd<int64_t>("square", {{67108865, 16777217, kMax64}}),
            (I64{4503599627370496, 281474976710656, kMin64}));
  EXPECT_EQ(Fwd<int32_t>("abs", {{kMax32, kMin32, 16777217, -16777219}}),
            (I32{kMax32, kMin32, 16777217, 16777219}));
  EXPECT_EQ(Fwd<int64_t>("abs", {{kMax64, kMin64, (int64_t{1} << 53) + 1}}),
            (I64{kMin64, kMin64, 9007199254740992}));
  EXPECT_EQ(Fwd<int32_t>("negative", {{kMax32, kMin32, 7, -7}}),
            (I32{-kMax32, kMin32, -7, 7}));
  EXPECT_EQ(Fwd<int32_t>("sign", {{kMax32, kMin32, 0, -7}}), (I32{1, -1, 0, -1}));
  EXPECT_EQ(Fwd<int8_t>("square", {{100, -100, 12, -128, 127, 3}}),
            (I8{16, 16, -112, 0, 1, 9}));
  EXPECT_EQ(Fwd<int8_t>("abs", {{100, -100, -128}}), (I8{100, 100, -128}));
  EXPECT_EQ(Fwd<uint8_t>("negative", {{200, 100, 12, 255, 0, 3}}),
            (U8{56, 156, 244, 1, 0, 253}));
  EXPECT_EQ(Fwd<uint8_t>("sign", {{0, 3, 255}}), (U8{0, 1, 1}));
  EXPECT_EQ(Fwd<int8_t>("relu", {{-3, 4}}), (I8{0, 4}));
  EXPECT_EQ(Fwd<int32_t>("zeros_like", {{5}}), (I32{0}));
  // clip compares with float bounds and writes DType(bound).
  const AttrMap c = {{"a_min", "-3.7"}, {"a_max", "7.9"}};
  EXPECT_EQ(Fwd<int8_t>("clip", {{100, -100, 12, -128, 127, 3}}, c), (I8{7, -3, 7, -3, 7, 3}));
  EXPECT_EQ(Fwd<uint8_t>("clip", {{200, 100, 12, 255, 0, 3}}, c), (U8{7, 7, 7, 7, 0, 3}));
  EXPECT_EQ(Fwd<int32_t>("clip", {{16777217, -20}}, {{"a_min", "-10"}, {"a_max", "16777217"}}),
            (I32{16777217, -10}));
}

TEST(IntegerReduceTest, SumsWrapAndMeanTruncates) {
  const I8 a8 = {100, -100, 12, -128, 127, 3};
  EXPECT_EQ(Fwd<int8_t>("sum", {a8}), (I8{14}));
  EXPECT_EQ(Fwd<int8_t>("mean", {a8}), (I8{2}));
  EXPECT_EQ(Fwd<int8_t>("max", {a8}), (I8{127}));
  EXPECT_EQ(Fwd<int8_t>("min", {a8}), (I8{-128}));
  EXPECT_EQ(Forward<int8_t>("mean", {{"axis", "0"}}, {a8}, {{2, 3}}), (I8{-14, 13, 7}));
  EXPECT_EQ(Forward<int8_t>("sum", {{"axis", "0"}, {"keepdims", "True"}}, {a8}, {{3, 2}}),
            (I8{-17, 31}));
  // The count is cast to int8: 130 elements divide by -126, 255 by -1.
  EXPECT_EQ(Fwd<int8_t>("mean", {I8(130, 2)}), (I8{0}));
  EXPECT_EQ(Fwd<int8_t>("mean", {I8(255, -128)}), (I8{-128}));
  const I32 a32 = {kMax32, kMin32, 7, -7, 3, -1};
  EXPECT_EQ(Fwd<int32_t>("sum", {a32}), (I32{1}));
  EXPECT_EQ(Fwd<int32_t>("mean", {a32}), (I32{0}));
  EXPECT_EQ(Forward<int32_t>("sum_axis", {{"axis", "1"}}, {a32}, {{2, 3}}), (I32{6, -5}));
  EXPECT_EQ(Forward<int32_t>("mean", {{"axis", "0"}}, {a32}, {{2, 3}}),
            (I32{1073741820, -1073741822, 3}));
  EXPECT_EQ(Forward<int32_t>("max_axis", {{"axis", "1"}}, {a32}, {{2, 3}}), (I32{kMax32, 3}));
  const I64 a64 = {kMax64, kMin64, 7, -7, (int64_t{1} << 53) + 1, -1};
  EXPECT_EQ(Fwd<int64_t>("sum", {a64}), (I64{9007199254740991}));
  EXPECT_EQ(Fwd<int64_t>("mean", {a64}), (I64{1501199875790165}));
  EXPECT_EQ(Forward<int64_t>("mean", {{"axis", "0"}}, {a64}, {{2, 3}}),
            (I64{4611686018427387900, -4607182418800017407, 3}));
  const U8 u = {200, 100, 12, 255, 0, 3};
  EXPECT_EQ(Fwd<uint8_t>("sum", {u}), (U8{58}));
  EXPECT_EQ(Fwd<uint8_t>("mean", {u}), (U8{9}));
  EXPECT_EQ(Fwd<uint8_t>("min", {u}), (U8{0}));
}

TEST(IntegerPowerTest, OverflowIsInt32MinAsMXNet) {
  EXPECT_EQ(Fwd<int32_t>("_power", {{3, 2}, {25, 31}}), (I32{kMin32, kMin32}));
}

// Every op that divides integers fails with InvalidArgument on a zero divisor (MXNet dies of
// SIGFPE, except rdiv's float inf) and leaves its output untouched. Mod by zero is 0, as in
// MXNet.
TEST(IntegerDivisionByZeroTest, FailsTheOperation) {
  struct Case {
    std::string op;
    AttrMap attrs;
    std::vector<I32> inputs;
    std::vector<Shape> shapes;
  };
  const std::vector<Case> cases = {
      {"elemwise_div", {}, {{7, 0, 3}, {1, 0, 1}}, {{3}, {3}}},
      {"_div", {}, {{7, 8, 3}, {1, 2, 0}}, {{3}, {3}}},
      {"broadcast_div", {}, {{7, 8, 3}, {0}}, {{3}, {1}}},
      {"_div_scalar", {{"scalar", "0"}}, {{7, 8, 3}}, {{3}}},
      {"_div_scalar", {{"scalar", "0.5"}}, {{7, 8, 3}}, {{3}}},  // 0.5 casts to 0
      {"_rdiv_scalar", {{"scalar", "7"}}, {{7, 0, 3}}, {{3}}},
  };
  for (const Case& c : cases) {
    std::vector<int32_t> y(3, -99);
    absl::Status s = RunOp<int32_t>(c.op, c.attrs, c.inputs, c.shapes, &y);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.op << ": " << s;
    EXPECT_NE(s.message().find("integer division by zero"), std::string::npos) << s;
    EXPECT_EQ(y, (I32{-99, -99, -99})) << c.op;
  }
  std::vector<int32_t> mod(3);
  ASSERT_TRUE(RunOp<int32_t>("_mod", {}, {{7, 8, 3}, {2, 0, 1}}, {{3}, {3}}, &mod).ok());
  EXPECT_EQ(mod, (I32{1, 0, 0}));
  ASSERT_TRUE(RunOp<int32_t>("_rmod_scalar", {{"scalar", "7"}}, {{7, 0, 3}}, {{3}}, &mod).ok());
  EXPECT_EQ(mod, (I32{0, 0, 1}));
  ASSERT_TRUE(RunOp<int32_t>("_mod_scalar", {{"scalar", "0"}}, {{7, 8, 3}}, {{3}}, &mod).ok());
  EXPECT_EQ(mod, (I32{0, 0, 0}));
  std::vector<int64_t> y64(1, -99);
  EXPECT_EQ(RunOp<int64_t>("_div", {}, {{5}, {0}}, {{1}, {1}}, &y64).code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<uint8_t> y8(1, 99);
  absl::Status s = RunOp<uint8_t>("mean", {}, {U8(256, 1)}, {{256}}, &y8);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;  // count 256 casts to 0
  EXPECT_NE(s.message().find("integer division by zero"), std::string::npos) << s;
  // Float division by zero stays IEEE (inf), not an error.
  std::vector<float> fa = {1, 2}, fb = {0, 1}, fy(2);
  absl::StatusOr<ParsedOp> p = TestRegistry().Parse("elemwise_div", {});
  ASSERT_TRUE(p.ok());
  std::vector<TensorView> in = {{fa.data(), {2}, DType::kFloat32, Context::Cpu()},
                                {fb.data(), {2}, DType::kFloat32, Context::Cpu()}};
  std::vector<TensorView> out = {{fy.data(), {2}, DType::kFloat32, Context::Cpu()}};
  std::vector<OpReq> reqs = {OpReq::kWriteTo};
  ASSERT_TRUE(p->Forward(OpContext{}, in, reqs, out).ok());
  EXPECT_EQ(fy[0], std::numeric_limits<float>::infinity());
}

// exp, log, sqrt, sigmoid, tanh and reciprocal on integers go through float32 and back, as
// MXNet 1.9.1 printed them (NaN and infinities become the integer indefinite).
TEST(IntegerUnaryTest, FloatMathOpsMatchMXNet) {
  const I32 a = {1, 2, 4, -3, 0, 9};
  EXPECT_EQ(Fwd<int32_t>("exp", {a}), (I32{2, 7, 54, 0, 1, 8103}));
  EXPECT_EQ(Fwd<int32_t>("log", {a}), (I32{0, 0, 1, kMin32, kMin32, 2}));
  EXPECT_EQ(Fwd<int32_t>("sqrt", {a}), (I32{1, 1, 2, kMin32, 0, 3}));
  EXPECT_EQ(Fwd<int32_t>("sigmoid", {a}), (I32{0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(Fwd<int32_t>("tanh", {a}), (I32{0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(Fwd<int32_t>("reciprocal", {a}), (I32{1, 0, 0, 0, kMin32, 0}));
  const U8 b = {1, 2, 4, 0, 9, 200};
  EXPECT_EQ(Fwd<uint8_t>("exp", {b}), (U8{2, 7, 54, 1, 167, 0}));
  EXPECT_EQ(Fwd<uint8_t>("log", {b}), (U8{0, 0, 1, 0, 2, 5}));
  EXPECT_EQ(Fwd<uint8_t>("sqrt", {b}), (U8{1, 1, 2, 0, 3, 14}));
  EXPECT_EQ(Fwd<uint8_t>("sigmoid", {b}), (U8{0, 0, 0, 0, 0, 1}));
  EXPECT_EQ(Fwd<int64_t>("reciprocal", {{1, 0}}), (I64{1, kMin64}));
}

}  // namespace
}  // namespace mxgrid::ops
