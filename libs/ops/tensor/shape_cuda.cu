// CUDA kernels of the copying shape ops (shape_ops.cc, gather_nd_diag.cc, depth_space.cc,
// split_v2.cc): SwapAxis, reverse, slice_like and diag (strided views of the input),
// tile, repeat and broadcast_axis (each output element reads input coordinate
// (c / div) % mod), stack and _split_v2 (block copies), depth_to_space and space_to_depth
// (the CPU kernels' permutation, computed per element). Forward and backward; float32,
// float64 and the integer dtypes.
//
// Backward of an op that reads some input elements several times (tile, repeat,
// broadcast_axis) runs one thread per input element, summing its head gradients in the
// output's C order from the gradient's old value (kAddTo) or zero, as the CPU kernel's
// scatter-add does: the same sums in the same order, without atomics.
#include <cuda_runtime.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/gpu/cuda_util.h"
#include "libs/ops/params.h"
#include "libs/ops/registry.h"
#include "libs/ops/tensor/common.h"
#include "libs/ops/tensor/shape_params.h"
#include "libs/ops/tensor/tensor_cuda.h"
#include "libs/ops/tensor/tensor_cuda_util.cuh"

namespace mxgrid::ops::tensor_cuda {
namespace {

using tensor_internal::AxesParams;
using tensor_internal::BlockParams;
using tensor_internal::DiagGeometry;
using tensor_internal::DiagParams;
using tensor_internal::Normalized;
using tensor_internal::NormalizeAxis;
using tensor_internal::RepeatParams;
using tensor_internal::SplitV2Params;
using tensor_internal::SplitV2Parts;
using tensor_internal::StackParams;
using tensor_internal::SwapParams;
using tensor_internal::TileParams;

using KernelFn = std::function<absl::Status(const OpContext&, const OpParams&,
                                            absl::Span<const TensorView>,
                                            absl::Span<const OpReq>,
                                            absl::Span<const TensorView>)>;
using BackwardFn = std::function<absl::Status(const OpContext&, const OpParams&,
                                              const BackwardArgs&)>;

absl::Status Attach(Registry* registry, const char* name, KernelFn forward,
                    BackwardFn backward) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(name));
  d->gpu_forward = std::move(forward);
  d->gpu_backward = std::move(backward);
  d->gpu_dtypes = NumericDtypes();
  return absl::OkStatus();
}

// The view of an array shaped `s` whose dim i is s's dim axes[i].
View PermutedView(const Shape& s, const std::vector<int>& axes) {
  const std::vector<int64_t> st = Strides(s);
  View v;
  for (int a : axes) {
    v.dims.push_back(s[a]);
    v.strides.push_back(st[a]);
  }
  return v;
}

absl::StatusOr<std::vector<int>> SwapAxes(const OpParams& op, int nd) {
  const auto& p = ParamsAs<SwapParams>(op);
  MXGRID_ASSIGN_OR_RETURN(int a, NormalizeAxis("SwapAxis", p.dim1, nd));
  MXGRID_ASSIGN_OR_RETURN(int b, NormalizeAxis("SwapAxis", p.dim2, nd));
  std::vector<int> axes(nd);
  for (int i = 0; i < nd; ++i) axes[i] = i;
  std::swap(axes[a], axes[b]);
  return axes;
}

// SwapAxis is its own inverse: backward swaps the head gradient's axes back.
absl::Status SetSwapAxis(Registry* registry) {
  auto run = [](const OpContext& ctx, const OpParams& p, const TensorView& x, OpReq req,
                const TensorView& y) -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(auto axes, SwapAxes(p, x.shape.ndim()));
    return RunView(ctx, "SwapAxis", PermutedView(x.shape, axes), x, req, y, false);
  };
  return Attach(
      registry, "SwapAxis",
      [run](const OpContext& ctx, const OpParams& p, absl::Span<const TensorView> in,
            absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
        return run(ctx, p, in[0], reqs[0], out[0]);
      },
      [run](const OpContext& ctx, const OpParams& p, const BackwardArgs& a) {
        return run(ctx, p, a.out_grads[0], a.reqs[0], a.in_grads[0]);
      });
}

// reverse is its own inverse too: the view with negative strides along the flipped axes.
absl::Status SetReverse(Registry* registry) {
  auto run = [](const OpContext& ctx, const OpParams& p, const TensorView& x, OpReq req,
                const TensorView& y) -> absl::Status {
    const Shape& s = x.shape;
    MXGRID_ASSIGN_OR_RETURN(auto axes, Normalized("reverse", ParamsAs<AxesParams>(p).axis,
                                                  s.ndim()));
    std::vector<bool> flip(s.ndim(), false);
    for (int a : axes) flip[a] = !flip[a];
    View v{Dims(s), Strides(s), 0};
    for (int i = 0; i < s.ndim(); ++i) {
      if (!flip[i] || s[i] == 0) continue;
      v.base += (s[i] - 1) * v.strides[i];
      v.strides[i] = -v.strides[i];
    }
    return RunView(ctx, "reverse", v, x, req, y, false);
  };
  return Attach(
      registry, "reverse",
      [run](const OpContext& ctx, const OpParams& p, absl::Span<const TensorView> in,
            absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
        return run(ctx, p, in[0], reqs[0], out[0]);
      },
      [run](const OpContext& ctx, const OpParams& p, const BackwardArgs& a) {
        return run(ctx, p, a.out_grads[0], a.reqs[0], a.in_grads[0]);
      });
}

// slice_like: the output is data's leading corner; shape_like gets a zero gradient.
absl::Status SetSliceLike(Registry* registry) {
  auto corner = [](const Shape& data, const Shape& out) {
    return View{Dims(out), Strides(data), 0};
  };
  return Attach(
      registry, "slice_like",
      [corner](const OpContext& ctx, const OpParams&, absl::Span<const TensorView> in,
               absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
        return RunView(ctx, "slice_like", corner(in[0].shape, out[0].shape), in[0], reqs[0],
                       out[0], false);
      },
      [corner](const OpContext& ctx, const OpParams&, const BackwardArgs& a) -> absl::Status {
        MXGRID_RETURN_IF_ERROR(ZeroWithReq(ctx, "slice_like", a.in_grads[1], a.reqs[1]));
        if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
        MXGRID_RETURN_IF_ERROR(ZeroWithReq(ctx, "slice_like", a.in_grads[0], a.reqs[0]));
        return RunView(ctx, "slice_like", corner(a.in_grads[0].shape, a.out_grads[0].shape),
                       a.out_grads[0], OpReq::kAddTo, a.in_grads[0], true);
      });
}

// diag of a 1-D `data` of length len: the view of the (n, m) matrix's diagonal k. Of an
// N-D one: the view of data's diagonals, the other axes in order then the diagonal.
absl::StatusOr<View> DiagView(const OpParams& op, const Shape& s, const Shape& matrix) {
  const auto& p = ParamsAs<DiagParams>(op);
  int64_t len, r0, c0;
  if (s.ndim() == 1) {
    DiagGeometry(matrix[0], matrix[1], p.k, &len, &r0, &c0);
    return View{{len}, {matrix[1] + 1}, r0 * matrix[1] + c0};
  }
  MXGRID_ASSIGN_OR_RETURN(int a, NormalizeAxis("diag", p.axis1, s.ndim()));
  MXGRID_ASSIGN_OR_RETURN(int b, NormalizeAxis("diag", p.axis2, s.ndim()));
  if (a == b) {
    return absl::InvalidArgumentError("diag: axis1 and axis2 cannot refer to the same axis");
  }
  const std::vector<int64_t> st = Strides(s);
  DiagGeometry(s[a], s[b], p.k, &len, &r0, &c0);
  View v;
  for (int i = 0; i < s.ndim(); ++i) {
    if (i == a || i == b) continue;
    v.dims.push_back(s[i]);
    v.strides.push_back(st[i]);
  }
  v.dims.push_back(len);
  v.strides.push_back(st[a] + st[b]);
  v.base = len > 0 ? r0 * st[a] + c0 * st[b] : 0;
  return v;
}

// 1-D data: forward writes the matrix (zeros, then the diagonal), backward reads the
// diagonal. N-D: forward reads the diagonals, backward zeros and writes them.
absl::Status SetDiag(Registry* registry) {
  return Attach(
      registry, "diag",
      [](const OpContext& ctx, const OpParams& p, absl::Span<const TensorView> in,
         absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) -> absl::Status {
        if (reqs[0] == OpReq::kNull) return absl::OkStatus();
        MXGRID_ASSIGN_OR_RETURN(View v, DiagView(p, in[0].shape, out[0].shape));
        if (in[0].shape.ndim() != 1) return RunView(ctx, "diag", v, in[0], reqs[0], out[0], false);
        MXGRID_RETURN_IF_ERROR(ZeroWithReq(ctx, "diag", out[0], reqs[0]));
        return RunView(ctx, "diag", v, in[0], reqs[0], out[0], true);
      },
      [](const OpContext& ctx, const OpParams& p, const BackwardArgs& a) -> absl::Status {
        const TensorView &dy = a.out_grads[0], &dx = a.in_grads[0];
        if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
        MXGRID_ASSIGN_OR_RETURN(View v, DiagView(p, dx.shape, dy.shape));
        if (dx.shape.ndim() == 1) return RunView(ctx, "diag", v, dy, a.reqs[0], dx, false);
        MXGRID_RETURN_IF_ERROR(ZeroWithReq(ctx, "diag", dx, a.reqs[0]));
        return RunView(ctx, "diag", v, dy, OpReq::kAddTo, dx, true);
      });
}

// ---- tile, repeat, broadcast_axis: output dim d reads input offset ((c_d / div) % mod) *
// stride; backward sums, per input element, a box of output elements. ----

struct ModIndex {
  int ndim = 0;
  int64_t dims[kMaxDims];
  int64_t div[kMaxDims];
  int64_t mod[kMaxDims];
  int64_t stride[kMaxDims];
};

template <typename T>
__global__ void ModGatherKernel(const T* x, T* y, int64_t n, int req, ModIndex ix) {
  MXGRID_CUDA_KERNEL_LOOP(k, n) {
    int64_t r = k, off = 0;
    for (int d = ix.ndim - 1; d >= 0; --d) {
      const int64_t q = r / ix.dims[d], c = r - q * ix.dims[d];
      r = q;
      off += (c / ix.div[d]) % ix.mod[d] * ix.stride[d];
    }
    Put(req, y, k, x[off]);
  }
}

// Input element j (C order over in_dims) is read by the output elements
//   sum_i c_i * coef[i] + sum_e t_e * step[e],  t_e < count[e],
// which the lexicographic order of t visits in the output's C order.
struct Box {
  int in_ndim = 0;
  int64_t in_dims[kMaxDims];
  int64_t coef[kMaxDims];
  int loops = 0;
  int64_t step[kMaxDims];
  int64_t count[kMaxDims];
};

template <typename T>
__global__ void BoxSumKernel(const T* dy, T* dx, int64_t n, int req, Box b) {
  int64_t total = 1;
  for (int e = 0; e < b.loops; ++e) total *= b.count[e];
  MXGRID_CUDA_KERNEL_LOOP(j, n) {
    int64_t r = j, base = 0;
    for (int i = b.in_ndim - 1; i >= 0; --i) {
      const int64_t q = r / b.in_dims[i];
      base += (r - q * b.in_dims[i]) * b.coef[i];
      r = q;
    }
    T acc = req == kAddTo ? dx[j] : T(0);
    for (int64_t it = 0; it < total; ++it) {
      int64_t rem = it, off = base;
      for (int e = b.loops - 1; e >= 0; --e) {
        const int64_t q = rem / b.count[e];
        off += (rem - q * b.count[e]) * b.step[e];
        rem = q;
      }
      acc = static_cast<T>(acc + dy[off]);
    }
    dx[j] = acc;
  }
}

// How tile/repeat/broadcast_axis map one output dim to the input: input dim `src` (-1:
// none) at coordinate (c / div) % mod, and in backward the box loop of the dim (count
// output coordinates, `span` apart, for each input coordinate; c = t * span + in * mul).
struct DimMap {
  int src = -1;
  int64_t div = 1, mod = 1;
  int64_t mul = 1, span = 1, count = 1;
};

// The ModIndex and Box of an op whose input has shape `in` and output `out`, dims mapped
// by `maps` (one per output dim).
absl::Status RunModGather(const OpContext& ctx, const char* op, const std::vector<DimMap>& maps,
                          const Shape& out, const TensorView& x, OpReq req,
                          const TensorView& y) {
  const int64_t n = out.Size();
  if (req == OpReq::kNull || n == 0) return absl::OkStatus();
  const std::vector<int64_t> ist = Strides(x.shape);
  ModIndex ix;
  ix.ndim = out.ndim();
  for (int d = 0; d < out.ndim(); ++d) {
    ix.dims[d] = out[d];
    ix.div[d] = maps[d].div;
    ix.mod[d] = maps[d].src < 0 ? 1 : maps[d].mod;
    ix.stride[d] = maps[d].src < 0 ? 0 : ist[maps[d].src];
  }
  return DispatchNumeric(op, y.dtype, [&](auto tag) {
    using T = decltype(tag);
    ModGatherKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
        x.as<T>(), y.as<T>(), n, Req(req), ix);
    return gpu::LaunchStatus(ctx.ctx.device_id, op);
  });
}

absl::Status RunBoxSum(const OpContext& ctx, const char* op, const std::vector<DimMap>& maps,
                       const TensorView& dy, OpReq req, const TensorView& dx) {
  const int64_t n = dx.size();
  if (req == OpReq::kNull || n == 0) return absl::OkStatus();
  const Shape& out = dy.shape;
  const std::vector<int64_t> ost = Strides(out);
  Box b;
  b.in_ndim = dx.shape.ndim();
  for (int i = 0; i < b.in_ndim; ++i) {
    b.in_dims[i] = dx.shape[i];
    b.coef[i] = 0;
  }
  for (int d = 0; d < out.ndim(); ++d) {
    if (maps[d].src >= 0) b.coef[maps[d].src] = maps[d].mul * ost[d];
    if (maps[d].count == 1) continue;
    b.step[b.loops] = maps[d].span * ost[d];
    b.count[b.loops] = maps[d].count;
    ++b.loops;
  }
  return DispatchNumeric(op, dx.dtype, [&](auto tag) {
    using T = decltype(tag);
    BoxSumKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
        dy.as<T>(), dx.as<T>(), n, Req(req), b);
    return gpu::LaunchStatus(ctx.ctx.device_id, op);
  });
}

// The dim maps of tile (input `in`, output `out`): output dim d = t * in[a] + c_a.
std::vector<DimMap> TileMaps(const OpParams& op, const Shape& in, const Shape& out) {
  const auto& reps = ParamsAs<TileParams>(op).reps;
  const int nd = out.ndim(), off = nd - in.ndim(), roff = nd - static_cast<int>(reps.size());
  std::vector<DimMap> maps(nd);
  for (int d = 0; d < nd; ++d) {
    const int a = d - off, r = d - roff;
    DimMap& m = maps[d];
    m.count = r >= 0 ? reps[r] : 1;
    if (a >= 0) {
      m.src = a;
      m.mod = in[a];
      m.span = in[a];
    }
  }
  return maps;
}

// repeat along `axis` (output dim axis = c_axis * repeats + t); the other dims copy.
std::vector<DimMap> RepeatAxisMaps(int64_t repeats, int axis, const Shape& in) {
  std::vector<DimMap> maps(in.ndim());
  for (int d = 0; d < in.ndim(); ++d) {
    maps[d].src = d;
    maps[d].mod = in[d];
    if (d == axis) {
      maps[d].div = repeats;
      maps[d].mul = repeats;
      maps[d].count = repeats;
    }
  }
  return maps;
}

// broadcast_axis: the input's size-1 dims read coordinate 0 for every output coordinate.
std::vector<DimMap> BroadcastMaps(const Shape& in, const Shape& out) {
  std::vector<DimMap> maps(in.ndim());
  for (int d = 0; d < in.ndim(); ++d) {
    maps[d].src = d;
    maps[d].mod = in[d];
    if (in[d] == 1) maps[d].count = out[d];
  }
  return maps;
}

// The maps of a repeat call with data shaped `in` and the input shape they index (repeat
// without an axis sees the data as 1-D); `empty` when repeats is 0 (an empty output).
struct RepeatGeom {
  std::vector<DimMap> maps;
  Shape in;
  bool empty = false;
};

absl::StatusOr<RepeatGeom> RepeatMaps(const OpParams& op, const Shape& in) {
  const auto& p = ParamsAs<RepeatParams>(op);
  RepeatGeom g;
  if (p.repeats == 0) {
    g.empty = true;
    return g;
  }
  if (!p.axis) {
    g.in = Shape{in.Size()};
    g.maps = RepeatAxisMaps(p.repeats, 0, g.in);
    return g;
  }
  MXGRID_ASSIGN_OR_RETURN(int axis, NormalizeAxis("repeat", *p.axis, in.ndim()));
  g.in = in;
  g.maps = RepeatAxisMaps(p.repeats, axis, in);
  return g;
}

// A view of `t` under another shape (same elements).
TensorView Reshaped(const TensorView& t, const Shape& s) {
  TensorView v = t;
  v.shape = s;
  return v;
}

absl::Status SetTile(Registry* registry) {
  return Attach(
      registry, "tile",
      [](const OpContext& ctx, const OpParams& p, absl::Span<const TensorView> in,
         absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
        return RunModGather(ctx, "tile", TileMaps(p, in[0].shape, out[0].shape), out[0].shape,
                            in[0], reqs[0], out[0]);
      },
      [](const OpContext& ctx, const OpParams& p, const BackwardArgs& a) {
        return RunBoxSum(ctx, "tile", TileMaps(p, a.in_grads[0].shape, a.out_grads[0].shape),
                         a.out_grads[0], a.reqs[0], a.in_grads[0]);
      });
}

absl::Status SetRepeat(Registry* registry) {
  return Attach(
      registry, "repeat",
      [](const OpContext& ctx, const OpParams& p, absl::Span<const TensorView> in,
         absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) -> absl::Status {
        MXGRID_ASSIGN_OR_RETURN(RepeatGeom g, RepeatMaps(p, in[0].shape));
        if (g.empty) return absl::OkStatus();
        const Shape os = g.in.ndim() == 1 ? Shape{out[0].size()} : out[0].shape;
        return RunModGather(ctx, "repeat", g.maps, os, Reshaped(in[0], g.in), reqs[0],
                            Reshaped(out[0], os));
      },
      [](const OpContext& ctx, const OpParams& p, const BackwardArgs& a) -> absl::Status {
        const TensorView &dy = a.out_grads[0], &dx = a.in_grads[0];
        MXGRID_ASSIGN_OR_RETURN(RepeatGeom g, RepeatMaps(p, dx.shape));
        if (g.empty) return ZeroWithReq(ctx, "repeat", dx, a.reqs[0]);
        const Shape os = g.in.ndim() == 1 ? Shape{dy.size()} : dy.shape;
        return RunBoxSum(ctx, "repeat", g.maps, Reshaped(dy, os), a.reqs[0],
                         Reshaped(dx, g.in));
      });
}

absl::Status SetBroadcastAxis(Registry* registry) {
  return Attach(
      registry, "broadcast_axis",
      [](const OpContext& ctx, const OpParams&, absl::Span<const TensorView> in,
         absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
        return RunModGather(ctx, "broadcast_axis", BroadcastMaps(in[0].shape, out[0].shape),
                            out[0].shape, in[0], reqs[0], out[0]);
      },
      [](const OpContext& ctx, const OpParams&, const BackwardArgs& a) {
        return RunBoxSum(ctx, "broadcast_axis",
                         BroadcastMaps(a.in_grads[0].shape, a.out_grads[0].shape),
                         a.out_grads[0], a.reqs[0], a.in_grads[0]);
      });
}

// ---- stack, _split_v2: block copies (tensor_cuda_util.cuh's CopyBlock). ----

absl::Status SetStack(Registry* registry) {
  return Attach(
      registry, "stack",
      [](const OpContext& ctx, const OpParams& p, absl::Span<const TensorView> in,
         absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) -> absl::Status {
        const Shape& os = out[0].shape;
        MXGRID_ASSIGN_OR_RETURN(int ax,
                                NormalizeAxis("stack", ParamsAs<StackParams>(p).axis, os.ndim()));
        const int64_t outer = os.ProdRange(0, ax), inner = os.ProdRange(ax + 1, os.ndim());
        for (size_t j = 0; j < in.size(); ++j) {
          MXGRID_RETURN_IF_ERROR(CopyBlock(ctx, "stack", in[j], 1, 0, out[0], os[ax],
                                           static_cast<int64_t>(j), outer,
                                           1, inner, reqs[0]));
        }
        return absl::OkStatus();
      },
      [](const OpContext& ctx, const OpParams& p, const BackwardArgs& a) -> absl::Status {
        const Shape& os = a.out_grads[0].shape;
        MXGRID_ASSIGN_OR_RETURN(int ax,
                                NormalizeAxis("stack", ParamsAs<StackParams>(p).axis, os.ndim()));
        const int64_t outer = os.ProdRange(0, ax), inner = os.ProdRange(ax + 1, os.ndim());
        for (size_t j = 0; j < a.in_grads.size(); ++j) {
          MXGRID_RETURN_IF_ERROR(CopyBlock(ctx, "stack", a.out_grads[0], os[ax],
                                           static_cast<int64_t>(j),
                                           a.in_grads[j], 1, 0, outer, 1, inner, a.reqs[j]));
        }
        return absl::OkStatus();
      });
}

// The split axis, its parts, and the block geometry (outer, inner) of data shaped `s`.
struct SplitGeom {
  int ax = 0;
  std::vector<std::pair<int64_t, int64_t>> parts;
  int64_t outer = 1, inner = 1;
};

absl::StatusOr<SplitGeom> SplitV2Geom(const OpParams& op, const Shape& s) {
  const auto& p = ParamsAs<SplitV2Params>(op);
  SplitGeom g;
  MXGRID_ASSIGN_OR_RETURN(g.ax, NormalizeAxis("_split_v2", p.axis, s.ndim()));
  MXGRID_ASSIGN_OR_RETURN(g.parts, SplitV2Parts(p, s[g.ax]));
  g.outer = s.ProdRange(0, g.ax);
  g.inner = s.ProdRange(g.ax + 1, s.ndim());
  return g;
}

// Backward: zero the data gradient (parts need not cover the axis), then add each part.
absl::Status SetSplitV2(Registry* registry) {
  return Attach(
      registry, "_split_v2",
      [](const OpContext& ctx, const OpParams& p, absl::Span<const TensorView> in,
         absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) -> absl::Status {
        const Shape& s = in[0].shape;
        MXGRID_ASSIGN_OR_RETURN(SplitGeom g, SplitV2Geom(p, s));
        for (size_t i = 0; i < g.parts.size(); ++i) {
          const auto [b, e] = g.parts[i];
          MXGRID_RETURN_IF_ERROR(CopyBlock(ctx, "_split_v2", in[0], s[g.ax], b, out[i], e - b,
                                           0, g.outer, e - b, g.inner, reqs[i]));
        }
        return absl::OkStatus();
      },
      [](const OpContext& ctx, const OpParams& p, const BackwardArgs& a) -> absl::Status {
        if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
        const TensorView& dx = a.in_grads[0];
        const Shape& s = dx.shape;
        MXGRID_ASSIGN_OR_RETURN(SplitGeom g, SplitV2Geom(p, s));
        MXGRID_RETURN_IF_ERROR(ZeroWithReq(ctx, "_split_v2", dx, a.reqs[0]));
        for (size_t i = 0; i < g.parts.size(); ++i) {
          const auto [b, e] = g.parts[i];
          MXGRID_RETURN_IF_ERROR(CopyBlock(ctx, "_split_v2", a.out_grads[i], e - b, 0, dx,
                                           s[g.ax], b, g.outer, e - b, g.inner, OpReq::kAddTo));
        }
        return absl::OkStatus();
      });
}

// ---- depth_to_space, space_to_depth (depth_space.cc's SpaceToDepthIndex per element). ----

// For element k of the space-side array (N, C, H*b, W*b): dst[k] (req) src[depth index]
// when `gather`, else dst[depth index] (req) src[k].
template <typename T>
__global__ void DepthSpaceKernel(const T* src, T* dst, int64_t n, int req, int64_t b,
                                 int64_t c, int64_t hb, int64_t wb, bool gather) {
  const int64_t h = hb / b, w = wb / b;
  MXGRID_CUDA_KERNEL_LOOP(k, n) {
    const int64_t x = k % wb, y = (k / wb) % hb, ic = (k / (wb * hb)) % c,
                  in = k / (wb * hb * c);
    const int64_t depth_c = ((y % b) * b + x % b) * c + ic;
    const int64_t idx = ((in * c * b * b + depth_c) * h + y / b) * w + x / b;
    if (gather) {
      Put(req, dst, k, src[idx]);
    } else {
      Put(req, dst, idx, src[k]);
    }
  }
}

absl::Status RunDepthSpace(const OpContext& ctx, const char* op, int64_t b, const Shape& space,
                           const TensorView& src, bool gather, OpReq req,
                           const TensorView& dst) {
  const int64_t n = space.Size();
  if (req == OpReq::kNull || n == 0) return absl::OkStatus();
  return DispatchNumeric(op, src.dtype, [&](auto tag) {
    using T = decltype(tag);
    DepthSpaceKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
        src.as<T>(), dst.as<T>(), n, Req(req), b, space[1], space[2], space[3], gather);
    return gpu::LaunchStatus(ctx.ctx.device_id, op);
  });
}

// As depth_space.cc: the space side is depth_to_space's output and space_to_depth's input.
absl::Status SetDepthSpace(Registry* registry, const char* name, bool to_space) {
  const std::string op = name;
  return Attach(
      registry, name,
      [op, to_space](const OpContext& ctx, const OpParams& p, absl::Span<const TensorView> in,
                     absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
        const int64_t b = ParamsAs<BlockParams>(p).block_size;
        return RunDepthSpace(ctx, op.c_str(), b, to_space ? out[0].shape : in[0].shape, in[0],
                             to_space, reqs[0], out[0]);
      },
      [op, to_space](const OpContext& ctx, const OpParams& p, const BackwardArgs& a) {
        const int64_t b = ParamsAs<BlockParams>(p).block_size;
        return RunDepthSpace(ctx, op.c_str(), b,
                             to_space ? a.out_grads[0].shape : a.in_grads[0].shape,
                             a.out_grads[0], !to_space, a.reqs[0], a.in_grads[0]);
      });
}

}  // namespace

absl::Status RegisterShapeCuda(Registry* registry) {
  MXGRID_RETURN_IF_ERROR(SetSwapAxis(registry));
  MXGRID_RETURN_IF_ERROR(SetReverse(registry));
  MXGRID_RETURN_IF_ERROR(SetSliceLike(registry));
  MXGRID_RETURN_IF_ERROR(SetDiag(registry));
  MXGRID_RETURN_IF_ERROR(SetTile(registry));
  MXGRID_RETURN_IF_ERROR(SetRepeat(registry));
  MXGRID_RETURN_IF_ERROR(SetBroadcastAxis(registry));
  MXGRID_RETURN_IF_ERROR(SetStack(registry));
  MXGRID_RETURN_IF_ERROR(SetSplitV2(registry));
  MXGRID_RETURN_IF_ERROR(SetDepthSpace(registry, "depth_to_space", true));
  return SetDepthSpace(registry, "space_to_depth", false);
}

}  // namespace mxgrid::ops::tensor_cuda
