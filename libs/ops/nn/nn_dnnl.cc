// oneDNN eltwise (forward, backward) and softmax_v2 (forward) primitives on plain memory
// (see nn_dnnl.h).
#include "libs/ops/nn/nn_dnnl.h"

#include <exception>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/ops/dnnl_util.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace mxgrid::ops::nn {

namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using DT = memory::data_type;

using dnnl_util::CpuEngine;
using dnnl_util::Mem;

// The forward algorithm; the backward ones use the output (MXNet's gradients do too).
dnnl::algorithm Algorithm(DnnlEltwise f, bool for_backward) {
  switch (f) {
    case DnnlEltwise::kRelu:
      return for_backward ? dnnl::algorithm::eltwise_relu_use_dst_for_bwd
                          : dnnl::algorithm::eltwise_relu;
    case DnnlEltwise::kLogistic:
      return for_backward ? dnnl::algorithm::eltwise_logistic_use_dst_for_bwd
                          : dnnl::algorithm::eltwise_logistic;
    case DnnlEltwise::kTanh:
      return for_backward ? dnnl::algorithm::eltwise_tanh_use_dst_for_bwd
                          : dnnl::algorithm::eltwise_tanh;
    case DnnlEltwise::kSoftRelu:
      break;
  }
  return dnnl::algorithm::eltwise_soft_relu;
}

}  // namespace

absl::Status DnnlEltwiseForward(DnnlEltwise f, const float* x, int64_t n, float* y) {
  try {
    memory::desc md({n}, DT::f32, Tag::x);
    dnnl::eltwise_forward::desc desc(dnnl::prop_kind::forward_inference, Algorithm(f, false),
                                     md, 0.f, 0.f);
    dnnl::eltwise_forward::primitive_desc pd(desc, CpuEngine());
    dnnl::stream stream(CpuEngine());
    dnnl::eltwise_forward(pd).execute(stream,
                                      {{DNNL_ARG_SRC, Mem(md, x)}, {DNNL_ARG_DST, Mem(md, y)}});
    stream.wait();
  } catch (const std::exception& e) {
    return dnnl_util::Error("Activation", "forward", e);
  }
  return absl::OkStatus();
}

absl::Status DnnlEltwiseBackward(DnnlEltwise f, const float* y, const float* dy, int64_t n,
                                 float* dx) {
  if (f == DnnlEltwise::kSoftRelu) {
    return absl::InvalidArgumentError("Activation backward: softrelu needs its input");
  }
  try {
    memory::desc md({n}, DT::f32, Tag::x);
    const dnnl::algorithm alg = Algorithm(f, true);
    dnnl::eltwise_forward::desc fwd_desc(dnnl::prop_kind::forward_training, alg, md, 0.f, 0.f);
    dnnl::eltwise_forward::primitive_desc fwd(fwd_desc, CpuEngine());
    dnnl::eltwise_backward::desc desc(alg, md, md, 0.f, 0.f);
    dnnl::eltwise_backward::primitive_desc pd(desc, CpuEngine(), fwd);
    dnnl::stream stream(CpuEngine());
    dnnl::eltwise_backward(pd).execute(stream, {{DNNL_ARG_DST, Mem(md, y)},
                                                {DNNL_ARG_DIFF_DST, Mem(md, dy)},
                                                {DNNL_ARG_DIFF_SRC, Mem(md, dx)}});
    stream.wait();
  } catch (const std::exception& e) {
    return dnnl_util::Error("Activation", "backward", e);
  }
  return absl::OkStatus();
}

absl::Status DnnlSoftmaxForward(const DnnlSoftmaxShape& s, const float* x, float* y) {
  try {
    memory::desc md({s.outer, s.n, s.inner}, DT::f32, Tag::abc);
    dnnl::softmax_v2_forward::desc desc(
        dnnl::prop_kind::forward_inference,
        s.log ? dnnl::algorithm::softmax_log : dnnl::algorithm::softmax_accurate, md, md, 1);
    dnnl::softmax_v2_forward::primitive_desc pd(desc, CpuEngine());
    dnnl::stream stream(CpuEngine());
    dnnl::softmax_v2_forward(pd).execute(stream,
                                         {{DNNL_ARG_SRC, Mem(md, x)}, {DNNL_ARG_DST, Mem(md, y)}});
    stream.wait();
  } catch (const std::exception& e) {
    return dnnl_util::Error("softmax", "forward", e);
  }
  return absl::OkStatus();
}

absl::Status ComputeWithReq(OpReq req, float* dst, int64_t n,
                            absl::FunctionRef<absl::Status(float*)> compute) {
  if (req == OpReq::kNull) return absl::OkStatus();
  if (req != OpReq::kAddTo) return compute(dst);
  std::vector<float> tmp(n);
  absl::Status s = compute(tmp.data());
  if (!s.ok()) return s;
  for (int64_t i = 0; i < n; ++i) dst[i] += tmp[i];
  return absl::OkStatus();
}

}  // namespace mxgrid::ops::nn
