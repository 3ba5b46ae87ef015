#include "libs/rpc/tensor_values.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/rpc/tensor_codec.h"

namespace mxgrid::rpc {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using tensor::NDArray;

v1::Tensor Meta(v1::DType dtype, std::vector<int64_t> shape) {
  v1::Tensor t;
  t.mutable_meta()->set_dtype(dtype);
  for (int64_t d : shape) t.mutable_meta()->add_shape(d);
  return t;
}

TEST(TensorValuesTest, FloatsUploadAndDownloadAsNumbers) {
  v1::Tensor t = Meta(v1::FLOAT32, {2, 2});
  for (float v : {1.5f, -2.f, 0.f, 3.25f}) t.add_float_values(v);
  absl::StatusOr<NDArray> a = FromProto(t, Context::Cpu());
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_THAT(*a->ToVector<float>(), ElementsAre(1.5f, -2.f, 0.f, 3.25f));
  v1::Tensor back;
  ASSERT_TRUE(ToProto(*a, &back, /*as_values=*/true).ok());
  EXPECT_TRUE(back.data().empty());
  EXPECT_THAT(back.float_values(), ElementsAre(1.5f, -2.f, 0.f, 3.25f));
  EXPECT_THAT(back.meta().shape(), ElementsAre(2, 2));
}

TEST(TensorValuesTest, EachDTypeUsesItsField) {
  struct Case {
    v1::DType dtype;
    void (*fill)(v1::Tensor*);
    int (*count)(const v1::Tensor&);
  };
  const std::vector<Case> cases = {
      {v1::FLOAT64, [](v1::Tensor* t) { t->add_double_values(0.1); t->add_double_values(2); },
       [](const v1::Tensor& t) { return t.double_values_size(); }},
      {v1::FLOAT16, [](v1::Tensor* t) { t->add_float_values(0.5f); t->add_float_values(2); },
       [](const v1::Tensor& t) { return t.float_values_size(); }},
      {v1::BFLOAT16, [](v1::Tensor* t) { t->add_float_values(1); t->add_float_values(-4); },
       [](const v1::Tensor& t) { return t.float_values_size(); }},
      {v1::INT8, [](v1::Tensor* t) { t->add_int_values(-128); t->add_int_values(127); },
       [](const v1::Tensor& t) { return t.int_values_size(); }},
      {v1::UINT8, [](v1::Tensor* t) { t->add_int_values(0); t->add_int_values(255); },
       [](const v1::Tensor& t) { return t.int_values_size(); }},
      {v1::INT32, [](v1::Tensor* t) { t->add_int_values(-7); t->add_int_values(1 << 30); },
       [](const v1::Tensor& t) { return t.int_values_size(); }},
      {v1::INT64, [](v1::Tensor* t) { t->add_int64_values(int64_t{1} << 53 | 1); t->add_int64_values(-1); },
       [](const v1::Tensor& t) { return t.int64_values_size(); }},
      {v1::BOOL, [](v1::Tensor* t) { t->add_bool_values(true); t->add_bool_values(false); },
       [](const v1::Tensor& t) { return t.bool_values_size(); }},
  };
  for (const Case& c : cases) {
    v1::Tensor t = Meta(c.dtype, {2});
    c.fill(&t);
    absl::StatusOr<NDArray> a = FromProto(t, Context::Cpu());
    ASSERT_TRUE(a.ok()) << v1::DType_Name(c.dtype) << ": " << a.status();
    v1::Tensor back;
    ASSERT_TRUE(ToProto(*a, &back, /*as_values=*/true).ok());
    EXPECT_EQ(c.count(back), 2) << v1::DType_Name(c.dtype);
    // The numbers come back as they went (each is exact in its dtype).
    v1::Tensor again = Meta(c.dtype, {2});
    c.fill(&again);
    back.clear_meta();
    again.clear_meta();
    EXPECT_EQ(back.SerializeAsString(), again.SerializeAsString()) << v1::DType_Name(c.dtype);
  }
}

TEST(TensorValuesTest, Float16RoundsToItsNearest) {
  v1::Tensor t = Meta(v1::FLOAT16, {1});
  t.add_float_values(0.1f);
  v1::Tensor back;
  ASSERT_TRUE(ToProto(*FromProto(t, Context::Cpu()), &back, true).ok());
  EXPECT_NEAR(back.float_values(0), 0.1f, 1e-4);
  EXPECT_NE(back.float_values(0), 0.1f);  // float16's nearest, not float32's
}

TEST(TensorValuesTest, BadValuesAreInvalidArgument) {
  auto error = [](const v1::Tensor& t) { return FromProto(t, Context::Cpu()).status(); };
  v1::Tensor wrong_field = Meta(v1::FLOAT32, {1});
  wrong_field.add_int_values(1);
  EXPECT_THAT(error(wrong_field).message(), HasSubstr("go in float_values, got int_values"));
  v1::Tensor too_few = Meta(v1::FLOAT32, {3});
  too_few.add_float_values(1);
  EXPECT_THAT(error(too_few).message(), HasSubstr("3 elements has 1 float_values"));
  v1::Tensor out_of_range = Meta(v1::UINT8, {2});
  out_of_range.add_int_values(1);
  out_of_range.add_int_values(256);
  EXPECT_THAT(error(out_of_range).message(), HasSubstr("value 256 at index 1 does not fit"));
  v1::Tensor negative = Meta(v1::INT8, {1});
  negative.add_int_values(-129);
  EXPECT_EQ(error(negative).code(), absl::StatusCode::kInvalidArgument);
  // A shape claiming terabytes with a few numbers is refused before anything is allocated.
  v1::Tensor huge = Meta(v1::FLOAT32, {int64_t{1} << 20, int64_t{1} << 20});
  huge.add_float_values(1);
  EXPECT_THAT(error(huge).message(), HasSubstr("has 1 float_values"));
  v1::Tensor both = Meta(v1::FLOAT32, {1});
  both.add_float_values(1);
  both.set_data(std::string(4, '\0'));
  EXPECT_THAT(error(both).message(), HasSubstr("not both"));
}

}  // namespace
}  // namespace mxgrid::rpc
