// float32 batch normalization through oneDNN primitives, the data viewed as plain NCHW
// (outer, c, 1, inner), so any channel axis maps onto oneDNN's axis 1.
//
// Gamma and beta are oneDNN's separate scale and shift. Each call builds its primitive
// descriptors and runs them on a stream of its own; the CPU engine is thread_local. Nothing
// is cached across calls.
#include <exception>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "libs/ops/conv/conv_internal.h"
#include "libs/ops/dnnl_util.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace mxgrid::ops::conv_internal {

namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using DT = memory::data_type;
using Flags = dnnl::normalization_flags;

using dnnl_util::CpuEngine;
using dnnl_util::Mem;

struct Descs {
  explicit Descs(const DnnlBNGeom& g)
      : data({g.outer, g.c, 1, g.inner}, DT::f32, Tag::nchw),
        channel({g.c}, DT::f32, Tag::x),
        flags(Flags::use_scale | Flags::use_shift |
              (g.batch_stats ? Flags::none : Flags::use_global_stats)),
        eps(static_cast<float>(g.eps)) {}
  memory::desc data, channel;
  Flags flags;
  float eps;
};

dnnl::batch_normalization_forward::primitive_desc ForwardPd(const Descs& d, bool train) {
  dnnl::batch_normalization_forward::desc desc(
      train ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference, d.data,
      d.eps, d.flags);
  return dnnl::batch_normalization_forward::primitive_desc(desc, CpuEngine());
}

}  // namespace

absl::Status DnnlBNForward(const DnnlBNGeom& g, const float* x, const float* gamma,
                           const float* beta, float* mean, float* var, float* y) {
  try {
    Descs d(g);
    auto pd = ForwardPd(d, g.batch_stats);
    dnnl::stream stream(CpuEngine());
    dnnl::batch_normalization_forward(pd).execute(
        stream, {{DNNL_ARG_SRC, Mem(d.data, x)},
                 {DNNL_ARG_SCALE, Mem(d.channel, gamma)},
                 {DNNL_ARG_SHIFT, Mem(d.channel, beta)},
                 {DNNL_ARG_MEAN, Mem(d.channel, mean)},
                 {DNNL_ARG_VARIANCE, Mem(d.channel, var)},
                 {DNNL_ARG_DST, Mem(d.data, y)}});
    stream.wait();
  } catch (const std::exception& e) {
    return dnnl_util::Error("BatchNorm", "forward", e);
  }
  return absl::OkStatus();
}

absl::Status DnnlBNBackward(const DnnlBNGeom& g, const float* x, const float* dy,
                            const float* gamma, const float* beta, const float* mean,
                            const float* var, float* dx, float* dgamma, float* dbeta) {
  try {
    Descs d(g);
    auto fwd = ForwardPd(d, /*train=*/true);
    dnnl::batch_normalization_backward::desc desc(dnnl::prop_kind::backward, d.data, d.data,
                                                  d.eps, d.flags);
    dnnl::batch_normalization_backward::primitive_desc pd(desc, CpuEngine(), fwd);
    dnnl::stream stream(CpuEngine());
    dnnl::batch_normalization_backward(pd).execute(
        stream, {{DNNL_ARG_SRC, Mem(d.data, x)},
                 {DNNL_ARG_DIFF_DST, Mem(d.data, dy)},
                 {DNNL_ARG_SCALE, Mem(d.channel, gamma)},
                 // Not read, but oneDNN 2.6 refuses to run use_shift backward without it.
                 {DNNL_ARG_SHIFT, Mem(d.channel, beta)},
                 {DNNL_ARG_MEAN, Mem(d.channel, mean)},
                 {DNNL_ARG_VARIANCE, Mem(d.channel, var)},
                 {DNNL_ARG_DIFF_SRC, Mem(d.data, dx)},
                 {DNNL_ARG_DIFF_SCALE, Mem(d.channel, dgamma)},
                 {DNNL_ARG_DIFF_SHIFT, Mem(d.channel, dbeta)}});
    stream.wait();
  } catch (const std::exception& e) {
    return dnnl_util::Error("BatchNorm", "backward", e);
  }
  return absl::OkStatus();
}

}  // namespace mxgrid::ops::conv_internal
