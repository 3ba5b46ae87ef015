// float32 2-D and 3-D pooling through oneDNN primitives on plain NCHW / NCDHW memory.
//
// max is pooling_max (padding never wins); avg and sum are pooling_avg_include_padding, i.e.
// the window sum over kh * kw, which pooling.cc rescales to MXNet's divisors. max backward
// needs the forward's workspace, so it reruns the forward into a scratch output first.
// Each call builds its primitive descriptors and runs them on a stream of its own; the CPU
// engine is thread_local. Nothing is cached across calls.
#include <exception>
#include <unordered_map>
#include <vector>

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

struct Descs {
  explicit Descs(const DnnlPoolGeom& g)
      : alg(g.max ? dnnl::algorithm::pooling_max
                  : dnnl::algorithm::pooling_avg_include_padding) {
    memory::dims x{g.n, g.c}, y{g.n, g.c};
    if (g.three_d) {
      x.push_back(g.d);
      y.push_back(g.od);
      strides.push_back(g.sd);
      kernel.push_back(g.kd);
      pad_l.push_back(g.pf);
      pad_r.push_back(g.pbk);
    }
    x.insert(x.end(), {g.h, g.w});
    y.insert(y.end(), {g.oh, g.ow});
    strides.insert(strides.end(), {g.sh, g.sw});
    kernel.insert(kernel.end(), {g.kh, g.kw});
    pad_l.insert(pad_l.end(), {g.pt, g.pl});
    pad_r.insert(pad_r.end(), {g.pb, g.pr});
    const Tag tag = g.three_d ? Tag::ncdhw : Tag::nchw;
    src = memory::desc(x, DT::f32, tag);
    dst = memory::desc(y, DT::f32, tag);
  }
  memory::desc src, dst;
  memory::dims strides, kernel, pad_l, pad_r;
  dnnl::algorithm alg;
};

dnnl::pooling_forward::primitive_desc ForwardPd(const Descs& d) {
  dnnl::pooling_forward::desc desc(dnnl::prop_kind::forward_training, d.alg, d.src, d.dst,
                                   d.strides, d.kernel, d.pad_l, d.pad_r);
  return dnnl::pooling_forward::primitive_desc(desc, CpuEngine());
}

}  // namespace

absl::Status DnnlPoolForward(const DnnlPoolGeom& g, const float* x, float* y) {
  try {
    Descs d(g);
    // forward_inference: no max workspace is written (backward recomputes it).
    dnnl::pooling_forward::desc desc(dnnl::prop_kind::forward_inference, d.alg, d.src, d.dst,
                                     d.strides, d.kernel, d.pad_l, d.pad_r);
    dnnl::pooling_forward::primitive_desc pd(desc, CpuEngine());
    dnnl::stream stream(CpuEngine());
    dnnl::pooling_forward(pd).execute(
        stream, {{DNNL_ARG_SRC, Mem(d.src, x)}, {DNNL_ARG_DST, Mem(d.dst, y)}});
    stream.wait();
  } catch (const std::exception& e) {
    return dnnl_util::Error("Pooling", "forward", e);
  }
  return absl::OkStatus();
}

absl::Status DnnlPoolBackward(const DnnlPoolGeom& g, const float* x, const float* dy,
                              float* dx) {
  try {
    Descs d(g);
    auto fwd = ForwardPd(d);
    dnnl::pooling_backward::desc desc(d.alg, d.src, d.dst, d.strides, d.kernel, d.pad_l,
                                      d.pad_r);
    dnnl::pooling_backward::primitive_desc pd(desc, CpuEngine(), fwd);
    dnnl::stream stream(CpuEngine());
    std::unordered_map<int, memory> args = {{DNNL_ARG_DIFF_DST, Mem(d.dst, dy)},
                                            {DNNL_ARG_DIFF_SRC, Mem(d.src, dx)}};
    std::vector<float> y;
    if (g.max) {
      y.resize(static_cast<size_t>(g.n * g.c * g.od * g.oh * g.ow));
      memory ws(fwd.workspace_desc(), CpuEngine());
      dnnl::pooling_forward(fwd).execute(stream, {{DNNL_ARG_SRC, Mem(d.src, x)},
                                                  {DNNL_ARG_DST, Mem(d.dst, y.data())},
                                                  {DNNL_ARG_WORKSPACE, ws}});
      args.emplace(DNNL_ARG_WORKSPACE, ws);
    }
    dnnl::pooling_backward(pd).execute(stream, args);
    stream.wait();
  } catch (const std::exception& e) {
    return dnnl_util::Error("Pooling", "backward", e);
  }
  return absl::OkStatus();
}

}  // namespace mxgrid::ops::conv_internal
