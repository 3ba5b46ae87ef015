// Private helpers of the convolution family (Convolution, Deconvolution, Pooling, BatchNorm).
//
// 1-D and 2-D convolutions are run as 3-D ones with a depth (and, for 1-D, a height) of 1
// (kernel 1, stride 1, pad 0, dilate 1), so the convolution kernels work on NCDHW; pooling
// does the same with its own geometry. Loop kernels are templated on the element type; float32
// convolution, pooling and batch norm also have oneDNN paths (*_dnnl.cc). Thread-safety: all
// functions are re-entrant.
#ifndef MXGRID_LIBS_OPS_CONV_CONV_INTERNAL_H_
#define MXGRID_LIBS_OPS_CONV_CONV_INTERNAL_H_

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "libs/ops/op.h"
#include "libs/ops/op_util.h"
#include "libs/ops/registry.h"

namespace mxgrid::ops::conv_internal {

// "(3, 3)".
std::string TupleString(const std::vector<int64_t>& v);

// The largest kernel, stride, dilate, pad, adj or target_shape entry a parameter may hold:
// far beyond any real network, small enough that the shape arithmetic on them (kernel *
// dilate, data + 2 * pad) cannot overflow int64.
inline constexpr int64_t kMaxSpatialParam = (int64_t{1} << 31) - 1;


// Parameters shared by Convolution and Deconvolution.
struct ConvParams : OpParams {
  std::vector<int64_t> kernel, stride, dilate, pad, adj, target_shape;
  int64_t num_filter = 0;
  int64_t num_group = 1;
  bool no_bias = false;
};

// Parses Convolution's (deconv = false) or Deconvolution's attributes; fills defaults.
absl::StatusOr<std::shared_ptr<const OpParams>> ParseConvParams(absl::string_view op,
                                                                const AttrMap& attrs,
                                                                bool deconv);
std::vector<ParamSpec> ConvParamSpecs(bool deconv);

// The parts of the Convolution / Deconvolution OpDefs they share: name, parameters, parsing,
// inputs (data, weight[, bias]), one output, backward needing the inputs. The caller sets
// infer_shape, forward and backward. `name` must outlive the registry (a literal).
OpDef NewConvOpDef(const char* name, std::string description, bool deconv);

// Geometry of a (de)convolution seen as a convolution: x (n, c, d, h, w) -> y (n, f, od, oh, ow)
// with weight (f, c / groups, kd, kh, kw). `nsp` is the op's own number of spatial dims
// (1, 2 or 3); the missing leading ones are unit (kernel 1, stride 1, pad 0, dilate 1).
struct ConvGeom {
  int64_t n, c, d, h, w, f, od, oh, ow, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw, groups;
  int nsp;
  // Elements of one input / output channel plane.
  int64_t in_plane() const { return d * h * w; }
  int64_t out_plane() const { return od * oh * ow; }
};
// From the spatial vectors of a 1-D, 2-D or 3-D op.
ConvGeom MakeGeom(int64_t n, int64_t c, int64_t f, const std::vector<int64_t>& in_sp,
                  const std::vector<int64_t>& out_sp, const ConvParams& p);
// Convolution of data `x` to output `y` (convolution.cc).
ConvGeom ConvGeomOf(const ConvParams& p, const Shape& x, const Shape& y);
// Deconvolution of data `x` to output `y`, seen as the convolution y -> x whose weight is
// the deconvolution's (deconvolution.cc): n = x[0], c = y[1], f = x[1], pad as MXNet's
// InferPad derives it from target_shape.
ConvGeom DeconvGeomOf(const ConvParams& p, const Shape& x, const Shape& y);

// Loop kernels; outputs are ACCUMULATED into (callers zero them first).
template <typename T>
void ConvForwardLoops(const ConvGeom& g, const T* x, const T* w, T* y);
template <typename T>
void ConvBackwardDataLoops(const ConvGeom& g, const T* dy, const T* w, T* dx);
template <typename T>
void ConvBackwardWeightLoops(const ConvGeom& g, const T* x, const T* dy, T* dw);

// oneDNN float32 convolution (2-D descriptors for nsp <= 2, 3-D ones for nsp == 3); writes
// (does not accumulate) its output.
absl::Status DnnlConvForward(const ConvGeom& g, const float* x, const float* w,
                             const float* bias, float* y);
// Both gradient passes in one call, dy reordered once for both where their layouts agree;
// dx or dw null skips its pass (dbias null: no bias gradient). Writes its outputs.
absl::Status DnnlConvBackward(const ConvGeom& g, const float* x, const float* w,
                              const float* dy, float* dx, float* dw, float* dbias);

// Which float32 CPU kernels Pooling and BatchNorm run. kAuto is each op's measured rule
// (pooling.cc, batch_norm.cc); MXGRID_CPU_KERNELS=dnnl or =loops, read once at first use,
// forces one (benchmarks on other machines). Thread-safe.
enum class KernelChoice { kAuto, kDnnl, kLoops };
KernelChoice CpuKernelChoice();
// Overrides the choice for the whole process (tests of both paths).
void SetCpuKernelChoice(KernelChoice choice);

// Pooling as oneDNN sees it: x (n, c, d, h, w) -> y (n, c, od, oh, ow), windows of
// kd x kh x kw starting at o * stride - pad_before over data padded by (pf, pt, pl) before
// and (pbk, pb, pr) after. three_d: 3-D descriptors (NCDHW); otherwise 2-D ones (NCHW) and
// REQUIRES d == od == kd == sd == 1, pf == pbk == 0. REQUIRES: every pad < its kernel extent
// (oneDNN rejects windows wholly in the padding).
struct DnnlPoolGeom {
  int64_t n, c, d, h, w, od, oh, ow, kd, kh, kw, sd, sh, sw, pf, pt, pl, pbk, pb, pr;
  bool three_d;
  bool max;  // false: the window mean over kd * kh * kw, padding counted as zeros
};

// oneDNN float32 pooling; writes (does not accumulate) its output. Backward needs x for max.
absl::Status DnnlPoolForward(const DnnlPoolGeom& g, const float* x, float* y);
absl::Status DnnlPoolBackward(const DnnlPoolGeom& g, const float* x, const float* dy,
                              float* dx);

// float32 max pooling over tiled windows (pooling_tiled.cc): planes of h x w -> oh x ow with
// kh x kw windows at stride (kh, kw), no padding. REQUIRES: oh * kh <= h and ow * kw <= w
// (every window in bounds). `add` accumulates into the output instead of writing it; the
// backward writes (or adds) every dx cell, zero where no window's maximum lies. Values and
// tie rules are the loop kernels'. Parallel over planes.
struct TiledMaxGeom {
  int64_t planes, h, w, oh, ow, kh, kw;
};
void TiledMaxForward(const TiledMaxGeom& g, const float* x, bool add, float* y);
void TiledMaxBackward(const TiledMaxGeom& g, const float* x, const float* dy, bool add,
                      float* dx);

// BatchNorm as oneDNN sees it: data (outer, c, inner) normalized per channel.
struct DnnlBNGeom {
  int64_t outer, c, inner;
  double eps;
  bool batch_stats;  // true: batch mean / biased variance; false: the given (moving) stats
};

// oneDNN float32 batch normalization; writes (does not accumulate) its outputs. With
// batch_stats the forward writes the batch mean and biased variance to `mean` / `var`,
// otherwise it reads them. Backward always reads them (the stats the forward used).
absl::Status DnnlBNForward(const DnnlBNGeom& g, const float* x, const float* gamma,
                           const float* beta, float* mean, float* var, float* y);
absl::Status DnnlBNBackward(const DnnlBNGeom& g, const float* x, const float* dy,
                            const float* gamma, const float* beta, const float* mean,
                            const float* var, float* dx, float* dgamma, float* dbeta);

// Writes `src` (n elements) to `dst` as `req` says.
template <typename T>
void ApplyReq(OpReq req, const T* src, int64_t n, T* dst) {
  if (req == OpReq::kNull) return;
  if (req == OpReq::kAddTo) {
    for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
  } else if (src != dst) {
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
  }
}

// A zeroed buffer of `n` elements for a kernel to accumulate a gradient into, or an empty one
// (nothing allocated) when the gradient is not wanted.
template <typename T>
std::vector<T> GradScratch(OpReq req, int64_t n) {
  return req == OpReq::kNull ? std::vector<T>() : std::vector<T>(static_cast<size_t>(n), T(0));
}

// db[c] += the sum of dy over (n, plane) for every channel c of dy (n, channels, plane).
template <typename T>
void AccumulateBiasGrad(const T* dy, int64_t n, int64_t channels, int64_t plane, T* db) {
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t c = 0; c < channels; ++c) {
      const T* row = dy + (i * channels + c) * plane;
      for (int64_t j = 0; j < plane; ++j) db[c] += row[j];
    }
  }
}

// Runs `fn(dst)` writing `n` floats straight into `out` (kWriteTo, kWriteInplace) or into a
// temporary that is then added (kAddTo); skips kNull.
template <typename Fn>
absl::Status WriteFloats(OpReq req, int64_t n, float* out, Fn&& fn) {
  if (req == OpReq::kNull) return absl::OkStatus();
  if (req != OpReq::kAddTo) return fn(out);
  std::vector<float> tmp(n);
  absl::Status s = fn(tmp.data());
  if (!s.ok()) return s;
  ApplyReq(req, tmp.data(), n, out);
  return absl::OkStatus();
}

absl::Status RegisterConvolution(Registry* registry);
absl::Status RegisterDeconvolution(Registry* registry);
absl::Status RegisterPooling(Registry* registry);
absl::Status RegisterBatchNorm(Registry* registry);

}  // namespace mxgrid::ops::conv_internal

#endif  // MXGRID_LIBS_OPS_CONV_CONV_INTERNAL_H_
