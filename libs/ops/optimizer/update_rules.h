// MXNet 1.9.1's optimizer update rules for one element (src/operator/optimizer_op-inl.h,
// contrib/adamw-inl.h), in the kernels' operation order so that float32 results match
// MXNet's bit for bit. Shared by the *_update operators (this directory) and the kvstore's
// fused optimizer kernels (libs/kvstore/internal/optimizer_kernels.h).
//
//   T w = weight[i];
//   weight[i] = rules::AdamStep<T>(w, grad[i], &mean[i], &var[i], hp);
//
// `T` is the compute type (float or double; MXNet computes in the weight's dtype, or float
// for the mixed-precision variants). Hyperparameters are MXNet's float operator parameters
// cast to T (OpParam). A clip bound < 0 means no clipping, as in the operators.
//
// Under nvcc every rule is also a __device__ function (MXGRID_RULE), so the CUDA kernels
// (optimizer_cuda.cu) share this arithmetic; they instantiate it with compute types whose
// operators round each operation (no fused multiply-add), which keeps them bit-exact with
// the CPU. Square roots and absolute values go through Sqrt/Abs, found by argument-dependent
// lookup for such types and std::sqrt/std::abs for float and double.
//
// Thread-safety: pure functions.
#ifndef MXGRID_LIBS_OPS_OPTIMIZER_UPDATE_RULES_H_
#define MXGRID_LIBS_OPS_OPTIMIZER_UPDATE_RULES_H_

#include <cmath>

#if defined(__CUDACC__)
#define MXGRID_RULE __host__ __device__
#else
#define MXGRID_RULE
#endif

namespace mxgrid::ops::rules {

template <typename T>
MXGRID_RULE T Sqrt(T x) {
  using std::sqrt;
  return sqrt(x);
}

template <typename T>
MXGRID_RULE T Abs(T x) {
  using std::abs;
  return abs(x);
}

// An operator parameter: MXNet's optimizer op params are float, cast to the compute type.
template <typename T>
T OpParam(double v) {
  return static_cast<T>(static_cast<float>(v));
}

// mshadow_op::clip: into [-bound, bound].
template <typename T>
MXGRID_RULE T ClipBound(T x, T bound) {
  if (x > bound) return bound;
  if (x < -bound) return -bound;
  return x;
}

// The rescaled (and, when clip >= 0, clipped) gradient.
template <typename T>
MXGRID_RULE T Rescaled(T g, T rescale, T clip) {
  return clip >= T(0) ? ClipBound(rescale * g, clip) : rescale * g;
}

template <typename T>
MXGRID_RULE T Sign(T x) {
  return static_cast<T>((x > T(0)) - (x < T(0)));
}

// sgd_update (SGDKernel): the new weight.
template <typename T>
MXGRID_RULE T SgdStep(T w, T g, T lr, T wd, T rescale, T clip) {
  if (clip >= T(0)) return (T(1) - lr * wd) * w - lr * ClipBound(rescale * g, clip);
  return (T(1) - lr * wd) * w - (lr * rescale) * g;
}

// sgd_mom_update (SGDMomKernel, also MultiSGDKernel): updates *mom, returns the new weight.
template <typename T>
MXGRID_RULE T SgdMomStep(T w, T g, T* mom, T momentum, T lr, T wd, T rescale, T clip) {
  if (clip >= T(0)) {
    *mom = momentum * *mom - lr * wd * w - lr * ClipBound(rescale * g, clip);
  } else {
    *mom = momentum * *mom - lr * wd * w - lr * rescale * g;
  }
  return w + *mom;
}

// nag_mom_update (NAGMomKernel), first half: scales *mom and returns the new weight; the
// second half (NagMomFinish) reads the weight again, after the kernel wrote it (MXNet runs
// it with out=weight, so the momentum sees the updated weight).
template <typename T>
MXGRID_RULE T NagMomStep(T w, T g, T* mom, T momentum, T lr, T wd, T rescale, T clip) {
  *mom = momentum * *mom;
  return w - *mom + (momentum + T(1)) * (*mom - lr * (Rescaled(g, rescale, clip) + wd * w));
}
template <typename T>
MXGRID_RULE void NagMomFinish(T w_now, T g, T* mom, T lr, T wd, T rescale, T clip) {
  *mom = *mom - lr * (Rescaled(g, rescale, clip) + wd * w_now);
}

// adam_update (AdamUpdateKernel); lr carries the bias correction (the Python side's).
template <typename T>
MXGRID_RULE T AdamStep(T w, T g, T* mean, T* var, T lr, T wd, T rescale, T clip, T beta1, T beta2,
                       T epsilon) {
  T gr = g * rescale + w * wd;
  if (clip >= T(0)) gr = ClipBound(gr, clip);
  *mean = beta1 * *mean + (T(1) - beta1) * gr;
  *var = beta2 * *var + (T(1) - beta2) * gr * gr;
  return w - lr * *mean / (Sqrt(*var) + epsilon);
}

// _adamw_update / _mp_adamw_update: decoupled weight decay scaled by eta.
template <typename T>
MXGRID_RULE T AdamWStep(T w, T g, T* mean, T* var, T lr, T wd, T eta, T rescale, T clip, T beta1,
                        T beta2, T epsilon) {
  T gr = rescale * g;
  if (clip >= T(0)) gr = ClipBound(gr, clip);
  *mean = beta1 * *mean + (T(1) - beta1) * gr;
  *var = beta2 * *var + (T(1) - beta2) * (gr * gr);
  return w - eta * (lr * *mean / (Sqrt(*var) + epsilon) + wd * w);
}

// rmsprop_update (RMSPropUpdateKernel); clip_weights < 0: none.
template <typename T>
MXGRID_RULE T RmsPropStep(T w, T g, T* n, T lr, T wd, T rescale, T clip, T gamma1, T epsilon,
                          T clip_weights) {
  T gr = rescale * g + wd * w;
  if (clip >= T(0)) gr = ClipBound(gr, clip);
  *n = (T(1) - gamma1) * (gr * gr) + gamma1 * *n;
  T out = w - lr * (gr / Sqrt(*n + epsilon));
  if (clip_weights >= T(0)) out = ClipBound(out, clip_weights);
  return out;
}

// rmspropalex_update (RMSPropAlexUpdateKernel: Graves 2013, Eq. 38-45).
template <typename T>
MXGRID_RULE T RmsPropAlexStep(T w, T g, T* n, T* gs, T* delta, T lr, T wd, T rescale, T clip,
                              T gamma1, T gamma2, T epsilon, T clip_weights) {
  T gr = rescale * g + wd * w;
  if (clip >= T(0)) gr = ClipBound(gr, clip);
  *n = (T(1) - gamma1) * gr * gr + gamma1 * *n;
  *gs = (T(1) - gamma1) * gr + gamma1 * *gs;
  *delta = gamma2 * *delta - (lr * gr / Sqrt(*n - *gs * *gs + epsilon));
  return clip_weights >= T(0) ? ClipBound(w + *delta, clip_weights) : w + *delta;
}

// ftrl_update (FtrlUpdateKernel).
template <typename T>
MXGRID_RULE T FtrlStep(T w, T g, T* z, T* n, T lr, T wd, T rescale, T clip, T lamda1, T beta) {
  T gr = g * rescale;
  if (clip >= T(0)) gr = ClipBound(gr, clip);
  *z += gr - (Sqrt(*n + gr * gr) - Sqrt(*n)) * w / lr;
  *n += gr * gr;
  const T active = Abs(*z) > lamda1 ? T(1) : T(0);
  return (Sign(*z) * lamda1 - *z) / ((beta + Sqrt(*n)) / lr + wd) * active;
}

// ftml_update (FTMLKernel); beta1_t = beta1^t, beta2_t = beta2^t.
template <typename T>
MXGRID_RULE T FtmlStep(T w, T g, T* d, T* v, T* z, T lr, T wd, T rescale, T clip, T beta1, T beta2,
                       T beta1_t, T beta2_t, T epsilon) {
  const T gi = clip >= T(0) ? ClipBound(rescale * g + wd * w, clip) : rescale * g + wd * w;
  *v = beta2 * *v + (T(1) - beta2) * (gi * gi);
  const T d_t = (T(1) - beta1_t) / lr * (Sqrt(*v / (T(1) - beta2_t)) + epsilon);
  *z = beta1 * *z + (T(1) - beta1) * gi - (d_t - beta1 * *d) * w;
  *d = d_t;
  return -*z / d_t;
}

// signsgd_update (SignSGDKernel; clip_gradient has no effect).
template <typename T>
MXGRID_RULE T SignSgdStep(T w, T g, T lr, T wd) {
  return (T(1) - lr * wd) * w - lr * Sign(g);
}

// signum_update (SignumKernel).
template <typename T>
MXGRID_RULE T SignumStep(T w, T g, T* mom, T momentum, T lr, T wd, T rescale, T clip, T wd_lh) {
  *mom = momentum * *mom - (T(1) - momentum) * wd * w -
         (T(1) - momentum) * Rescaled(g, rescale, clip);
  return (T(1) - lr * wd_lh) * w + lr * Sign(*mom);
}

// lamb_update_phase1 (LambUpdatePhaseOneKernel): updates mean and var, returns g.
template <typename T>
MXGRID_RULE T LambPhase1(T w, T g, T* mean, T* var, T wd, T rescale, T clip, T beta1, T beta2,
                         T beta1_t, T beta2_t, T epsilon, bool bias_correction) {
  T gr = g * rescale;
  if (clip >= T(0)) gr = ClipBound(gr, clip);
  *mean = beta1 * *mean + (T(1) - beta1) * gr;
  *var = beta2 * *var + (T(1) - beta2) * gr * gr;
  if (bias_correction) {
    const T mean_hat = *mean / (T(1) - beta1_t);
    const T var_hat = *var / (T(1) - beta2_t);
    return mean_hat / (Sqrt(var_hat) + epsilon) + wd * w;
  }
  return *mean / (Sqrt(*var) + epsilon) + wd * w;
}

// lamb_update_phase2's learning rate: lr * r1 / r2 with r1 bounded (a bound < 0: none),
// or lr when either norm is 0.
template <typename T>
MXGRID_RULE T LambRate(T lr, T r1, T r2, T lower_bound, T upper_bound) {
  if (lower_bound >= T(0) && r1 < lower_bound) r1 = lower_bound;
  if (upper_bound >= T(0) && r1 > upper_bound) r1 = upper_bound;
  if (r1 == T(0) || r2 == T(0)) return lr;
  return lr * r1 / r2;
}

}  // namespace mxgrid::ops::rules

#endif  // MXGRID_LIBS_OPS_OPTIMIZER_UPDATE_RULES_H_
