// BatchNorm over any channel axis: float32 on oneDNN (batch_norm_dnnl.cc), float64 in loops.
//
// Training (is_train and !use_global_stats) normalizes with the batch mean and biased
// variance and updates the aux moving stats in place: m = m * momentum + batch * (1 -
// momentum), for the mean and the biased variance alike (as MXNet 1.9.1). Inference uses
// the moving stats. The hidden outputs are the mean and the inverse std 1/sqrt(var + eps)
// that were used. fix_gamma treats gamma as 1 and writes it a zero gradient.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"
#include "libs/ops/conv/bn_params.h"
#include "libs/ops/conv/conv_internal.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::conv_internal {

namespace {

constexpr char kOp[] = "BatchNorm";

absl::StatusOr<std::shared_ptr<const OpParams>> ParseBN(const AttrMap& attrs) {
  auto p = std::make_shared<BNParams>();
  ParamReader r(kOp, attrs);
  bool cudnn_off = false;
  MXGRID_RETURN_IF_ERROR(r.Float("eps", &p->eps, 1e-3));
  MXGRID_RETURN_IF_ERROR(r.Float("momentum", &p->momentum, 0.9));
  MXGRID_RETURN_IF_ERROR(r.Bool("fix_gamma", &p->fix_gamma, true));
  MXGRID_RETURN_IF_ERROR(r.Bool("use_global_stats", &p->use_global_stats, false));
  MXGRID_RETURN_IF_ERROR(r.Bool("output_mean_var", &p->output_mean_var, false));
  MXGRID_RETURN_IF_ERROR(r.Int("axis", &p->axis, 1));
  MXGRID_RETURN_IF_ERROR(r.Bool("cudnn_off", &cudnn_off, false));
  MXGRID_RETURN_IF_ERROR(r.Finish());
  return std::shared_ptr<const OpParams>(std::move(p));
}

absl::Status InferBNShape(const OpParams& params, std::vector<InferShape>* in,
                          std::vector<InferShape>* out) {
  const auto& p = ParamsAs<BNParams>(params);
  const InferShape& data = (*in)[0];
  if (!data) return absl::OkStatus();
  const int nd = data->ndim();
  const int64_t axis = p.axis < 0 ? p.axis + nd : p.axis;
  if (axis < 0 || axis >= nd) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, ": axis ", p.axis,
                                                   " is out of range for data ",
                                                   data->ToString()));
  }
  MXGRID_RETURN_IF_ERROR(MergeShape(kOp, "output", *data, &(*out)[0]));
  const int64_t c = (*data)[axis];
  if (c < 0) return absl::OkStatus();
  const char* names[] = {"gamma", "beta", "moving_mean", "moving_var"};
  for (int i = 1; i <= 4; ++i)
    MXGRID_RETURN_IF_ERROR(MergeShape(kOp, names[i - 1], Shape{c}, &(*in)[i]));
  MXGRID_RETURN_IF_ERROR(MergeShape(kOp, "mean", Shape{c}, &(*out)[1]));
  return MergeShape(kOp, "var", Shape{c}, &(*out)[2]);
}

// MXNet's BatchNormType: gamma, beta, the moving statistics and the mean/var outputs of
// float16 data are float32 (its accumulation type); otherwise every array has data's type.
absl::Status InferBNType(const OpParams&, std::vector<InferType>* in,
                         std::vector<InferType>* out) {
  InferType data = (*in)[0] ? (*in)[0] : (*out)[0];
  if (!data) return absl::OkStatus();
  const DType param = *data == DType::kFloat16 ? DType::kFloat32 : *data;
  const char* names[] = {"data", "gamma", "beta", "moving_mean", "moving_var"};
  for (size_t i = 0; i < in->size(); ++i) {
    const DType want = i == 0 ? *data : param;
    if ((*in)[i] && *(*in)[i] != want) {
      return absl::InvalidArgumentError(
          absl::StrCat(kOp, ": ", names[i], " is ", DTypeName(*(*in)[i]), ", expected ",
                       DTypeName(want), " for ", DTypeName(*data), " data"));
    }
    (*in)[i] = want;
  }
  for (size_t i = 0; i < out->size(); ++i) (*out)[i] = i == 0 ? *data : param;
  return absl::OkStatus();
}

// The mean and inverse std used for channel `ch`.
template <typename T>
void Stats(const BNParams& p, const BNGeom& g, bool batch, absl::Span<const TensorView> in,
           int64_t ch, double* mean, double* var) {
  if (!batch) {
    *mean = in[3].as<T>()[ch];
    *var = in[4].as<T>()[ch];
    return;
  }
  const T* x = in[0].as<T>();
  double sum = 0, sq = 0;
  g.ForChannel(ch, [&](int64_t i) { sum += x[i]; });
  *mean = sum / g.count();
  g.ForChannel(ch, [&](int64_t i) { sq += (x[i] - *mean) * (x[i] - *mean); });
  *var = sq / g.count();
}

template <typename T>
absl::Status ForwardT(const OpContext& ctx, const BNParams& p, absl::Span<const TensorView> in,
                      absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
  const BNGeom g = BNGeomOf(p, in[0].shape);
  const bool batch = ctx.is_train && !p.use_global_stats;
  const T* x = in[0].as<T>();
  std::vector<T> y(in[0].size()), mean(g.c), invstd(g.c);
  // Channels are independent: each iteration writes only its own elements.
#pragma omp parallel for schedule(static)
  for (int64_t ch = 0; ch < g.c; ++ch) {
    double m, v;
    Stats<T>(p, g, batch, in, ch, &m, &v);
    const double inv = 1.0 / std::sqrt(v + p.eps);
    const double gamma = p.fix_gamma ? 1.0 : in[1].as<T>()[ch];
    const double beta = in[2].as<T>()[ch];
    g.ForChannel(ch, [&](int64_t i) { y[i] = static_cast<T>(gamma * (x[i] - m) * inv + beta); });
    mean[ch] = static_cast<T>(m);
    invstd[ch] = static_cast<T>(inv);
    if (batch) {
      T* mm = in[3].as<T>();
      T* mv = in[4].as<T>();
      mm[ch] = static_cast<T>(mm[ch] * p.momentum + m * (1 - p.momentum));
      mv[ch] = static_cast<T>(mv[ch] * p.momentum + v * (1 - p.momentum));
    }
  }
  ApplyReq(reqs[0], y.data(), y.size(), out[0].as<T>());
  ApplyReq(reqs[1], mean.data(), g.c, out[1].as<T>());
  ApplyReq(reqs[2], invstd.data(), g.c, out[2].as<T>());
  return absl::OkStatus();
}

// Computes only the wanted gradients: without a data gradient, two sums per channel.
template <typename T>
absl::Status BackwardT(const OpContext& ctx, const BNParams& p, const BackwardArgs& a) {
  const BNGeom g = BNGeomOf(p, a.inputs[0].shape);
  const bool batch = ctx.is_train && !p.use_global_stats;
  const T* x = a.inputs[0].as<T>();
  const T* dy = a.out_grads[0].as<T>();
  const bool want_x = a.reqs[0] != OpReq::kNull;
  if (!want_x && a.reqs[1] == OpReq::kNull && a.reqs[2] == OpReq::kNull) {
    return absl::OkStatus();
  }
  std::vector<T> dx(want_x ? a.inputs[0].size() : 0), dgamma(g.c), dbeta(g.c);
#pragma omp parallel for schedule(static)
  for (int64_t ch = 0; ch < g.c; ++ch) {
    double m, v;
    Stats<T>(p, g, batch, a.inputs, ch, &m, &v);
    const double inv = 1.0 / std::sqrt(v + p.eps);
    const double gamma = p.fix_gamma ? 1.0 : a.inputs[1].as<T>()[ch];
    double sum_dy = 0, sum_dy_xhat = 0;
    g.ForChannel(ch, [&](int64_t i) {
      sum_dy += dy[i];
      sum_dy_xhat += dy[i] * (x[i] - m) * inv;
    });
    const double n = static_cast<double>(g.count());
    if (want_x) {
      g.ForChannel(ch, [&](int64_t i) {
        const double xhat = (x[i] - m) * inv;
        const double centered = batch ? dy[i] - sum_dy / n - xhat * sum_dy_xhat / n : dy[i];
        dx[i] = static_cast<T>(gamma * inv * centered);
      });
    }
    dgamma[ch] = static_cast<T>(p.fix_gamma ? 0.0 : sum_dy_xhat);
    dbeta[ch] = static_cast<T>(sum_dy);
  }
  ApplyReq(a.reqs[0], dx.data(), dx.size(), a.in_grads[0].as<T>());
  ApplyReq(a.reqs[1], dgamma.data(), g.c, a.in_grads[1].as<T>());
  ApplyReq(a.reqs[2], dbeta.data(), g.c, a.in_grads[2].as<T>());
  return absl::OkStatus();
}

// float32 on oneDNN (batch_norm_dnnl.cc); the data is viewed as (outer, c, 1, inner), so
// every axis and rank can take this path. Same contract as ForwardT / BackwardT.

// Rule (kAuto): oneDNN for every float32 BatchNorm. On the 2-core CI box, idle, fwd+bwd of
// 64x64x32x32 measured train 18-22 ms vs 37.5 ms for the loops, train with gamma 23 vs 37,
// use_global_stats 17-18 vs 24-25. (oneDNN 2.6's plain-NCHW kernel synchronizes its threads
// between phases, so it loses to the loops while other processes load every core.)
bool UseDnnl(DType dtype) {
  if (dtype != DType::kFloat32) return false;
  switch (CpuKernelChoice()) {
    case KernelChoice::kDnnl:
      return true;
    case KernelChoice::kLoops:
      return false;
    case KernelChoice::kAuto:
      break;
  }
  return true;
}

// Batch mean and biased variance per channel: each row of `inner` floats summed in SIMD,
// rows accumulated in double (two passes, as Stats).
void BatchStats(const BNGeom& g, const float* x, std::vector<float>* mean,
                std::vector<float>* var) {
#pragma omp parallel for schedule(static)
  for (int64_t ch = 0; ch < g.c; ++ch) {
    double sum = 0, sq = 0;
    for (int64_t o = 0; o < g.outer; ++o) {
      const float* row = x + (o * g.c + ch) * g.inner;
      float s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t i = 0; i < g.inner; ++i) s += row[i];
      sum += s;
    }
    const float m = static_cast<float>(sum / g.count());
    for (int64_t o = 0; o < g.outer; ++o) {
      const float* row = x + (o * g.c + ch) * g.inner;
      float s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t i = 0; i < g.inner; ++i) s += (row[i] - m) * (row[i] - m);
      sq += s;
    }
    (*mean)[ch] = m;
    (*var)[ch] = static_cast<float>(sq / g.count());
  }
}

// Where `req` is kWriteTo / kWriteInplace, `out`; otherwise `*tmp`, sized n.
float* Target(OpReq req, const TensorView& out, std::vector<float>* tmp) {
  if (req == OpReq::kWriteTo || req == OpReq::kWriteInplace) return out.as<float>();
  tmp->resize(static_cast<size_t>(out.size()));
  return tmp->data();
}

absl::Status ForwardDnnl(const OpContext& ctx, const BNParams& p,
                         absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                         absl::Span<const TensorView> out) {
  const BNGeom g = BNGeomOf(p, in[0].shape);
  const bool batch = ctx.is_train && !p.use_global_stats;
  const DnnlBNGeom dg{g.outer, g.c, g.inner, p.eps, batch};
  float* mm = in[3].as<float>();
  float* mv = in[4].as<float>();
  std::vector<float> mean(mm, mm + g.c), var(mv, mv + g.c), ones, y_tmp;
  const float* gamma = in[1].as<float>();
  if (p.fix_gamma) {
    ones.assign(g.c, 1.0f);
    gamma = ones.data();
  }
  float* y = Target(reqs[0], out[0], &y_tmp);
  MXGRID_RETURN_IF_ERROR(DnnlBNForward(dg, in[0].as<float>(), gamma, in[2].as<float>(),
                                       mean.data(), var.data(), y));
  if (reqs[0] == OpReq::kAddTo) ApplyReq(reqs[0], y, out[0].size(), out[0].as<float>());
  std::vector<float> invstd(g.c);
  for (int64_t ch = 0; ch < g.c; ++ch) {
    invstd[ch] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(var[ch]) + p.eps));
    if (batch) {
      mm[ch] = static_cast<float>(mm[ch] * p.momentum + mean[ch] * (1 - p.momentum));
      mv[ch] = static_cast<float>(mv[ch] * p.momentum + var[ch] * (1 - p.momentum));
    }
  }
  ApplyReq(reqs[1], mean.data(), g.c, out[1].as<float>());
  ApplyReq(reqs[2], invstd.data(), g.c, out[2].as<float>());
  return absl::OkStatus();
}

absl::Status BackwardDnnl(const OpContext& ctx, const BNParams& p, const BackwardArgs& a) {
  // oneDNN always computes the data gradient; without one, the loops' channel sums suffice.
  if (a.reqs[0] == OpReq::kNull) return BackwardT<float>(ctx, p, a);
  const BNGeom g = BNGeomOf(p, a.inputs[0].shape);
  const bool batch = ctx.is_train && !p.use_global_stats;
  const DnnlBNGeom dg{g.outer, g.c, g.inner, p.eps, batch};
  const float* x = a.inputs[0].as<float>();
  std::vector<float> mean, var, ones, dx_tmp, dgamma(g.c), dbeta(g.c);
  const float* m = a.inputs[3].as<float>();
  const float* v = a.inputs[4].as<float>();
  if (batch) {
    mean.resize(g.c);
    var.resize(g.c);
    BatchStats(g, x, &mean, &var);
    m = mean.data();
    v = var.data();
  }
  const float* gamma = a.inputs[1].as<float>();
  if (p.fix_gamma) {
    ones.assign(g.c, 1.0f);
    gamma = ones.data();
  }
  float* dx = Target(a.reqs[0], a.in_grads[0], &dx_tmp);
  MXGRID_RETURN_IF_ERROR(DnnlBNBackward(dg, x, a.out_grads[0].as<float>(), gamma,
                                        a.inputs[2].as<float>(), m, v, dx,
                                        dgamma.data(), dbeta.data()));
  if (a.reqs[0] == OpReq::kAddTo) {
    ApplyReq(a.reqs[0], dx, a.in_grads[0].size(), a.in_grads[0].as<float>());
  }
  if (p.fix_gamma) std::fill(dgamma.begin(), dgamma.end(), 0.0f);
  ApplyReq(a.reqs[1], dgamma.data(), g.c, a.in_grads[1].as<float>());
  ApplyReq(a.reqs[2], dbeta.data(), g.c, a.in_grads[2].as<float>());
  return absl::OkStatus();
}

}  // namespace

absl::Status RegisterBatchNorm(Registry* registry) {
  OpDef def;
  def.name = kOp;
  def.description = "Batch normalization with moving statistics (MXNet BatchNorm).";
  def.params = {
      {"eps", "double", "0.001", false, "Added to the variance."},
      {"momentum", "float", "0.9", false, "Moving-average momentum."},
      {"fix_gamma", "boolean", "True", false, "Treat gamma as 1 with zero gradient."},
      {"use_global_stats", "boolean", "False", false, "Use the moving stats in training."},
      {"output_mean_var", "boolean", "False", false, "Also output the mean and inverse std."},
      {"axis", "int", "1", false, "The channel axis."},
      {"cudnn_off", "boolean", "False", false, "Accepted and ignored."},
  };
  def.parse = ParseBN;
  def.input_names = [](const OpParams&) {
    return std::vector<std::string>{"data", "gamma", "beta", "moving_mean", "moving_var"};
  };
  def.output_names = [](const OpParams& params) {
    if (ParamsAs<BNParams>(params).output_mean_var) {
      return std::vector<std::string>{"output", "mean", "var"};
    }
    return std::vector<std::string>{"output"};
  };
  def.variable_outputs = true;  // output_mean_var
  def.num_outputs = [](const OpParams&) { return 3; };
  def.aux_indices = [](const OpParams&) { return std::vector<int>{3, 4}; };
  def.infer_shape = InferBNShape;
  def.infer_type = InferBNType;
  def.forward = [](const OpContext& ctx, const OpParams& params,
                   absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                   absl::Span<const TensorView> out) -> absl::Status {
    const auto& p = ParamsAs<BNParams>(params);
    if (UseDnnl(in[0].dtype)) return ForwardDnnl(ctx, p, in, reqs, out);
    return DispatchFloat(kOp, in[0].dtype, [&](auto tag) {
      return ForwardT<typename decltype(tag)::type>(ctx, p, in, reqs, out);
    });
  };
  def.backward = [](const OpContext& ctx, const OpParams& params,
                    const BackwardArgs& a) -> absl::Status {
    const auto& p = ParamsAs<BNParams>(params);
    if (UseDnnl(a.inputs[0].dtype)) return BackwardDnnl(ctx, p, a);
    return DispatchFloat(kOp, a.inputs[0].dtype, [&](auto tag) {
      return BackwardT<typename decltype(tag)::type>(ctx, p, a);
    });
  };
  def.backward_deps = BackwardDeps{/*inputs=*/true, /*outputs=*/false};
  return registry->Register(std::move(def));
}

}  // namespace mxgrid::ops::conv_internal
