// Shared helpers of the tensor op family (internal to libs/ops/tensor).
//
// Shape unification with MXNet-style conflict messages, OpReq-aware stores, dtype dispatch
// for the float kernels, and the parameterless-op parser. Thread-safe (pure functions).
#ifndef MXGRID_LIBS_OPS_TENSOR_COMMON_H_
#define MXGRID_LIBS_OPS_TENSOR_COMMON_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "libs/base/dtype.h"
#include "libs/base/shape.h"
#include "libs/ops/op.h"
#include "libs/ops/op_util.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::tensor_internal {

inline constexpr BackwardDeps kNoDeps{false, false};
inline constexpr BackwardDeps kInputDeps{true, false};
inline constexpr BackwardDeps kOutputDeps{false, true};
inline constexpr BackwardDeps kBothDeps{true, true};

// Parameters of ops that take none.
struct NoParams : OpParams {};

// OpDef::parse for an op without parameters (rejects every non-hidden key).
absl::StatusOr<std::shared_ptr<const OpParams>> ParseNoParams(const std::string& op,
                                                              const AttrMap& attrs);

// Merges `src` into `*dst` (unknown dims of -1 fill from the other). Conflicts are
// InvalidArgument "<op>: <what> shape <src> conflicts with <dst>".
// dst = src (kWriteTo/kWriteInplace) or dst += src (kAddTo), element by element; both have
// src's element count and dtype (any numeric one).
absl::Status CopyWithReq(const char* op, const TensorView& src, OpReq req,
                         const TensorView& dst);

absl::Status Unify(absl::string_view op, absl::string_view what, const InferShape& src,
                   InferShape* dst);

// MXNet's ElemwiseShape: every input and output shares one shape, filled both ways.
// InvalidArgument (through `r`) unless a variadic op's count parameter `key` is in
// [1, kMaxArity].
absl::Status CheckArity(const ParamReader& r, absl::string_view key, int64_t n);
// "arg0", "arg1", ...: the input names of a variadic op (add_n, Concat), as MXNet's.
std::vector<std::string> VariadicInputNames(int64_t n);

absl::Status ElemwiseShapes(absl::string_view op, std::vector<InferShape>* in,
                            std::vector<InferShape>* out);

// Normalizes a possibly negative axis against ndim (accepting [-ndim, ndim) or, with
// `extra`, [-ndim-1, ndim]); InvalidArgument naming the op otherwise.
absl::StatusOr<int> NormalizeAxis(absl::string_view op, int64_t axis, int ndim,
                                  bool extra = false);

// Unknown shapes (nullopt or containing -1) leave inference to later passes.
inline bool AllKnown(const std::vector<InferShape>& shapes) {
  for (const auto& s : shapes) {
    if (!IsKnown(s)) return false;
  }
  return true;
}


// Calls fn(TypeTag<T>{}) for float32/float64; InvalidArgument for other dtypes.
template <typename Fn>
absl::Status DispatchReal(absl::string_view op, DType dtype, Fn&& fn) {
  return DispatchFloat(op, dtype, std::forward<Fn>(fn));
}

// Like DispatchReal but also the integer dtypes (for copies, casts and indexing ops).
template <typename Fn>
absl::Status DispatchNumeric(absl::string_view op, DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat32: return fn(TypeTag<float>{});
    case DType::kFloat64: return fn(TypeTag<double>{});
    case DType::kUint8: return fn(TypeTag<uint8_t>{});
    case DType::kInt8: return fn(TypeTag<int8_t>{});
    case DType::kInt32: return fn(TypeTag<int32_t>{});
    case DType::kInt64: return fn(TypeTag<int64_t>{});
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(op, ": dtype ", DTypeName(dtype), " is not supported"));
  }
}

// For each element (C order) of `out`, the flat offset of the element of `in` it reads
// under right-aligned broadcasting (`in`'s dims are 1 or equal to `out`'s). Also maps input
// elements to their reduction slot when `in` is the keepdims-reduced shape.
std::vector<int64_t> BroadcastIndex(const Shape& in, const Shape& out);

// BroadcastIndex(kept, in) for a reduction of `in` to its keepdims shape `kept`, without the
// 8-byte-per-element table where the reduced axes are all of them (slot 0), a leading run
// (slot i % slots) or a trailing run (slot i / block); other patterns build the table.
// Indexed like the vector: slot[i] for i < size().
class SlotMap {
 public:
  SlotMap(const Shape& kept, const Shape& in);
  int64_t operator[](size_t i) const {
    switch (mode_) {
      case Mode::kAll: return 0;
      case Mode::kLeading: return static_cast<int64_t>(i) % slots_;
      case Mode::kTrailing: return static_cast<int64_t>(i) / block_;
      default: return table_[i];
    }
  }
  size_t size() const { return size_; }

 private:
  enum class Mode { kAll, kLeading, kTrailing, kTable };
  Mode mode_ = Mode::kTable;
  size_t size_ = 0;
  int64_t slots_ = 1, block_ = 1;
  std::vector<int64_t> table_;
};

// C-order strides of `s`.
std::vector<int64_t> Strides(const Shape& s);

}  // namespace mxgrid::ops::tensor_internal

#endif  // MXGRID_LIBS_OPS_TENSOR_COMMON_H_
