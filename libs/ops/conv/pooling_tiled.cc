// float32 max pooling over tiled windows (kernel == stride, no padding, every window in
// bounds): each input cell lies in at most one window, so forward and backward write their
// outputs directly, one pass, no scratch buffers. 2x2 windows run 4 outputs at a time in
// SSE registers; other tile sizes and row tails run the scalar rule.
//
// The rules are the loop kernels' (pooling.cc), bit for bit: the forward value is
// max(lowest, cells...) folded left as std::max does; the gradient goes to the window's
// first cell, replaced by a later cell only where that one compares strictly greater (the
// first maximum in row-major order, as MXNet does on ties). Cells outside every window get a
// zero gradient.
#include <algorithm>
#include <cstring>
#include <limits>

#include "libs/ops/conv/conv_internal.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace mxgrid::ops::conv_internal {

namespace {

// One output row of the scalar rule from output column `ox0` on.
void ForwardRowScalar(const TiledMaxGeom& g, const float* plane, int64_t oy, int64_t ox0,
                      bool add, float* y_row) {
  for (int64_t ox = ox0; ox < g.ow; ++ox) {
    float acc = std::numeric_limits<float>::lowest();
    for (int64_t iy = oy * g.kh; iy < (oy + 1) * g.kh; ++iy) {
      const float* row = plane + iy * g.w;
      for (int64_t ix = ox * g.kw; ix < (ox + 1) * g.kw; ++ix) acc = std::max(acc, row[ix]);
    }
    y_row[ox] = add ? y_row[ox] + acc : acc;
  }
}

void BackwardRowScalar(const TiledMaxGeom& g, const float* x_plane, int64_t oy, int64_t ox0,
                       const float* dy_row, bool add, float* dx_plane) {
  for (int64_t ox = ox0; ox < g.ow; ++ox) {
    int64_t best = -1;
    for (int64_t iy = oy * g.kh; iy < (oy + 1) * g.kh; ++iy) {
      for (int64_t ix = ox * g.kw; ix < (ox + 1) * g.kw; ++ix) {
        const int64_t i = iy * g.w + ix;
        if (!add) dx_plane[i] = 0.0f;
        if (best < 0 || x_plane[i] > x_plane[best]) best = i;
      }
    }
    dx_plane[best] += dy_row[ox];
  }
}

#if defined(__SSE2__)
// Splits 8 consecutive floats at p into even and odd columns.
inline void Deinterleave(const float* p, __m128* even, __m128* odd) {
  const __m128 a = _mm_loadu_ps(p), b = _mm_loadu_ps(p + 4);
  *even = _mm_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
  *odd = _mm_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
}

// The 2x2 forward of 4 outputs from rows r0, r1 (8 columns each).
inline __m128 Max2x2(const float* r0, const float* r1) {
  __m128 e0, o0, e1, o1;
  Deinterleave(r0, &e0, &o0);
  Deinterleave(r1, &e1, &o1);
  // std::max(acc, v) == (v > acc ? v : acc) == _mm_max_ps(v, acc), NaNs included.
  __m128 acc = _mm_set1_ps(std::numeric_limits<float>::lowest());
  acc = _mm_max_ps(e0, acc);
  acc = _mm_max_ps(o0, acc);
  acc = _mm_max_ps(e1, acc);
  return _mm_max_ps(o1, acc);
}

inline __m128 Select(__m128 mask, __m128 a, __m128 b) {
  return _mm_or_ps(_mm_and_ps(mask, a), _mm_andnot_ps(mask, b));
}

// The 2x2 backward of 4 outputs: dy routed to each window's first strict maximum, written
// (or added) to 8 columns of dx rows d0, d1.
inline void Backward2x2(const float* r0, const float* r1, const float* dy, bool add,
                        float* d0, float* d1) {
  __m128 e0, o0, e1, o1;
  Deinterleave(r0, &e0, &o0);
  Deinterleave(r1, &e1, &o1);
  const __m128 m1 = _mm_cmpgt_ps(o0, e0);
  __m128 best = Select(m1, o0, e0);
  const __m128 m2 = _mm_cmpgt_ps(e1, best);
  best = Select(m2, e1, best);
  const __m128 m3 = _mm_cmpgt_ps(o1, best);
  const __m128 g = _mm_loadu_ps(dy);
  const __m128 g3 = _mm_and_ps(m3, g);
  const __m128 g2 = _mm_andnot_ps(m3, _mm_and_ps(m2, g));
  const __m128 later = _mm_or_ps(m2, m3);
  const __m128 g1 = _mm_andnot_ps(later, _mm_and_ps(m1, g));
  const __m128 g0 = _mm_andnot_ps(_mm_or_ps(later, m1), g);
  __m128 row0_lo = _mm_unpacklo_ps(g0, g1), row0_hi = _mm_unpackhi_ps(g0, g1);
  __m128 row1_lo = _mm_unpacklo_ps(g2, g3), row1_hi = _mm_unpackhi_ps(g2, g3);
  if (add) {
    row0_lo = _mm_add_ps(row0_lo, _mm_loadu_ps(d0));
    row0_hi = _mm_add_ps(row0_hi, _mm_loadu_ps(d0 + 4));
    row1_lo = _mm_add_ps(row1_lo, _mm_loadu_ps(d1));
    row1_hi = _mm_add_ps(row1_hi, _mm_loadu_ps(d1 + 4));
  }
  _mm_storeu_ps(d0, row0_lo);
  _mm_storeu_ps(d0 + 4, row0_hi);
  _mm_storeu_ps(d1, row1_lo);
  _mm_storeu_ps(d1 + 4, row1_hi);
}
#endif

// Zeroes the cells of a dx plane that no window covers (the right and bottom remainders).
void ZeroUncovered(const TiledMaxGeom& g, float* dx_plane) {
  const int64_t covered_w = g.ow * g.kw, covered_h = g.oh * g.kh;
  if (covered_w < g.w) {
    for (int64_t iy = 0; iy < covered_h; ++iy) {
      std::memset(dx_plane + iy * g.w + covered_w, 0, sizeof(float) * (g.w - covered_w));
    }
  }
  if (covered_h < g.h) {
    std::memset(dx_plane + covered_h * g.w, 0, sizeof(float) * (g.h - covered_h) * g.w);
  }
}

}  // namespace

void TiledMaxForward(const TiledMaxGeom& g, const float* x, bool add, float* y) {
#pragma omp parallel for schedule(static)
  for (int64_t pl = 0; pl < g.planes; ++pl) {
    const float* plane = x + pl * g.h * g.w;
    for (int64_t oy = 0; oy < g.oh; ++oy) {
      float* y_row = y + (pl * g.oh + oy) * g.ow;
      int64_t ox = 0;
#if defined(__SSE2__)
      if (g.kh == 2 && g.kw == 2) {
        const float* r0 = plane + 2 * oy * g.w;
        for (; ox + 4 <= g.ow; ox += 4) {
          __m128 v = Max2x2(r0 + 2 * ox, r0 + g.w + 2 * ox);
          if (add) v = _mm_add_ps(v, _mm_loadu_ps(y_row + ox));
          _mm_storeu_ps(y_row + ox, v);
        }
      }
#endif
      ForwardRowScalar(g, plane, oy, ox, add, y_row);
    }
  }
}

void TiledMaxBackward(const TiledMaxGeom& g, const float* x, const float* dy, bool add,
                      float* dx) {
#pragma omp parallel for schedule(static)
  for (int64_t pl = 0; pl < g.planes; ++pl) {
    const float* x_plane = x + pl * g.h * g.w;
    float* dx_plane = dx + pl * g.h * g.w;
    for (int64_t oy = 0; oy < g.oh; ++oy) {
      const float* dy_row = dy + (pl * g.oh + oy) * g.ow;
      int64_t ox = 0;
#if defined(__SSE2__)
      if (g.kh == 2 && g.kw == 2) {
        const float* r0 = x_plane + 2 * oy * g.w;
        float* d0 = dx_plane + 2 * oy * g.w;
        for (; ox + 4 <= g.ow; ox += 4) {
          Backward2x2(r0 + 2 * ox, r0 + g.w + 2 * ox, dy_row + ox, add, d0 + 2 * ox,
                      d0 + g.w + 2 * ox);
        }
      }
#endif
      BackwardRowScalar(g, x_plane, oy, ox, dy_row, add, dx_plane);
    }
    if (!add) ZeroUncovered(g, dx_plane);
  }
}

}  // namespace mxgrid::ops::conv_internal
