// Tensor values as numbers (tensor.proto: float_values, double_values, int_values,
// int64_values, bool_values) <-> raw little-endian bytes, for clients that speak JSON
// (grpcurl) rather than bytes. tensor_codec.h uses these for Tensor messages.
//
//   MXGRID_RETURN_IF_ERROR(ValuesToBytes(tensor, DType::kFloat32, 6, buffer));  // 24 bytes
//   BytesToValues(DType::kFloat32, buffer, 6, &out);                             // float_values
//
// Thread-safety: pure functions.
#ifndef MXGRID_LIBS_RPC_TENSOR_VALUES_H_
#define MXGRID_LIBS_RPC_TENSOR_VALUES_H_

#include <cstdint>

#include "absl/status/status.h"
#include "libs/base/dtype.h"
#include "proto/mxgrid/v1/tensor.pb.h"

namespace mxgrid::rpc {

// True when any values field of `tensor` is set.
bool HasValues(const v1::Tensor& tensor);

// Checks that `tensor` carries exactly `count` numbers in the values field for `dtype` and
// none in the others (InvalidArgument otherwise), before anything is allocated for them.
absl::Status CheckValues(const v1::Tensor& tensor, DType dtype, int64_t count);

// Writes the `count` numbers of `tensor`'s values field for `dtype` to `dst` (count *
// DTypeSize(dtype) bytes) as `dtype`. InvalidArgument when a field other than the dtype's is
// set, the count differs, or an integer does not fit the dtype (e.g. 300 for uint8).
absl::Status ValuesToBytes(const v1::Tensor& tensor, DType dtype, int64_t count, void* dst);

// Appends the `count` elements at `src` (of `dtype`) to `out`'s values field for `dtype`.
void BytesToValues(DType dtype, const void* src, int64_t count, v1::Tensor* out);

}  // namespace mxgrid::rpc

#endif  // MXGRID_LIBS_RPC_TENSOR_VALUES_H_
