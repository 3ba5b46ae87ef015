// BatchNorm's parsed parameters and its (outer, channels, inner) view of the data, shared by
// the CPU kernels (batch_norm.cc) and the CUDA ones (batch_norm.cu). Plain data;
// thread-compatible.
#ifndef MXGRID_LIBS_OPS_CONV_BN_PARAMS_H_
#define MXGRID_LIBS_OPS_CONV_BN_PARAMS_H_

#include <cstdint>

#include "libs/base/shape.h"
#include "libs/ops/op.h"

namespace mxgrid::ops::conv_internal {

struct BNParams : OpParams {
  double eps = 1e-3, momentum = 0.9;
  bool fix_gamma = true, use_global_stats = false, output_mean_var = false;
  int64_t axis = 1;
};

// data viewed as (outer, c, inner): element (o, ch, i) at (o * c + ch) * inner + i.
struct BNGeom {
  int64_t outer, c, inner;
  int64_t count() const { return outer * inner; }
  // Calls fn(index) for every element of channel `ch`.
  template <typename Fn>
  void ForChannel(int64_t ch, Fn&& fn) const {
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) fn((o * c + ch) * inner + i);
    }
  }
};

// REQUIRES: p.axis in [-ndim, ndim) (shape inference checked it).
inline BNGeom BNGeomOf(const BNParams& p, const Shape& s) {
  const int axis = static_cast<int>(p.axis < 0 ? p.axis + s.ndim() : p.axis);
  return BNGeom{s.ProdRange(0, axis), s[axis], s.ProdRange(axis + 1, s.ndim())};
}

}  // namespace mxgrid::ops::conv_internal

#endif  // MXGRID_LIBS_OPS_CONV_BN_PARAMS_H_
