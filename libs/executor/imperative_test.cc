#include "libs/executor/imperative.h"

#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "libs/ops/builtin.h"
#include "libs/tensor/ndarray.h"

namespace mxgrid::executor {
namespace {

using tensor::NDArray;

std::shared_ptr<const ops::ParsedOp> Parse(const char* name, const ops::AttrMap& attrs = {}) {
  absl::StatusOr<ops::ParsedOp> op = ops::GlobalRegistry().Parse(name, attrs);
  EXPECT_TRUE(op.ok()) << op.status();
  return std::make_shared<const ops::ParsedOp>(*op);
}

NDArray Array(const Shape& shape, std::vector<float> values) {
  return *NDArray::FromVector<float>(shape, values);
}

TEST(InvokeTest, NewOutputsHaveInferredShapes) {
  NDArray x = Array({2, 3}, {1, 2, 3, 4, 5, 6});
  NDArray w = Array({2, 3}, {1, 0, 0, 0, 1, 0});
  NDArray b = Array({2}, {10, 20});
  absl::StatusOr<std::vector<NDArray>> out =
      Invoke(Parse("FullyConnected", {{"num_hidden", "2"}}), {x, w, b});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0].shape(), Shape({2, 2}));
  EXPECT_EQ(*(*out)[0].ToVector<float>(), (std::vector<float>{11, 22, 14, 25}));
}

TEST(InvokeTest, WritesIntoGivenOutputIncludingAnInput) {
  NDArray a = Array({3}, {1, 2, 3});
  NDArray b = Array({3}, {10, 20, 30});
  std::vector<NDArray> out = {a};
  InvokeOptions options;
  options.out = out;
  absl::StatusOr<std::vector<NDArray>> r = Invoke(Parse("elemwise_add"), {a, b}, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE((*r)[0].SharesStorageWith(a));
  EXPECT_EQ(*a.ToVector<float>(), (std::vector<float>{11, 22, 33}));
}

TEST(InvokeTest, ChainsRunInOrder) {
  NDArray a = Array({4}, {1, 1, 1, 1});
  for (int i = 0; i < 100; ++i) {
    absl::StatusOr<std::vector<NDArray>> r =
        Invoke(Parse("_plus_scalar", {{"scalar", "1"}}), {a});
    ASSERT_TRUE(r.ok()) << r.status();
    a = (*r)[0];
  }
  EXPECT_EQ(*a.ToVector<float>(), (std::vector<float>{101, 101, 101, 101}));
}

TEST(InvokeTest, AuxStatesAreUpdatedInTraining) {
  NDArray x = Array({2, 2}, {1, 2, 3, 4});
  NDArray gamma = Array({2}, {1, 1}), beta = Array({2}, {0, 0});
  NDArray mean = Array({2}, {0, 0}), var = Array({2}, {1, 1});
  InvokeOptions options;
  options.is_train = true;
  absl::StatusOr<std::vector<NDArray>> r =
      Invoke(Parse("BatchNorm", {{"momentum", "0.5"}}), {x, gamma, beta, mean, var}, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->size(), 1u);  // hidden outputs are not returned
  EXPECT_EQ(*mean.ToVector<float>(), (std::vector<float>{1, 1.5}));
}

TEST(InvokeTest, RejectsBadCalls) {
  NDArray a = Array({3}, {1, 2, 3});
  NDArray b = Array({2}, {1, 2});
  EXPECT_EQ(Invoke(Parse("elemwise_add"), {a, b}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Invoke(Parse("elemwise_add"), {a}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Invoke(Parse("elemwise_add"), {a, NDArray()}).status().code(),
            absl::StatusCode::kInvalidArgument);
  NDArray other = *NDArray::Ones({3}, Context::Cpu(1));
  EXPECT_EQ(Invoke(Parse("elemwise_add"), {a, other}).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<NDArray> wrong = {b};
  InvokeOptions options;
  options.out = wrong;
  EXPECT_EQ(Invoke(Parse("elemwise_add"), {a, a}, options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(InvokeTest, KernelErrorsSurfaceAtRead) {
  NDArray a = *NDArray::FromVector<int32_t>({2}, std::vector<int32_t>{1, 2});
  NDArray z = *NDArray::FromVector<int32_t>({2}, std::vector<int32_t>{0, 1});
  absl::StatusOr<std::vector<NDArray>> r = Invoke(Parse("elemwise_div"), {a, z});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE((*r)[0].WaitToRead().ok());
}

}  // namespace
}  // namespace mxgrid::executor
