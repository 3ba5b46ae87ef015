// Direct-loop convolution kernels (float64, and the float32 fallback); accumulate outputs.
#include "libs/ops/conv/conv_internal.h"

namespace mxgrid::ops::conv_internal {

namespace {

// Calls fn(x_index, w_index, y_index) for every multiply-add term of the convolution, on the
// NCDHW form of the geometry.
template <typename Fn>
void ForEachTerm(const ConvGeom& g, Fn&& fn) {
  const int64_t cg = g.c / g.groups, fg = g.f / g.groups;
  for (int64_t n = 0; n < g.n; ++n) {
    for (int64_t f = 0; f < g.f; ++f) {
      const int64_t grp = f / fg;
      for (int64_t oz = 0; oz < g.od; ++oz) {
        for (int64_t oy = 0; oy < g.oh; ++oy) {
          for (int64_t ox = 0; ox < g.ow; ++ox) {
            const int64_t yi = (((n * g.f + f) * g.od + oz) * g.oh + oy) * g.ow + ox;
            for (int64_t ci = 0; ci < cg; ++ci) {
              const int64_t c = grp * cg + ci;
              for (int64_t kz = 0; kz < g.kd; ++kz) {
                const int64_t iz = oz * g.sd - g.pd + kz * g.dd;
                if (iz < 0 || iz >= g.d) continue;
                for (int64_t ky = 0; ky < g.kh; ++ky) {
                  const int64_t iy = oy * g.sh - g.ph + ky * g.dh;
                  if (iy < 0 || iy >= g.h) continue;
                  const int64_t x_row = (((n * g.c + c) * g.d + iz) * g.h + iy) * g.w;
                  const int64_t w_row = (((f * cg + ci) * g.kd + kz) * g.kh + ky) * g.kw;
                  for (int64_t kx = 0; kx < g.kw; ++kx) {
                    const int64_t ix = ox * g.sw - g.pw + kx * g.dw;
                    if (ix < 0 || ix >= g.w) continue;
                    fn(x_row + ix, w_row + kx, yi);
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}

}  // namespace

template <typename T>
void ConvForwardLoops(const ConvGeom& g, const T* x, const T* w, T* y) {
  ForEachTerm(g, [&](int64_t xi, int64_t wi, int64_t yi) { y[yi] += x[xi] * w[wi]; });
}

template <typename T>
void ConvBackwardDataLoops(const ConvGeom& g, const T* dy, const T* w, T* dx) {
  ForEachTerm(g, [&](int64_t xi, int64_t wi, int64_t yi) { dx[xi] += dy[yi] * w[wi]; });
}

template <typename T>
void ConvBackwardWeightLoops(const ConvGeom& g, const T* x, const T* dy, T* dw) {
  ForEachTerm(g, [&](int64_t xi, int64_t wi, int64_t yi) { dw[wi] += dy[yi] * x[xi]; });
}

template void ConvForwardLoops<float>(const ConvGeom&, const float*, const float*, float*);
template void ConvForwardLoops<double>(const ConvGeom&, const double*, const double*, double*);
template void ConvBackwardDataLoops<float>(const ConvGeom&, const float*, const float*,
                                           float*);
template void ConvBackwardDataLoops<double>(const ConvGeom&, const double*, const double*,
                                            double*);
template void ConvBackwardWeightLoops<float>(const ConvGeom&, const float*, const float*,
                                             float*);
template void ConvBackwardWeightLoops<double>(const ConvGeom&, const double*, const double*,
                                              double*);

}  // namespace mxgrid::ops::conv_internal
