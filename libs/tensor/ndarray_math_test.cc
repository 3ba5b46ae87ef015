#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/tensor/ndarray.h"

namespace mxgrid::tensor {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

double Reference(BinaryOp op, double a, double b) {
  switch (op) {
    case BinaryOp::kAdd: return a + b;
    case BinaryOp::kSub: return a - b;
    case BinaryOp::kMul: return a * b;
    case BinaryOp::kDiv: return a / b;
  }
  return 0;
}

// Two's complement wrap-around of small integer types (values here fit int32 and int64).
double Wrap(DType dtype, double v) {
  const int64_t i = static_cast<int64_t>(v);
  if (dtype == DType::kUint8) return static_cast<uint8_t>(i);
  if (dtype == DType::kInt8) return static_cast<int8_t>(i);
  return v;
}

// Every op, every arithmetic dtype, array-array / scalar / reversed scalar / in place,
// against double arithmetic rounded to the dtype.
TEST(NDArrayMathTest, EveryOpAndDtypeMatchesReference) {
  const BinaryOp ops[] = {BinaryOp::kAdd, BinaryOp::kSub, BinaryOp::kMul, BinaryOp::kDiv};
  const DType dtypes[] = {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16,
                          DType::kUint8,   DType::kInt8,    DType::kInt32,   DType::kInt64};
  std::vector<double> lhs_values, rhs_values;
  for (int i = 0; i < 37; ++i) {  // odd size: no vector-width luck
    lhs_values.push_back(i % 11 + 2);
    rhs_values.push_back(i % 5 + 1);
  }
  for (DType dtype : dtypes) {
    for (BinaryOp op : ops) {
      const bool integral = !IsFloatingPoint(dtype);
      NDArray lhs = *NDArray::FromVector<double>({37}, lhs_values);
      NDArray rhs = *NDArray::FromVector<double>({37}, rhs_values);
      NDArray a = *NDArray::Empty({37}, Context::Cpu(), dtype);
      NDArray b = *NDArray::Empty({37}, Context::Cpu(), dtype);
      ASSERT_TRUE(lhs.CopyTo(a).ok());
      ASSERT_TRUE(rhs.CopyTo(b).ok());
      std::vector<double> got = *Binary(op, a, b)->ToVector<double>();
      std::vector<double> got_scalar = *BinaryScalar(op, a, 3.0)->ToVector<double>();
      std::vector<double> got_left = *BinaryScalar(op, b, 60.0, true)->ToVector<double>();
      NDArray in_place = *a.CopyTo(Context::Cpu());
      ASSERT_TRUE(BinaryInPlace(op, in_place, b).ok());
      std::vector<double> got_in_place = *in_place.ToVector<double>();
      const double tol = dtype == DType::kFloat16 ? 1e-2 : dtype == DType::kBFloat16 ? 5e-2 : 1e-6;
      for (int i = 0; i < 37; ++i) {
        double want = Reference(op, lhs_values[i], rhs_values[i]);
        double want_scalar = Reference(op, lhs_values[i], 3.0);
        double want_left = Reference(op, 60.0, rhs_values[i]);
        if (integral) {
          want = std::trunc(want);
          want_scalar = std::trunc(want_scalar);
          want_left = std::trunc(want_left);
          want = Wrap(dtype, want);
          want_scalar = Wrap(dtype, want_scalar);
          want_left = Wrap(dtype, want_left);
        }
        const std::string where = std::string(DTypeName(dtype)) + " op " +
                                  std::to_string(static_cast<int>(op)) + " i=" +
                                  std::to_string(i);
        EXPECT_NEAR(got[i], want, tol * std::fabs(want) + 1e-9) << where;
        EXPECT_NEAR(got_in_place[i], want, tol * std::fabs(want) + 1e-9) << where;
        EXPECT_NEAR(got_scalar[i], want_scalar, tol * std::fabs(want_scalar) + 1e-9) << where;
        EXPECT_NEAR(got_left[i], want_left, tol * std::fabs(want_left) + 1e-9) << where;
      }
    }
  }
}

// Large arrays are split across threads: every chunk, and the odd tail, must be right.
TEST(NDArrayMathTest, LargeArraysSplitAcrossThreadsMatchEverywhere) {
  const int64_t n = (int64_t{1} << 18) + 37;
  NDArray a = *NDArray::Arange(0, static_cast<double>(n), 1, Context::Cpu(), DType::kInt64);
  NDArray b = *Mul(a, 3);
  NDArray c = *Sub(b, a);  // 2 * i
  ASSERT_TRUE(AddInPlace(c, 1).ok());
  std::vector<int64_t> v = *c.ToVector<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    if (v[i] != 2 * i + 1) {
      ADD_FAILURE() << "element " << i << " is " << v[i];
      break;
    }
  }
}

TEST(NDArrayMathTest, TutorialElementwiseValues) {
  NDArray a = *Mul(*NDArray::Ones({2, 3}), 2);
  NDArray b = *Mul(*NDArray::Ones({2, 3}), 4);
  EXPECT_THAT(*b.ToVector<float>(), ElementsAre(4, 4, 4, 4, 4, 4));
  EXPECT_THAT(*Add(a, b)->ToVector<float>(), ElementsAre(6, 6, 6, 6, 6, 6));
  EXPECT_THAT(*Mul(a, b)->ToVector<float>(), ElementsAre(8, 8, 8, 8, 8, 8));
  EXPECT_THAT(*Sub(a, b)->ToVector<float>(), ElementsAre(-2, -2, -2, -2, -2, -2));
  EXPECT_THAT(*Div(a, b)->ToVector<float>(), ElementsAre(.5, .5, .5, .5, .5, .5));
}

TEST(NDArrayMathTest, InPlaceWithItselfAndIntoOut) {
  NDArray a = *NDArray::Full({4}, 3);
  ASSERT_TRUE(MulInPlace(a, a).ok());  // a *= a
  EXPECT_THAT(*a.ToVector<float>(), ElementsAre(9, 9, 9, 9));
  NDArray out = *NDArray::Zeros({4});
  ASSERT_TRUE(BinaryInto(BinaryOp::kSub, a, *NDArray::Ones({4}), out).ok());
  EXPECT_THAT(*out.ToVector<float>(), ElementsAre(8, 8, 8, 8));
}

TEST(NDArrayMathTest, ScalarIsConvertedToTheArrayDtype) {
  NDArray i = *NDArray::Full({2}, 7, Context::Cpu(), DType::kInt32);
  EXPECT_THAT(*Mul(i, 2.9)->ToVector<int32_t>(), ElementsAre(14, 14));  // 2.9 -> 2
  EXPECT_THAT(*Div(i, 2)->ToVector<int32_t>(), ElementsAre(3, 3));
}

TEST(NDArrayMathTest, IntegerEdgeCasesNeverCrash) {
  const int32_t kMin = std::numeric_limits<int32_t>::min();
  NDArray m = *NDArray::FromVector<int32_t>({2}, std::vector<int32_t>{kMin, 5});
  NDArray neg = *NDArray::FromVector<int32_t>({2}, std::vector<int32_t>{-1, -1});
  EXPECT_THAT(*Div(m, neg)->ToVector<int32_t>(), ElementsAre(kMin, -5));  // wraps
  EXPECT_THAT(*Add(m, neg)->ToVector<int32_t>(),
              ElementsAre(std::numeric_limits<int32_t>::max(), 4));
  EXPECT_EQ(Div(m, 0.0)->WaitToRead().code(), absl::StatusCode::kInvalidArgument);
  NDArray zeros = *NDArray::Zeros({2}, Context::Cpu(), DType::kInt32);
  EXPECT_EQ(BinaryScalar(BinaryOp::kDiv, zeros, 4, true)->WaitToRead().code(),
            absl::StatusCode::kInvalidArgument);
  // Float division by zero follows IEEE.
  NDArray f = *NDArray::Ones({1});
  EXPECT_TRUE(std::isinf((*Div(f, 0.0)->ToVector<float>())[0]));
}

TEST(NDArrayMathTest, MismatchedOperandsNameBothSides) {
  NDArray a = *NDArray::Ones({2, 3});
  absl::Status shape = Add(a, *NDArray::Ones({3, 2})).status();
  EXPECT_EQ(shape.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(shape.message(), HasSubstr("lhs (2, 3) float32 on cpu(0)"));
  EXPECT_THAT(shape.message(), HasSubstr("rhs (3, 2) float32 on cpu(0)"));
  absl::Status dtype =
      Mul(a, *NDArray::Ones({2, 3}, Context::Cpu(), DType::kFloat64)).status();
  EXPECT_EQ(dtype.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(dtype.message(), HasSubstr("float64"));
  absl::Status device = Add(a, *NDArray::Ones({2, 3}, Context::Cpu(1))).status();
  EXPECT_EQ(device.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(device.message(), HasSubstr("different devices"));
  EXPECT_THAT(device.message(), HasSubstr("cpu(1)"));
  absl::Status into = BinaryInto(BinaryOp::kAdd, a, a, *NDArray::Ones({6}));
  EXPECT_EQ(into.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(into.message(), HasSubstr("out (6,)"));
}

TEST(NDArrayMathTest, BoolArithmeticFailsClearly) {
  NDArray b = *NDArray::Ones({2}, Context::Cpu(), DType::kBool);
  absl::Status s = Add(b, b)->WaitToRead();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("bool"));
}

}  // namespace
}  // namespace mxgrid::tensor
