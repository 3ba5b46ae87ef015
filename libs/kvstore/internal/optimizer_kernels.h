// The optimizer update kernels: MXNet 1.9.1's operator arithmetic (src/operator/
// optimizer_op-inl.h), element by element in the weight's dtype, in the same operation order
// so that float32 results match MXNet's to the last bits (private to libs/kvstore). The
// per-element rules are the *_update operators' (libs/ops/optimizer/update_rules.h). The
// dense kernels take element spans; RunRowsKernel applies the row_sparse (lazy) kernels to
// the given rows of a weight.
//
// Thread-safety: the kernels are pure functions of their arguments; callers run them inside
// an engine operation that writes the weight and state arrays.
#ifndef MXGRID_LIBS_KVSTORE_INTERNAL_OPTIMIZER_KERNELS_H_
#define MXGRID_LIBS_KVSTORE_INTERNAL_OPTIMIZER_KERNELS_H_

#include <cmath>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "libs/base/check.h"
#include "libs/kvstore/optimizer.h"
#include "libs/kvstore/part_rows.h"
#include "libs/ops/optimizer/update_rules.h"
#include "libs/tensor/ndarray.h"

namespace mxgrid::kvstore::internal {

using ops::rules::ClipBound;
using ops::rules::OpParam;

// UpdateRows: whether only the gradient's rows move (else the densified dense update).
inline bool RowsOnly(const OptimizerOptions& o) {
  switch (o.kind) {
    case OptimizerKind::kSGD:
    case OptimizerKind::kAdam: return o.lazy_update;
    case OptimizerKind::kAdaGrad: return true;  // MXNet's AdaGrad always runs the sparse op
    case OptimizerKind::kNAG:
    case OptimizerKind::kRMSProp: return false;  // no sparse kernel: storage fallback
  }
  return false;
}

// The MXNet operator a lazy row update runs.
inline const char* RowsKernelName(const OptimizerOptions& o) {
  switch (o.kind) {
    case OptimizerKind::kSGD: return o.momentum > 0 ? "sgd_mom_update" : "sgd_update";
    case OptimizerKind::kAdam: return "adam_update";
    case OptimizerKind::kAdaGrad: return "_sparse_adagrad_update";
    case OptimizerKind::kNAG:
    case OptimizerKind::kRMSProp: break;
  }
  return "optimizer_update";
}

// Hyperparameters of one update (per-index lr and wd already applied).
struct Step {
  double lr, wd, rescale_grad;
  double clip_gradient;  // operator convention: < 0 is no clipping
  std::optional<double> adagrad_clip;
  double momentum;  // > 0 only when the optimizer has momentum state
  double beta1, beta2, epsilon;
  double gamma1, gamma2, clip_weights;  // clip_weights < 0: none
  double eps;
};

// MXNet's _sparse_adagrad_update takes no weight decay: its storage type inference refuses
// a (float) wd != 0, after Python's AdaGrad applied wd_mult. InvalidArgument then.
inline absl::Status CheckRowsWeightDecay(const OptimizerOptions& o, const Step& step,
                                         int index) {
  if (o.kind != OptimizerKind::kAdaGrad || static_cast<float>(step.wd) == 0.0f) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "optimizer row update of index ", index, ": adagrad's row_sparse update does not "
      "support weight decay (wd * wd_mult = ", step.wd, "), as MXNet's "
      "_sparse_adagrad_update; create the optimizer with wd=0 or set this key's wd_mult to 0"));
}

// sgd: multi_sgd_update / multi_sgd_mom_update (MultiSGDKernel), as SGD's aggregated path.
template <typename T>
void SgdKernel(const Step& s, int64_t n, T* w, const T* g, T* mom) {
  const T lr = OpParam<T>(s.lr), wd = OpParam<T>(s.wd), rescale = OpParam<T>(s.rescale_grad);
  const T clip = OpParam<T>(s.clip_gradient), momentum = OpParam<T>(s.momentum);
  // One loop per case, branch-free inside, so that each vectorizes.
  auto run = [&](auto with_clip, auto with_mom) {
    for (int64_t i = 0; i < n; ++i) {
      const T wi = w[i];
      const T gi = g[i];
      T m = T(0);
      if constexpr (decltype(with_mom)::value) m = mom[i];
      if constexpr (decltype(with_clip)::value) {
        m = momentum * m - lr * wd * wi - lr * ClipBound(rescale * gi, clip);
      } else {
        m = momentum * m - lr * wd * wi - lr * rescale * gi;
      }
      if constexpr (decltype(with_mom)::value) mom[i] = m;
      w[i] = wi + m;
    }
  };
  using Yes = std::true_type;
  using No = std::false_type;
  if (clip >= T(0)) {
    mom != nullptr ? run(Yes(), Yes()) : run(Yes(), No());
  } else {
    mom != nullptr ? run(No(), Yes()) : run(No(), No());
  }
}

// nag: nag_mom_update (NAGMomKernel), or sgd_update (SGDKernel) without momentum.
template <typename T>
void NagKernel(const Step& s, int64_t n, T* w, const T* g, T* mom) {
  const T lr = OpParam<T>(s.lr), wd = OpParam<T>(s.wd), rescale = OpParam<T>(s.rescale_grad);
  const T clip = OpParam<T>(s.clip_gradient), momentum = OpParam<T>(s.momentum);
  for (int64_t i = 0; i < n; ++i) {
    if (mom == nullptr) {
      w[i] = ops::rules::SgdStep<T>(w[i], g[i], lr, wd, rescale, clip);
      continue;
    }
    T m = mom[i];
    const T updated = ops::rules::NagMomStep<T>(w[i], g[i], &m, momentum, lr, wd, rescale, clip);
    w[i] = updated;
    // MXNet runs the kernel in place (out=weight), so the momentum sees the updated weight.
    ops::rules::NagMomFinish<T>(updated, g[i], &m, lr, wd, rescale, clip);
    mom[i] = m;
  }
}

// adam: adam_update (AdamUpdateKernel); s.lr already carries the bias correction.
template <typename T>
void AdamKernel(const Step& s, int64_t n, T* w, const T* g, T* mean, T* var) {
  const T lr = OpParam<T>(s.lr), wd = OpParam<T>(s.wd), rescale = OpParam<T>(s.rescale_grad);
  const T clip = OpParam<T>(s.clip_gradient), beta1 = OpParam<T>(s.beta1);
  const T beta2 = OpParam<T>(s.beta2), epsilon = OpParam<T>(s.epsilon);
  for (int64_t i = 0; i < n; ++i) {
    w[i] = ops::rules::AdamStep<T>(w[i], g[i], &mean[i], &var[i], lr, wd, rescale, clip, beta1,
                                   beta2, epsilon);
  }
}

// rmsprop: rmsprop_update (RMSPropUpdateKernel) or, centered, rmspropalex_update
// (RMSPropAlexUpdateKernel; state_g and delta non-null).
template <typename T>
void RmsPropKernel(const Step& s, int64_t n, T* w, const T* g, T* state_n, T* state_g,
                   T* delta) {
  const T lr = OpParam<T>(s.lr), wd = OpParam<T>(s.wd), rescale = OpParam<T>(s.rescale_grad);
  const T clip = OpParam<T>(s.clip_gradient), gamma1 = OpParam<T>(s.gamma1);
  const T gamma2 = OpParam<T>(s.gamma2), epsilon = OpParam<T>(s.epsilon);
  const T clip_weights = OpParam<T>(s.clip_weights);
  for (int64_t i = 0; i < n; ++i) {
    if (delta == nullptr) {
      w[i] = ops::rules::RmsPropStep<T>(w[i], g[i], &state_n[i], lr, wd, rescale, clip, gamma1,
                                        epsilon, clip_weights);
    } else {
      w[i] = ops::rules::RmsPropAlexStep<T>(w[i], g[i], &state_n[i], &state_g[i], &delta[i], lr,
                                            wd, rescale, clip, gamma1, gamma2, epsilon,
                                            clip_weights);
    }
  }
}

// adagrad: the Python dense update, one NDArray operator after another (scalars are the
// operators' double scalars, the clip bounds clip's float a_min/a_max):
//   grad = clip(grad * rescale_grad, -c, c); history += square(grad);
//   weight += (grad / sqrt(history + eps) + weight * wd) * -lr
template <typename T>
void AdaGradKernel(const Step& s, int64_t n, T* w, const T* g, T* history) {
  const T rescale = static_cast<T>(s.rescale_grad), eps = static_cast<T>(s.eps);
  const T wd = static_cast<T>(s.wd), neg_lr = static_cast<T>(-s.lr);
  const bool clip = s.adagrad_clip.has_value();
  const T lo = clip ? OpParam<T>(-*s.adagrad_clip) : T(0);
  const T hi = clip ? OpParam<T>(*s.adagrad_clip) : T(0);
  for (int64_t i = 0; i < n; ++i) {
    T gi = g[i] * rescale;
    if (clip) gi = gi > hi ? hi : (gi < lo ? lo : gi);  // MXNet's clip operator
    history[i] = history[i] + gi * gi;
    const T div = gi / std::sqrt(history[i] + eps);
    w[i] = w[i] + (div + w[i] * wd) * neg_lr;
  }
}

// Runs `kind`'s kernel over the arrays' T elements; `state` holds the index's state arrays
// (NumStateArrays of them). REQUIRES: inside an engine operation writing weight and state.
template <typename T>
void RunKernel(OptimizerKind kind, const Step& s, const tensor::NDArray& weight,
               const tensor::NDArray& grad, const std::vector<tensor::NDArray>& state) {
  const int64_t n = weight.size();
  T* w = static_cast<T*>(weight.data());
  const T* g = static_cast<const T*>(grad.data());
  auto st = [&](size_t i) {
    return i < state.size() ? static_cast<T*>(state[i].data()) : nullptr;
  };
  switch (kind) {
    case OptimizerKind::kSGD: return SgdKernel<T>(s, n, w, g, st(0));
    case OptimizerKind::kNAG: return NagKernel<T>(s, n, w, g, st(0));
    case OptimizerKind::kAdam: return AdamKernel<T>(s, n, w, g, st(0), st(1));
    case OptimizerKind::kRMSProp: return RmsPropKernel<T>(s, n, w, g, st(0), st(1), st(2));
    case OptimizerKind::kAdaGrad: return AdaGradKernel<T>(s, n, w, g, st(0));
  }
}

// ---- row_sparse gradients, lazy update: one row of the weight at a time ----

// sgd_update's row_sparse kernel (SGDDnsRspKernel, lazy_update): sgd_update's rule.
template <typename T>
void SgdRowKernel(const Step& s, int64_t n, T* w, const T* g) {
  const T lr = OpParam<T>(s.lr), wd = OpParam<T>(s.wd), rescale = OpParam<T>(s.rescale_grad);
  const T clip = OpParam<T>(s.clip_gradient);
  for (int64_t i = 0; i < n; ++i) w[i] = ops::rules::SgdStep<T>(w[i], g[i], lr, wd, rescale, clip);
}

// adam_update's CPU row_sparse kernel (AdamDnsRspDnsKernel<cpu>, lazy_update): adam_update's
// rule, except that with clipping the variance adds (1 - beta2) * (c * c) where the dense
// kernel computes ((1 - beta2) * c) * c.
template <typename T>
void AdamRowKernel(const Step& s, int64_t n, T* w, const T* g, T* mean, T* var) {
  const T lr = OpParam<T>(s.lr), wd = OpParam<T>(s.wd), rescale = OpParam<T>(s.rescale_grad);
  const T clip = OpParam<T>(s.clip_gradient), beta1 = OpParam<T>(s.beta1);
  const T beta2 = OpParam<T>(s.beta2), epsilon = OpParam<T>(s.epsilon);
  for (int64_t i = 0; i < n; ++i) {
    const T gr = g[i] * rescale + w[i] * wd;
    if (clip >= T(0)) {
      const T c = ClipBound(gr, clip);
      mean[i] = beta1 * mean[i] + (T(1) - beta1) * c;
      var[i] = beta2 * var[i] + (T(1) - beta2) * (c * c);
    } else {
      mean[i] = beta1 * mean[i] + (T(1) - beta1) * gr;
      var[i] = beta2 * var[i] + (T(1) - beta2) * gr * gr;
    }
    w[i] = w[i] - lr * mean[i] / (std::sqrt(var[i]) + epsilon);
  }
}

// _sparse_adagrad_update (AdagradDnsRspDnsKernel): g = rescale_grad * grad, clipped when
// clip >= 0; history += g * g; w -= g / sqrt(history + epsilon) * lr. No weight decay
// (MXNet refuses wd != 0 for it; so does the caller). MXNet's epsilon is AdaGrad's eps.
template <typename T>
void SparseAdaGradRowKernel(const Step& s, int64_t n, T* w, const T* g, T* history) {
  const T lr = OpParam<T>(s.lr), rescale = OpParam<T>(s.rescale_grad);
  const T clip = OpParam<T>(s.clip_gradient), epsilon = OpParam<T>(s.eps);
  for (int64_t i = 0; i < n; ++i) {
    T gr = g[i] * rescale;
    if (clip >= T(0)) gr = ClipBound(gr, clip);
    history[i] += gr * gr;
    const T div = gr / std::sqrt(history[i] + epsilon);
    w[i] = w[i] - div * lr;
  }
}

// UpdatePieces' kernels: the row_sparse kernels on pieces of the flattened weight
// (element ranges; `grad` their gradients concatenated). Element-wise, so a piece that is
// part of a row updates as that part of the row would.
template <typename T>
void RunPiecesKernel(OptimizerKind kind, const Step& s, const tensor::NDArray& weight,
                     const std::vector<RowPiece>& pieces, const tensor::NDArray& grad,
                     const std::vector<tensor::NDArray>& state) {
  T* w = static_cast<T*>(weight.data());
  const T* g = static_cast<const T*>(grad.data());
  auto st = [&](size_t j, int64_t offset) {
    return j < state.size() ? static_cast<T*>(state[j].data()) + offset : nullptr;
  };
  for (const RowPiece& p : pieces) {
    T* wp = w + p.offset;
    switch (kind) {
      case OptimizerKind::kSGD:
        if (state.empty()) {
          SgdRowKernel<T>(s, p.length, wp, g);
        } else {
          SgdKernel<T>(s, p.length, wp, g, st(0, p.offset));
        }
        break;
      case OptimizerKind::kAdam:
        AdamRowKernel<T>(s, p.length, wp, g, st(0, p.offset), st(1, p.offset));
        break;
      case OptimizerKind::kAdaGrad:
        SparseAdaGradRowKernel<T>(s, p.length, wp, g, st(0, p.offset));
        break;
      case OptimizerKind::kNAG:
      case OptimizerKind::kRMSProp:
        MXGRID_CHECK(false) << "no row_sparse kernel for " << OptimizerKindName(kind);
    }
    g += p.length;
  }
}

// Runs `kind`'s lazy kernel on rows ids[i] of `weight` and of the state arrays with gradient
// row i of `grad_rows` (weight (n, ...), grad_rows (k, ...), ids int64 (k,), state as in
// RunKernel). REQUIRES: kind is sgd, adam or adagrad; ids in [0, n) and distinct; inside an
// engine operation reading ids and grad_rows and writing weight and state.
// (Each row is a piece of RunPiecesKernel.)
template <typename T>
void RunRowsKernel(OptimizerKind kind, const Step& s, const tensor::NDArray& weight,
                   const tensor::NDArray& ids, const tensor::NDArray& grad_rows,
                   const std::vector<tensor::NDArray>& state) {
  const int64_t cols = weight.shape().ProdRange(1, weight.shape().ndim());
  const int64_t* rows = static_cast<const int64_t*>(ids.data());
  std::vector<RowPiece> pieces(static_cast<size_t>(ids.size()));
  for (size_t i = 0; i < pieces.size(); ++i) pieces[i] = RowPiece{rows[i] * cols, cols};
  RunPiecesKernel<T>(kind, s, weight, pieces, grad_rows, state);
}

}  // namespace mxgrid::kvstore::internal

#endif  // MXGRID_LIBS_KVSTORE_INTERNAL_OPTIMIZER_KERNELS_H_
