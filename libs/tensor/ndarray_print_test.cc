#include <vector>

#include "gtest/gtest.h"
#include "libs/tensor/ndarray.h"

namespace mxgrid::tensor {
namespace {

std::string Print(const NDArray& a) {
  absl::StatusOr<std::string> s = a.ToString();
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : "";
}

TEST(NDArrayPrintTest, PrintsLikeNumPy) {
  EXPECT_EQ(Print(*NDArray::Ones({2, 3})), "[[1. 1. 1.]\n [1. 1. 1.]]");
  EXPECT_EQ(Print(*NDArray::Arange(0, 4, 1, Context::Cpu(), DType::kInt32)), "[0 1 2 3]");
  EXPECT_EQ(Print(*NDArray::FromVector<float>({3}, std::vector<float>{-1.5f, 10, 0.25f})),
            "[-1.5  10.    0.25]");
  EXPECT_EQ(Print(*NDArray::Arange(0, 8)->Reshape({2, 2, 2})),
            "[[[0. 1.]\n  [2. 3.]]\n\n [[4. 5.]\n  [6. 7.]]]");
  EXPECT_EQ(Print(*NDArray::Full({2}, 1, Context::Cpu(), DType::kBool)), "[ True  True]");
  EXPECT_EQ(Print(*NDArray::Zeros({0})), "[]");
  EXPECT_EQ(Print(*NDArray::FromVector<float>(
                {3}, std::vector<float>{-0.06821112f, -0.03704893f, 0.06688045f})),
            "[-0.06821112 -0.03704893  0.06688045]");
  EXPECT_EQ(Print(*NDArray::FromVector<float>({2}, std::vector<float>{1e-5f, 1})),
            "[1.e-05 1.e+00]");
  EXPECT_EQ(Print(*NDArray::FromVector<double>({2}, std::vector<double>{1.5e-5, 1})),
            "[1.5e-05 1.0e+00]");
}

TEST(NDArrayPrintTest, SummarizesLargeArrays) {
  std::string s = Print(*NDArray::Arange(0, 2000, 1, Context::Cpu(), DType::kInt64));
  EXPECT_EQ(s, "[   0    1    2 ... 1997 1998 1999]");
}

}  // namespace
}  // namespace mxgrid::tensor
