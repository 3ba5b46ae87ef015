#include "services/kvstore/kvstore_test_util.h"

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "libs/rpc/tensor_codec.h"
#include "libs/tensor/ndarray.h"

namespace mxgrid::services::testing {

using tensor::NDArray;

v1::Tensor Floats(std::vector<float> values) {
  absl::StatusOr<NDArray> a =
      NDArray::FromVector<float>({static_cast<int64_t>(values.size())}, values);
  EXPECT_TRUE(a.ok()) << a.status();
  v1::Tensor t;
  EXPECT_TRUE(rpc::ToProto(*a, &t).ok());
  return t;
}

std::vector<float> Values(const v1::Tensor& t) {
  absl::StatusOr<NDArray> a = rpc::FromProto(t, Context::Cpu());
  EXPECT_TRUE(a.ok()) << a.status();
  if (!a.ok()) return {};
  return *a->ToVector<float>();
}

}  // namespace mxgrid::services::testing
