#include "libs/base/dtype.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace mxgrid {
namespace {

TEST(DTypeTest, FlagsAreMXNetTypeFlags) {
  EXPECT_EQ(static_cast<int>(DType::kFloat32), 0);
  EXPECT_EQ(static_cast<int>(DType::kFloat64), 1);
  EXPECT_EQ(static_cast<int>(DType::kFloat16), 2);
  EXPECT_EQ(static_cast<int>(DType::kUint8), 3);
  EXPECT_EQ(static_cast<int>(DType::kInt32), 4);
  EXPECT_EQ(static_cast<int>(DType::kInt8), 5);
  EXPECT_EQ(static_cast<int>(DType::kInt64), 6);
  EXPECT_EQ(static_cast<int>(DType::kBool), 7);
  EXPECT_EQ(static_cast<int>(DType::kBFloat16), 12);
}

TEST(DTypeTest, SizesAndNamesRoundTrip) {
  const struct { DType d; size_t size; const char* name; } cases[] = {
      {DType::kFloat32, 4, "float32"}, {DType::kFloat64, 8, "float64"},
      {DType::kFloat16, 2, "float16"}, {DType::kUint8, 1, "uint8"},
      {DType::kInt32, 4, "int32"},     {DType::kInt8, 1, "int8"},
      {DType::kInt64, 8, "int64"},     {DType::kBool, 1, "bool"},
      {DType::kBFloat16, 2, "bfloat16"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(DTypeSize(c.d), c.size) << c.name;
    EXPECT_EQ(DTypeName(c.d), c.name);
    EXPECT_EQ(*DTypeFromName(c.name), c.d);
    EXPECT_EQ(*DTypeFromFlag(static_cast<int>(c.d)), c.d);
  }
}

TEST(DTypeTest, UnknownFlagsAndNamesAreInvalidArgument) {
  for (int flag : {-1, 8, 9, 10, 11, 13, 1000}) {
    EXPECT_EQ(DTypeFromFlag(flag).status().code(), absl::StatusCode::kInvalidArgument) << flag;
  }
  EXPECT_EQ(DTypeFromName("float128").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(DTypeTest, HalfConversionIsExactOnRepresentableValues) {
  for (float v : {0.0f, 1.0f, -2.5f, 65504.0f, 0.000061035156f, 5.9604645e-08f, 1000.5f}) {
    EXPECT_EQ(HalfToFloat(FloatToHalf(v)), v) << v;
  }
  EXPECT_EQ(FloatToHalf(1.0f).bits, 0x3c00);
  EXPECT_EQ(FloatToHalf(-2.0f).bits, 0xc000);
  EXPECT_EQ(FloatToHalf(65520.0f).bits, 0x7c00);  // rounds to +inf
  EXPECT_TRUE(std::isinf(HalfToFloat(FloatToHalf(1e10f))));
  EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(std::numeric_limits<float>::quiet_NaN()))));
  // Ties round to even: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10.
  EXPECT_EQ(FloatToHalf(1.0f + 1.0f / 2048).bits, 0x3c00);
  EXPECT_EQ(FloatToHalf(1.0f + 3.0f / 2048).bits, 0x3c02);
}

TEST(DTypeTest, BFloat16ConversionRoundsToNearestEven) {
  EXPECT_EQ(FloatToBFloat16(1.0f).bits, 0x3f80);
  EXPECT_EQ(BFloat16ToFloat(FloatToBFloat16(3.0f)), 3.0f);
  EXPECT_EQ(BFloat16ToFloat(FloatToBFloat16(1.00390625f)), 1.0f);  // tie -> even
  EXPECT_TRUE(std::isnan(BFloat16ToFloat(FloatToBFloat16(std::nanf("")))));
}

TEST(DTypeTest, VisitDTypeGivesTheStorageType) {
  EXPECT_EQ(VisitDType(DType::kInt64, [](auto tag) {
              return std::is_same_v<typename decltype(tag)::type, int64_t>;
            }),
            true);
  EXPECT_EQ(VisitDType(DType::kFloat16, [](auto tag) {
              return sizeof(typename decltype(tag)::type);
            }),
            2u);
}

}  // namespace
}  // namespace mxgrid
