// Shape: the dimensions of an array, MXNet's TShape for known shapes.
//
//   Shape s{2, 3};  s.ndim() == 2;  s.Size() == 6;  s.ToString() == "(2, 3)";
//
// ndim 0 is a scalar (Size() == 1). Dimensions are non-negative; a 0 dimension makes an
// empty array. Shapes are small values: copy them freely. Thread-compatible.
#ifndef MXGRID_LIBS_BASE_SHAPE_H_
#define MXGRID_LIBS_BASE_SHAPE_H_

#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>

#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace mxgrid {

class Shape {
 public:
  // The most dimensions a shape may have (as MXNet's kMaxDim-era limit, generous).
  static constexpr int kMaxNdim = 32;

  Shape() = default;  // A scalar: ndim 0.
  Shape(std::initializer_list<int64_t> dims) : dims_(dims) {}
  explicit Shape(absl::Span<const int64_t> dims) : dims_(dims.begin(), dims.end()) {}

  // Validates untrusted dimensions: at most kMaxNdim, each >= 0, and a product that fits in
  // int64 elements of up to 8 bytes. InvalidArgument names the offending dimension.
  static absl::StatusOr<Shape> Make(absl::Span<const int64_t> dims);

  int ndim() const { return static_cast<int>(dims_.size()); }
  int64_t operator[](int axis) const { return dims_[axis]; }
  int64_t& operator[](int axis) { return dims_[axis]; }
  absl::Span<const int64_t> dims() const { return dims_; }

  // Number of elements (product of the dimensions; 1 for a scalar).
  int64_t Size() const;
  // Product of dims [begin, end).
  int64_t ProdRange(int begin, int end) const;

  // "(2, 3)"; a 1-d shape prints "(5,)" and a scalar "()", as Python tuples do.
  std::string ToString() const;

  friend bool operator==(const Shape& a, const Shape& b) { return a.dims_ == b.dims_; }
  friend bool operator!=(const Shape& a, const Shape& b) { return !(a == b); }
  friend std::ostream& operator<<(std::ostream& os, const Shape& s) {
    return os << s.ToString();
  }

 private:
  absl::InlinedVector<int64_t, 6> dims_;
};

}  // namespace mxgrid

#endif  // MXGRID_LIBS_BASE_SHAPE_H_
