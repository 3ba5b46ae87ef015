// Tensor values as numbers (tensor.proto: float_values, double_values, int_values,
// int64_values, bool_values) <-> raw little-endian bytes, for clients that speak JSON
// (grpcurl) rather than bytes. tensor_codec.h uses these for Tensor messages.
//
//   MXGRID_ASSIGN_OR_RETURN(std::string bytes, ValuesToBytes(tensor, DType::kFloat32, 6));
//   BytesToValues(DType::kFloat32, buffer, 6, &out);                             // float_values
//
// Thread-safety: pure functions.
#ifndef MXGRID_LIBS_RPC_TENSOR_VALUES_H_
#define MXGRID_LIBS_RPC_TENSOR_VALUES_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/base/dtype.h"
#include "proto/mxgrid/v1/tensor.pb.h"

namespace mxgrid::rpc {

// True when any values field of `tensor` is set.
bool HasValues(const v1::Tensor& tensor);

// The `count` numbers of `tensor`'s values field for `dtype` as `dtype`'s bytes (count *
// DTypeSize(dtype)). InvalidArgument when a field other than the dtype's is set, the count
// differs (checked before anything is allocated: a shape may claim any size), or an integer
// does not fit the dtype (e.g. 300 for uint8).
absl::StatusOr<std::string> ValuesToBytes(const v1::Tensor& tensor, DType dtype, int64_t count);

// Appends the `count` elements at `src` (of `dtype`) to `out`'s values field for `dtype`.
void BytesToValues(DType dtype, const void* src, int64_t count, v1::Tensor* out);

}  // namespace mxgrid::rpc

#endif  // MXGRID_LIBS_RPC_TENSOR_VALUES_H_
