// Test helpers for the KVStore service tests: float32 tensors in and out of messages.
//
// Thread-safety: thread-safe (no state).
#ifndef MXGRID_SERVICES_KVSTORE_KVSTORE_TEST_UTIL_H_
#define MXGRID_SERVICES_KVSTORE_KVSTORE_TEST_UTIL_H_

#include <vector>

#include "proto/mxgrid/v1/tensor.pb.h"

namespace mxgrid::services::testing {

// A 1-D float32 tensor message of `values` (a gtest failure if it cannot be encoded).
v1::Tensor Floats(std::vector<float> values);
// The values of a float32 tensor message (empty, and a gtest failure, if it is malformed).
std::vector<float> Values(const v1::Tensor& t);

}  // namespace mxgrid::services::testing

#endif  // MXGRID_SERVICES_KVSTORE_KVSTORE_TEST_UTIL_H_
