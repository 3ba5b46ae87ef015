#include "libs/base/shape.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace mxgrid {

absl::StatusOr<Shape> Shape::Make(absl::Span<const int64_t> dims) {
  if (dims.size() > static_cast<size_t>(kMaxNdim)) {
    return absl::InvalidArgumentError(
        absl::StrCat("shape has ", dims.size(), " dimensions; at most ", kMaxNdim, " allowed"));
  }
  // Elements of up to 8 bytes must stay addressable in int64 bytes.
  constexpr int64_t kMaxElements = std::numeric_limits<int64_t>::max() / 8;
  int64_t size = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("dimension ", i, " of shape is negative (", dims[i], ")"));
    }
    if (dims[i] != 0 && size > kMaxElements / dims[i]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "shape (", absl::StrJoin(dims, ", "), ") has more than 2^60 elements"));
    }
    size *= dims[i];
  }
  return Shape(dims);
}

int64_t Shape::Size() const { return ProdRange(0, ndim()); }

int64_t Shape::ProdRange(int begin, int end) const {
  int64_t size = 1;
  for (int i = begin; i < end; ++i) size *= dims_[i];
  return size;
}

std::string Shape::ToString() const {
  if (dims_.size() == 1) return absl::StrCat("(", dims_[0], ",)");
  return absl::StrCat("(", absl::StrJoin(dims_, ", "), ")");
}

}  // namespace mxgrid
