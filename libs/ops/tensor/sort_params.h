// Parsed parameters and row geometry of topk, sort and argsort, shared by their CPU
// (sort.cc, where SortGeom is defined) and CUDA (sort_cuda.cu) kernels. Internal to
// libs/ops/tensor. Thread-safety: plain structs and pure functions.
#ifndef MXGRID_LIBS_OPS_TENSOR_SORT_PARAMS_H_
#define MXGRID_LIBS_OPS_TENSOR_SORT_PARAMS_H_

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "libs/base/dtype.h"
#include "libs/base/shape.h"
#include "libs/ops/op.h"

namespace mxgrid::ops::tensor_internal {

enum class SortKind { kTopK, kSort, kArgSort };
enum class SortRet { kValue, kIndices, kMask, kBoth };

struct SortParams : OpParams {
  SortKind kind = SortKind::kTopK;
  std::optional<int64_t> axis = -1;  // nullopt: the flattened array
  int64_t k = 1;
  SortRet ret = SortRet::kIndices;
  bool is_ascend = false;
  DType dtype = DType::kFloat32;  // of the indices output
};

// The sorted geometry of a shape: `outer` x `n` x `inner` with the sort over `n`, keeping
// the first `k` of each row.
struct SortGeometry {
  int axis = -1;  // -1: flattened
  int64_t outer = 1, n = 0, inner = 1, k = 0;
};

// InvalidArgument (naming `op`) for a bad axis or k > n.
absl::StatusOr<SortGeometry> SortGeom(const char* op, const SortParams& p, const Shape& s);

inline const char* SortName(SortKind k) {
  return k == SortKind::kTopK ? "topk" : k == SortKind::kSort ? "sort" : "argsort";
}

}  // namespace mxgrid::ops::tensor_internal

#endif  // MXGRID_LIBS_OPS_TENSOR_SORT_PARAMS_H_
