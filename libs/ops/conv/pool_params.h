// Pooling's parsed parameters and its NCDHW geometry, shared by the CPU kernels
// (pooling.cc) and the CUDA ones (pooling.cu). Plain data; thread-compatible.
#ifndef MXGRID_LIBS_OPS_CONV_POOL_PARAMS_H_
#define MXGRID_LIBS_OPS_CONV_POOL_PARAMS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "libs/base/shape.h"
#include "libs/ops/op.h"

namespace mxgrid::ops::conv_internal {

struct PoolParams : OpParams {
  std::vector<int64_t> kernel, stride, pad;
  std::string pool_type, convention;  // "max" / "avg" / "sum"; "valid" / "full"
  bool global_pool = false;
  bool count_include_pad = true;
};

// Pooling geometry on NCDHW (1-D and 2-D with unit leading spatial dims): nc planes of
// d x h x w pooled to od x oh x ow by kd x kh x kw windows at stride (sd, sh, sw) starting
// at o * stride - pad. nsp is the data's own number of spatial dims.
struct PoolGeom {
  int64_t nc, d, h, w, od, oh, ow, kd, kh, kw, sd, sh, sw, pd, ph, pw;
  int nsp;
  int64_t in_plane() const { return d * h * w; }
};

// The geometry of pooling data `x` to output `y` (global_pool: windows of the whole data).
PoolGeom PoolGeomOf(const PoolParams& p, const Shape& x, const Shape& y);

}  // namespace mxgrid::ops::conv_internal

#endif  // MXGRID_LIBS_OPS_CONV_POOL_PARAMS_H_
