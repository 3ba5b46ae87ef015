// float32 convolution through oneDNN primitives on plain NCHW / (G)OIHW memory.
//
// Each call builds its primitive descriptors and runs them on a stream of its own; the CPU
// engine is thread_local. Nothing is cached across calls.
#include <exception>

#include "absl/strings/str_cat.h"
#include "libs/ops/conv/conv_internal.h"
#include "libs/ops/dnnl_util.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace mxgrid::ops::conv_internal {

namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using DT = memory::data_type;

using dnnl_util::CpuEngine;
using dnnl_util::Mem;

// The memory descriptors and geometry of one convolution.
struct Descs {
  explicit Descs(const ConvGeom& g)
      : src({g.n, g.c, g.h, g.w}, DT::f32, Tag::nchw),
        weights(g.groups > 1
                    ? memory::desc({g.groups, g.f / g.groups, g.c / g.groups, g.kh, g.kw},
                                   DT::f32, Tag::goihw)
                    : memory::desc({g.f, g.c, g.kh, g.kw}, DT::f32, Tag::oihw)),
        bias({g.f}, DT::f32, Tag::x),
        dst({g.n, g.f, g.oh, g.ow}, DT::f32, Tag::nchw),
        strides{g.sh, g.sw},
        dilates{g.dh - 1, g.dw - 1},
        pad{g.ph, g.pw} {}
  memory::desc src, weights, bias, dst;
  memory::dims strides, dilates, pad;
};

dnnl::convolution_forward::primitive_desc ForwardPd(const Descs& d, bool with_bias) {
  auto desc = with_bias ? dnnl::convolution_forward::desc(
                              dnnl::prop_kind::forward_training,
                              dnnl::algorithm::convolution_direct, d.src, d.weights, d.bias,
                              d.dst, d.strides, d.dilates, d.pad, d.pad)
                        : dnnl::convolution_forward::desc(
                              dnnl::prop_kind::forward_training,
                              dnnl::algorithm::convolution_direct, d.src, d.weights, d.dst,
                              d.strides, d.dilates, d.pad, d.pad);
  return dnnl::convolution_forward::primitive_desc(desc, CpuEngine());
}

}  // namespace

absl::Status DnnlConvForward(const ConvGeom& g, const float* x, const float* w,
                             const float* bias, float* y) {
  try {
    Descs d(g);
    auto pd = ForwardPd(d, bias != nullptr);
    dnnl::stream stream(CpuEngine());
    std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, Mem(d.src, x)},
                                            {DNNL_ARG_WEIGHTS, Mem(d.weights, w)},
                                            {DNNL_ARG_DST, Mem(d.dst, y)}};
    if (bias != nullptr) args.emplace(DNNL_ARG_BIAS, Mem(d.bias, bias));
    dnnl::convolution_forward(pd).execute(stream, args);
    stream.wait();
  } catch (const std::exception& e) {
    return dnnl_util::Error("Convolution", "forward", e);
  }
  return absl::OkStatus();
}

absl::Status DnnlConvBackwardData(const ConvGeom& g, const float* dy, const float* w,
                                  float* dx) {
  try {
    Descs d(g);
    auto fwd = ForwardPd(d, false);
    dnnl::convolution_backward_data::desc desc(dnnl::algorithm::convolution_direct, d.src,
                                               d.weights, d.dst, d.strides, d.dilates, d.pad,
                                               d.pad);
    dnnl::convolution_backward_data::primitive_desc pd(desc, CpuEngine(), fwd);
    dnnl::stream stream(CpuEngine());
    dnnl::convolution_backward_data(pd).execute(
        stream, {{DNNL_ARG_DIFF_DST, Mem(d.dst, dy)},
                 {DNNL_ARG_WEIGHTS, Mem(d.weights, w)},
                 {DNNL_ARG_DIFF_SRC, Mem(d.src, dx)}});
    stream.wait();
  } catch (const std::exception& e) {
    return dnnl_util::Error("Convolution", "backward data", e);
  }
  return absl::OkStatus();
}

absl::Status DnnlConvBackwardWeights(const ConvGeom& g, const float* x, const float* dy,
                                     float* dw, float* dbias) {
  try {
    Descs d(g);
    const bool with_bias = dbias != nullptr;
    auto fwd = ForwardPd(d, with_bias);
    auto desc = with_bias ? dnnl::convolution_backward_weights::desc(
                                dnnl::algorithm::convolution_direct, d.src, d.weights, d.bias,
                                d.dst, d.strides, d.dilates, d.pad, d.pad)
                          : dnnl::convolution_backward_weights::desc(
                                dnnl::algorithm::convolution_direct, d.src, d.weights, d.dst,
                                d.strides, d.dilates, d.pad, d.pad);
    dnnl::convolution_backward_weights::primitive_desc pd(desc, CpuEngine(), fwd);
    dnnl::stream stream(CpuEngine());
    std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, Mem(d.src, x)},
                                            {DNNL_ARG_DIFF_DST, Mem(d.dst, dy)},
                                            {DNNL_ARG_DIFF_WEIGHTS, Mem(d.weights, dw)}};
    if (with_bias) args.emplace(DNNL_ARG_DIFF_BIAS, Mem(d.bias, dbias));
    dnnl::convolution_backward_weights(pd).execute(stream, args);
    stream.wait();
  } catch (const std::exception& e) {
    return dnnl_util::Error("Convolution", "backward weights", e);
  }
  return absl::OkStatus();
}

}  // namespace mxgrid::ops::conv_internal
