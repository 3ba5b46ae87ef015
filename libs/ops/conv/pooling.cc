// Pooling (max, avg, sum; 1-D NCW, 2-D NCHW, 3-D NCDHW) with MXNet's window rules: float32 max over
// tiled windows (kernel == stride, no padding: 2x2/2, global) on the one-pass kernel of
// pooling_tiled.cc, float32 on oneDNN (pooling_dnnl.cc) where PlanDnnl's measured rule picks
// it, float64 and the rest in loops.
//
// Every op is run on NCDHW, with unit leading spatial dims for 1-D and 2-D data.
// Windows start at o*stride - pad. avg divides by the window clipped to [-pad, in + pad)
// (count_include_pad, the default) or by its in-bounds part; max ignores padding and routes
// its gradient to the first maximum in row-major order, as MXNet does on ties.
#include <algorithm>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"
#include "libs/ops/conv/conv_internal.h"
#include "libs/ops/conv/pool_params.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::conv_internal {

namespace {

constexpr char kOp[] = "Pooling";

absl::StatusOr<std::shared_ptr<const OpParams>> ParsePool(const AttrMap& attrs) {
  auto p = std::make_shared<PoolParams>();
  ParamReader r(kOp, attrs);
  MXGRID_RETURN_IF_ERROR(r.Bool("global_pool", &p->global_pool, false));
  MXGRID_RETURN_IF_ERROR(r.Tuple("kernel", &p->kernel, /*required=*/!p->global_pool));
  MXGRID_RETURN_IF_ERROR(r.Tuple("stride", &p->stride));
  MXGRID_RETURN_IF_ERROR(r.Tuple("pad", &p->pad));
  MXGRID_RETURN_IF_ERROR(r.Enum("pool_type", &p->pool_type, {"max", "avg", "sum"}, "max"));
  MXGRID_RETURN_IF_ERROR(
      r.Enum("pooling_convention", &p->convention, {"valid", "full"}, "valid"));
  std::optional<int64_t> p_value;
  MXGRID_RETURN_IF_ERROR(r.OptionalInt("p_value", &p_value));
  std::string cip, layout;
  MXGRID_RETURN_IF_ERROR(
      r.Enum("count_include_pad", &cip, {"None", "True", "False", "true", "false", "1", "0"},
             "None"));
  p->count_include_pad = !(cip == "False" || cip == "false" || cip == "0");
  bool cudnn_off = false;
  MXGRID_RETURN_IF_ERROR(r.Bool("cudnn_off", &cudnn_off, false));
  MXGRID_RETURN_IF_ERROR(
      r.Enum("layout", &layout, {"None", "NCW", "NCHW", "NCDHW"}, "None"));
  MXGRID_RETURN_IF_ERROR(r.Finish());
  const size_t nd = p->kernel.size();
  if (!p->global_pool || nd != 0) {
    if (nd < 1 || nd > 3) {
      return r.Error(absl::StrCat("kernel ", TupleString(p->kernel),
                                  " must have 1, 2 or 3 elements (1-D, 2-D or 3-D)"));
    }
    if (p->stride.empty()) p->stride.assign(nd, 1);
    if (p->pad.empty()) p->pad.assign(nd, 0);
    if (p->stride.size() != nd || p->pad.size() != nd) {
      return r.Error(absl::StrCat("stride ", TupleString(p->stride), " and pad ",
                                  TupleString(p->pad), " must match kernel ",
                                  TupleString(p->kernel)));
    }
    for (size_t i = 0; i < nd; ++i) {
      if (p->kernel[i] < 1 || p->stride[i] < 1 || p->pad[i] < 0 ||
          std::max({p->kernel[i], p->stride[i], p->pad[i]}) > kMaxSpatialParam) {
        return r.Error(absl::StrCat("kernel and stride must be >= 1 and pad >= 0, all at most ",
                                    kMaxSpatialParam));
      }
    }
    if ((layout == "NCW" && nd != 1) || (layout == "NCHW" && nd != 2) ||
        (layout == "NCDHW" && nd != 3)) {
      return r.Error(absl::StrCat("layout ", layout, " does not match kernel ",
                                  TupleString(p->kernel)));
    }
  }
  return std::shared_ptr<const OpParams>(std::move(p));
}

// Effective kernel/stride/pad per spatial dim for data of `nsp` spatial dims.
void Effective(const PoolParams& p, const Shape& data, std::vector<int64_t>* k,
               std::vector<int64_t>* s, std::vector<int64_t>* pad) {
  const int nsp = data.ndim() - 2;
  if (p.global_pool) {
    k->assign(data.dims().begin() + 2, data.dims().end());
    s->assign(nsp, 1);
    pad->assign(nsp, 0);
  } else {
    *k = p.kernel;
    *s = p.stride;
    *pad = p.pad;
  }
}

absl::Status InferPoolShape(const OpParams& params, std::vector<InferShape>* in,
                            std::vector<InferShape>* out) {
  const auto& p = ParamsAs<PoolParams>(params);
  const InferShape& data = (*in)[0];
  if (!data) return absl::OkStatus();
  const int want_nd = p.kernel.empty() ? data->ndim() : static_cast<int>(p.kernel.size()) + 2;
  if (data->ndim() != want_nd || want_nd < 3 || want_nd > 5) {
    return absl::InvalidArgumentError(absl::StrCat(
        kOp, ": data ", data->ToString(), " must be 3-D, 4-D or 5-D and match kernel ",
        TupleString(p.kernel)));
  }
  std::vector<int64_t> k, s, pad, y = {(*data)[0], (*data)[1]};
  Effective(p, *data, &k, &s, &pad);
  for (int i = 0; i + 2 < data->ndim(); ++i) {
    const int64_t in_sp = (*data)[i + 2];
    if (p.global_pool || in_sp < 0) {
      y.push_back(p.global_pool ? 1 : -1);
      continue;
    }
    if (k[i] > in_sp + 2 * pad[i]) {
      return absl::InvalidArgumentError(
          absl::StrCat(kOp, ": kernel ", TupleString(k), " is larger than data ",
                       data->ToString(), " padded by ", TupleString(pad)));
    }
    const int64_t span = in_sp + 2 * pad[i] - k[i];
    y.push_back(1 + (p.convention == "full" ? (span + s[i] - 1) / s[i] : span / s[i]));
  }
  return MergeShape(kOp, "output", Shape(y), &(*out)[0]);
}

// One axis of a window: [lo, hi) in bounds, `cells` counted by the divisor.
struct WindowAxis {
  int64_t lo, hi, cells;
};
WindowAxis Axis(const PoolParams& p, int64_t o, int64_t s, int64_t pad, int64_t k, int64_t in) {
  const int64_t a = o * s - pad, b = std::min(a + k, in + pad);
  const int64_t lo = std::max<int64_t>(a, 0), hi = std::min(b, in);
  return {lo, hi, p.count_include_pad ? b - a : hi - lo};
}

// Calls fn(plane, out_index, z, y, x, divisor) per output element with the in-bounds window
// [z.lo, z.hi) x [y.lo, y.hi) x [x.lo, x.hi). Planes run in parallel: fn must touch only its
// own plane.
template <typename Fn>
void ForEachWindow(const PoolParams& p, const PoolGeom& g, Fn&& fn) {
  const bool is_avg = p.pool_type == "avg";
#pragma omp parallel for schedule(static)
  for (int64_t pl = 0; pl < g.nc; ++pl) {
    for (int64_t oz = 0; oz < g.od; ++oz) {
      const WindowAxis z = Axis(p, oz, g.sd, g.pd, g.kd, g.d);
      for (int64_t oy = 0; oy < g.oh; ++oy) {
        const WindowAxis y = Axis(p, oy, g.sh, g.ph, g.kh, g.h);
        for (int64_t ox = 0; ox < g.ow; ++ox) {
          const WindowAxis x = Axis(p, ox, g.sw, g.pw, g.kw, g.w);
          const double div = is_avg ? static_cast<double>(z.cells * y.cells * x.cells) : 1.0;
          fn(pl, ((pl * g.od + oz) * g.oh + oy) * g.ow + ox, z, y, x, div);
        }
      }
    }
  }
}

template <typename T>
void PoolForwardT(const PoolParams& p, const PoolGeom& g, const T* x, T* y) {
  const bool is_max = p.pool_type == "max";
  ForEachWindow(p, g, [&](int64_t pl, int64_t oi, const WindowAxis& wz, const WindowAxis& wy,
                          const WindowAxis& wx, double div) {
    const T* plane = x + pl * g.in_plane();
    T acc = is_max ? std::numeric_limits<T>::lowest() : T(0);
    for (int64_t iz = wz.lo; iz < wz.hi; ++iz) {
      for (int64_t iy = wy.lo; iy < wy.hi; ++iy) {
        const T* row = plane + (iz * g.h + iy) * g.w;
        for (int64_t ix = wx.lo; ix < wx.hi; ++ix) {
          acc = is_max ? std::max(acc, row[ix]) : acc + row[ix];
        }
      }
    }
    y[oi] = is_max ? acc : static_cast<T>(acc / div);
  });
}

template <typename T>
void PoolBackwardT(const PoolParams& p, const PoolGeom& g, const T* x, const T* dy, T* dx) {
  const bool is_max = p.pool_type == "max";
  ForEachWindow(p, g, [&](int64_t pl, int64_t oi, const WindowAxis& wz, const WindowAxis& wy,
                          const WindowAxis& wx, double div) {
    const int64_t base = pl * g.in_plane();
    int64_t best = -1;
    for (int64_t iz = wz.lo; iz < wz.hi; ++iz) {
      for (int64_t iy = wy.lo; iy < wy.hi; ++iy) {
        const int64_t row = base + (iz * g.h + iy) * g.w;
        for (int64_t ix = wx.lo; ix < wx.hi; ++ix) {
          const int64_t i = row + ix;
          if (!is_max) {
            dx[i] += dy[oi] / div;
          } else if (best < 0 || x[i] > x[best]) {
            best = i;
          }
        }
      }
    }
    if (best >= 0) dx[best] += dy[oi];
  });
}

// The oneDNN form of a float32 pooling: the geometry, with the back / bottom / right padding
// that 'full' needs, and per output depth / row / column factors taking oneDNN's window sum
// / (kd * kh * kw) to MXNet's value (avg: sum / the loops' divisor, which is separable; sum:
// the sum).
struct DnnlPlan {
  DnnlPoolGeom geom;
  std::vector<float> fz, fy, fx;
  bool rescale = false;  // some factor is not 1
};

// Factors along one axis for `out` windows of `k` cells at stride `s` with `pad` before data
// `in` long.
std::vector<float> AxisFactors(const PoolParams& p, int64_t in, int64_t out, int64_t k,
                               int64_t s, int64_t pad) {
  std::vector<float> f(out, static_cast<float>(k));
  if (p.pool_type == "sum") return f;
  for (int64_t o = 0; o < out; ++o) {
    const int64_t cells = Axis(p, o, s, pad, k, in).cells;
    f[o] = static_cast<float>(static_cast<double>(k) / static_cast<double>(cells));
  }
  return f;
}

// nullopt where the loops run instead. Always: a window could lie wholly in the padding (a
// pad not smaller than its kernel on either side), which oneDNN rejects and MXNet gives no
// value for. Rule (kAuto): oneDNN for global avg / sum pooling only. oneDNN 2.6 pools plain
// NCHW with its reference kernel (simple_nchw; its jit kernels want blocked layouts, and the
// reorders cost more than they save). On the 2-core CI box, idle, fwd+bwd of 64x64x32x32
// measured (oneDNN vs loops, ms): max 2x2/2 83-89 vs 29-31; max 3x3/2 pad 1 95-129 vs 38-43;
// avg 2x2/2 27-30 vs 21; avg 3x3/2 pad 1 21-36 vs 28; global max 16-27 vs 14-15; global avg
// 6.3-7.4 vs 11.6-12. 3-D pooling follows the same rule (oneDNN's plain NCDHW kernel is the
// same reference one).
std::optional<DnnlPlan> PlanDnnl(const PoolParams& p, const PoolGeom& g, const Shape& x) {
  switch (CpuKernelChoice()) {
    case KernelChoice::kDnnl:
      break;
    case KernelChoice::kLoops:
      return std::nullopt;
    case KernelChoice::kAuto:
      if (!p.global_pool || p.pool_type == "max") return std::nullopt;
      break;
  }
  // The padding after the data along one axis: the user's, or more where 'full' rounds up.
  auto after = [](int64_t in, int64_t out, int64_t k, int64_t s, int64_t pad) {
    return std::max(pad, (out - 1) * s + k - in - pad);
  };
  const int64_t pbk = after(g.d, g.od, g.kd, g.sd, g.pd);
  const int64_t pb = after(g.h, g.oh, g.kh, g.sh, g.ph);
  const int64_t pr = after(g.w, g.ow, g.kw, g.sw, g.pw);
  if (g.pd >= g.kd || g.ph >= g.kh || g.pw >= g.kw || pbk >= g.kd || pb >= g.kh ||
      pr >= g.kw) {
    return std::nullopt;
  }
  DnnlPlan plan;
  plan.geom = DnnlPoolGeom{x[0], x[1], g.d,  g.h,  g.w,  g.od, g.oh, g.ow, g.kd, g.kh,
                           g.kw, g.sd, g.sh, g.sw, g.pd, g.ph, g.pw, pbk,  pb,   pr,
                           g.nsp == 3, p.pool_type == "max"};
  if (plan.geom.max) return plan;
  plan.fz = AxisFactors(p, g.d, g.od, g.kd, g.sd, g.pd);
  plan.fy = AxisFactors(p, g.h, g.oh, g.kh, g.sh, g.ph);
  plan.fx = AxisFactors(p, g.w, g.ow, g.kw, g.sw, g.pw);
  for (const auto* f : {&plan.fz, &plan.fy, &plan.fx}) {
    for (float v : *f) plan.rescale = plan.rescale || v != 1.0f;
  }
  return plan;
}

// The tiled max kernel's geometry (pooling_tiled.cc) where it applies: max pooling whose
// windows neither overlap nor reach the padding or past the data (kernel == stride, or one
// window along an axis, as in global pooling), and the automatic kernel choice. The kernel
// is 2-D: 3-D data qualifies when its depth windows are single slices (kd == sd == 1, no
// depth padding), each slice then being a plane of its own.
std::optional<TiledMaxGeom> PlanTiled(const PoolParams& p, const PoolGeom& g) {
  if (CpuKernelChoice() != KernelChoice::kAuto || p.pool_type != "max") return std::nullopt;
  if (g.kd != 1 || g.sd != 1 || g.pd != 0 || g.od != g.d) return std::nullopt;
  if (g.ph != 0 || g.pw != 0) return std::nullopt;
  if ((g.oh != 1 && g.kh != g.sh) || (g.ow != 1 && g.kw != g.sw)) return std::nullopt;
  if (g.oh * g.kh > g.h || g.ow * g.kw > g.w) return std::nullopt;
  return TiledMaxGeom{g.nc * g.d, g.h, g.w, g.oh, g.ow, g.kh, g.kw};
}

// v[plane, oz, oy, ox] *= fz[oz] * fy[oy] * fx[ox].
void Rescale(const DnnlPlan& plan, const PoolGeom& g, float* v) {
#pragma omp parallel for schedule(static)
  for (int64_t pl = 0; pl < g.nc; ++pl) {
    for (int64_t oz = 0; oz < g.od; ++oz) {
      for (int64_t oy = 0; oy < g.oh; ++oy) {
        float* row = v + ((pl * g.od + oz) * g.oh + oy) * g.ow;
        const float f = plan.fz[oz] * plan.fy[oy];
        for (int64_t ox = 0; ox < g.ow; ++ox) row[ox] *= f * plan.fx[ox];
      }
    }
  }
}

absl::Status PoolForward(const OpContext&, const OpParams& params,
                         absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                         absl::Span<const TensorView> out) {
  const auto& p = ParamsAs<PoolParams>(params);
  const PoolGeom g = PoolGeomOf(p, in[0].shape, out[0].shape);
  auto run = [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, float>) {
      const std::optional<TiledMaxGeom> tiled = PlanTiled(p, g);
      if (tiled && (reqs[0] == OpReq::kWriteTo || reqs[0] == OpReq::kAddTo)) {
        TiledMaxForward(*tiled, in[0].as<float>(), reqs[0] == OpReq::kAddTo,
                        out[0].as<float>());
        return absl::OkStatus();
      }
      if (std::optional<DnnlPlan> plan = PlanDnnl(p, g, in[0].shape)) {
        auto run_dnnl = [&](float* y) -> absl::Status {
          MXGRID_RETURN_IF_ERROR(DnnlPoolForward(plan->geom, in[0].as<float>(), y));
          if (plan->rescale) Rescale(*plan, g, y);
          return absl::OkStatus();
        };
        return WriteFloats(reqs[0], out[0].size(), out[0].as<float>(), run_dnnl);
      }
    }
    if (reqs[0] == OpReq::kWriteTo) {  // straight into the output, no scratch
      PoolForwardT(p, g, in[0].as<T>(), out[0].as<T>());
      return absl::OkStatus();
    }
    std::vector<T> y(out[0].size());
    PoolForwardT(p, g, in[0].as<T>(), y.data());
    ApplyReq(reqs[0], y.data(), out[0].size(), out[0].as<T>());
    return absl::OkStatus();
  };
  return DispatchFloat(kOp, in[0].dtype, run);
}

absl::Status PoolBackward(const OpContext&, const OpParams& params, const BackwardArgs& a) {
  if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
  const auto& p = ParamsAs<PoolParams>(params);
  const PoolGeom g = PoolGeomOf(p, a.inputs[0].shape, a.out_grads[0].shape);
  auto run = [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, float>) {
      const std::optional<TiledMaxGeom> tiled = PlanTiled(p, g);
      if (tiled && (a.reqs[0] == OpReq::kWriteTo || a.reqs[0] == OpReq::kAddTo)) {
        TiledMaxBackward(*tiled, a.inputs[0].as<float>(), a.out_grads[0].as<float>(),
                         a.reqs[0] == OpReq::kAddTo, a.in_grads[0].as<float>());
        return absl::OkStatus();
      }
      if (std::optional<DnnlPlan> plan = PlanDnnl(p, g, a.inputs[0].shape)) {
        const float* dy = a.out_grads[0].as<float>();
        std::vector<float> scaled;
        if (plan->rescale) {
          scaled.assign(dy, dy + a.out_grads[0].size());
          Rescale(*plan, g, scaled.data());
          dy = scaled.data();
        }
        return WriteFloats(a.reqs[0], a.inputs[0].size(), a.in_grads[0].as<float>(),
                           [&](float* dx) {
                             return DnnlPoolBackward(plan->geom, a.inputs[0].as<float>(), dy,
                                                     dx);
                           });
      }
    }
    if (a.reqs[0] == OpReq::kWriteTo) {  // zeroed and accumulated in place, no scratch
      T* dx = a.in_grads[0].as<T>();
      const int64_t plane = g.in_plane();
#pragma omp parallel for schedule(static)
      for (int64_t pl = 0; pl < g.nc; ++pl) std::fill_n(dx + pl * plane, plane, T(0));
      PoolBackwardT(p, g, a.inputs[0].as<T>(), a.out_grads[0].as<T>(), dx);
      return absl::OkStatus();
    }
    std::vector<T> dx(a.inputs[0].size(), T(0));
    PoolBackwardT(p, g, a.inputs[0].as<T>(), a.out_grads[0].as<T>(), dx.data());
    ApplyReq(a.reqs[0], dx.data(), dx.size(), a.in_grads[0].as<T>());
    return absl::OkStatus();
  };
  return DispatchFloat(kOp, a.inputs[0].dtype, run);
}

}  // namespace

PoolGeom PoolGeomOf(const PoolParams& p, const Shape& x, const Shape& y) {
  std::vector<int64_t> k, s, pad;
  Effective(p, x, &k, &s, &pad);
  const int nsp = x.ndim() - 2;
  // Value of spatial dim i (0: depth, 1: height, 2: width) of the NCDHW form.
  auto at = [nsp](auto get, int i, int64_t unit) -> int64_t {
    const int j = i - (3 - nsp);
    return j < 0 ? unit : get(j);
  };
  PoolGeom g{};
  g.nc = x[0] * x[1];
  g.nsp = nsp;
  int64_t* in[] = {&g.d, &g.h, &g.w};
  int64_t* out[] = {&g.od, &g.oh, &g.ow};
  int64_t* kk[] = {&g.kd, &g.kh, &g.kw};
  int64_t* ss[] = {&g.sd, &g.sh, &g.sw};
  int64_t* pp[] = {&g.pd, &g.ph, &g.pw};
  for (int i = 0; i < 3; ++i) {
    *in[i] = at([&](int j) { return x[j + 2]; }, i, 1);
    *out[i] = at([&](int j) { return y[j + 2]; }, i, 1);
    *kk[i] = at([&](int j) { return k[j]; }, i, 1);
    *ss[i] = at([&](int j) { return s[j]; }, i, 1);
    *pp[i] = at([&](int j) { return pad[j]; }, i, 0);
  }
  return g;
}

absl::Status RegisterPooling(Registry* registry) {
  OpDef def;
  def.name = kOp;
  def.description =
      "1-D/2-D/3-D max, avg or sum pooling over NCW/NCHW/NCDHW data (MXNet Pooling).";
  def.params = {
      {"kernel", "Shape(tuple)", "[]", false, "Pooling window; ignored with global_pool."},
      {"pool_type", "{'avg', 'max', 'sum'}", "'max'", false, "Pooling type."},
      {"global_pool", "boolean", "False", false, "Pool over the whole spatial extent."},
      {"pooling_convention", "{'full', 'valid'}", "'valid'", false, "Output size rounding."},
      {"stride", "Shape(tuple)", "[]", false, "Stride; default 1 per dimension."},
      {"pad", "Shape(tuple)", "[]", false, "Padding per side; default 0."},
      {"p_value", "int or None", "None", false, "Accepted (lp pooling is not supported)."},
      {"count_include_pad", "boolean or None", "None", false,
       "avg: count padded cells in the divisor (default True)."},
      {"cudnn_off", "boolean", "False", false, "Accepted and ignored."},
      {"layout", "{None, 'NCDHW', 'NCHW', 'NCW'}", "None", false,
       "Data layout (channels first)."},
  };
  def.parse = ParsePool;
  def.input_names = [](const OpParams&) { return std::vector<std::string>{"data"}; };
  def.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  def.num_outputs = [](const OpParams&) { return 1; };
  def.aux_indices = [](const OpParams&) { return std::vector<int>{}; };
  def.infer_shape = InferPoolShape;
  def.forward = PoolForward;
  def.backward = PoolBackward;
  def.backward_deps = BackwardDeps{/*inputs=*/true, /*outputs=*/false};
  return registry->Register(std::move(def));
}

}  // namespace mxgrid::ops::conv_internal
