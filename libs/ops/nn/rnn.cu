// The fused RNN operator on the GPU (float32/float64): rnn_kernels.cc's algorithm (its float64
// reference loops) with cuBLAS GEMMs and element-wise cell kernels, over the same flat
// parameter layout (rnn_internal.h). Per layer and direction: one GEMM over all time steps for
// the input projection, one GEMM per step for the recurrent projection, then one kernel per
// step for the cell's math (one thread per (batch row, unit)). float32 GEMMs are full FP32
// unless MXGRID_GPU_ALLOW_TF32=1 (cu::Gemm).
//
// Backward runs the forward again to rebuild the activations (as the float64 CPU path does;
// the oneDNN training state of rnn_train_state.h is the CPU float32 path's own), then
// back-propagates through time; the weight gradients are GEMMs over all steps, the bias
// gradients column sums. Every activation lives in the thread's workspace for the call.
//
// Dropout between layers (training, p > 0, several layers) draws its mask on the host from
// OpContext::rng exactly as the CPU kernel does (so one seed gives one mask on either device)
// and copies it to the device: one synchronizing upload per training forward with dropout.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/nn/nn_cuda_util.h"
#include "libs/ops/nn/rnn_internal.h"
#include "libs/ops/op_util.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::nn {
namespace {

constexpr char kOp[] = "RNN";

template <typename T>
__device__ __forceinline__ T Sigmoid(T x) {
  return T(1) / (T(1) + cu::Exp(-x));
}

// One step of every batch row's cell (rnn_kernels.cc's ForwardCell loop body). a: the step's
// gates (n, G*H), holding W_i2h x + b_i2h, overwritten with the activated gates; hg: W_h2h h
// (n, G*H); c_out (lstm) / hn_out (gru): the step's cell state / W_h2h_n h + b_h2h_n (n, H);
// h_out (n, H); y_t: the step's layer output rows (n, dh), direction d's columns.
template <typename T>
__global__ void CellForwardKernel(RnnMode mode, int64_t n, int64_t h, int64_t gh, int64_t dh,
                                  int64_t d, T* a, const T* hg, const T* bh, const T* h_prev,
                                  const T* c_prev, T* c_out, T* hn_out, T* h_out, T* y_t) {
  MXGRID_CUDA_KERNEL_LOOP(e, n * h) {
    const int64_t b = e / h, j = e % h;
    T* ab = a + b * gh;
    const T* hgb = hg + b * gh;
    T out = T(0);
    switch (mode) {
      case RnnMode::kRelu:
      case RnnMode::kTanh: {
        const T v = ab[j] + hgb[j] + bh[j];
        ab[j] = mode == RnnMode::kTanh ? cu::Tanh(v) : cu::Max(v, T(0));
        out = ab[j];
        break;
      }
      case RnnMode::kLstm: {
        const T i = Sigmoid(ab[j] + hgb[j] + bh[j]);
        const T f = Sigmoid(ab[h + j] + hgb[h + j] + bh[h + j]);
        const T g = cu::Tanh(ab[2 * h + j] + hgb[2 * h + j] + bh[2 * h + j]);
        const T o = Sigmoid(ab[3 * h + j] + hgb[3 * h + j] + bh[3 * h + j]);
        ab[j] = i;
        ab[h + j] = f;
        ab[2 * h + j] = g;
        ab[3 * h + j] = o;
        const T c = f * c_prev[e] + i * g;
        c_out[e] = c;
        out = o * cu::Tanh(c);
        break;
      }
      case RnnMode::kGru: {
        const T r = Sigmoid(ab[j] + hgb[j] + bh[j]);
        const T z = Sigmoid(ab[h + j] + hgb[h + j] + bh[h + j]);
        const T hn = hgb[2 * h + j] + bh[2 * h + j];
        hn_out[e] = hn;
        const T nn = cu::Tanh(ab[2 * h + j] + r * hn);
        ab[j] = r;
        ab[h + j] = z;
        ab[2 * h + j] = nn;
        out = (T(1) - z) * nn + z * h_prev[e];
        break;
      }
    }
    h_out[e] = out;
    y_t[b * dh + d * h + j] = out;
  }
}

// One step back (rnn_kernels.cc's BackwardCell loop body): da, dhg (gru: the h2h gates'
// gradient; otherwise dhg is da) from the step's head gradient dy_t (n, dh) and dh; dc
// (lstm) updated in place; dh_next = the direct path to h_prev (gru) or 0, before the
// W_h2h GEMM adds to it; hprev_t: the h the step read, kept for dW_h2h.
template <typename T>
__global__ void CellBackwardKernel(RnnMode mode, int64_t n, int64_t h, int64_t gh, int64_t dh,
                                   int64_t d, const T* a, const T* c_t, const T* hn_t,
                                   const T* h_prev, const T* c_prev, const T* dy_t,
                                   const T* dhv, T* dc, T* da, T* dhg, T* dh_next, T* hprev_t) {
  MXGRID_CUDA_KERNEL_LOOP(e, n * h) {
    const int64_t b = e / h, j = e % h;
    const T* ab = a + b * gh;
    T* dab = da + b * gh;
    T* dhb = dhg + b * gh;
    const T gout = dhv[e] + dy_t[b * dh + d * h + j];
    T next = T(0);
    switch (mode) {
      case RnnMode::kRelu:
        dab[j] = ab[j] > T(0) ? gout : T(0);
        break;
      case RnnMode::kTanh:
        dab[j] = gout * (T(1) - ab[j] * ab[j]);
        break;
      case RnnMode::kLstm: {
        const T i = ab[j], f = ab[h + j], g = ab[2 * h + j], o = ab[3 * h + j];
        const T tc = cu::Tanh(c_t[e]);
        const T dcell = dc[e] + gout * o * (T(1) - tc * tc);
        dab[j] = dcell * g * i * (T(1) - i);
        dab[h + j] = dcell * c_prev[e] * f * (T(1) - f);
        dab[2 * h + j] = dcell * i * (T(1) - g * g);
        dab[3 * h + j] = gout * tc * o * (T(1) - o);
        dc[e] = dcell * f;
        break;
      }
      case RnnMode::kGru: {
        const T r = ab[j], z = ab[h + j], nn = ab[2 * h + j];
        const T hn = hn_t[e];
        const T dan = gout * (T(1) - z) * (T(1) - nn * nn);
        const T daz = gout * (h_prev[e] - nn) * z * (T(1) - z);
        const T dar = dan * hn * r * (T(1) - r);
        dab[j] = dar;
        dab[h + j] = daz;
        dab[2 * h + j] = dan;
        dhb[j] = dar;
        dhb[h + j] = daz;
        dhb[2 * h + j] = dan * r;
        next = gout * z;
        break;
      }
    }
    dh_next[e] = next;
    hprev_t[e] = h_prev[e];
  }
}

// o[i, j] += b[j] over an (m, k) row-major matrix.
template <typename T>
__global__ void AddRowBiasKernel(T* o, const T* b, int64_t m, int64_t k) {
  MXGRID_CUDA_KERNEL_LOOP(i, m * k) { o[i] += b[i % k]; }
}

template <typename T>
__global__ void ScaleKernel(T* v, const T* factor, int64_t n) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) { v[i] *= factor[i]; }
}

template <typename T>
__global__ void CopyKernel(const T* src, int64_t n, T* dst) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) { dst[i] = src[i]; }
}

// dst[i] (req) src[i]; src null: 0.
template <typename T>
__global__ void StoreKernel(const T* src, int64_t n, bool add, T* dst) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) { cu::Put(add, dst, i, src == nullptr ? T(0) : src[i]); }
}

// The call's geometry, buffers and launches. Buffers (T) are carved from one workspace.
template <typename T>
class GpuRnn {
 public:
  GpuRnn(const RnnParams& p, RnnDims dims, const OpContext& ctx)
      : p_(p), mode_(p.mode), t_(dims.t), n_(dims.n), c_(dims.c), h_(p.state_size),
        gh_(p.gates() * p.state_size), d_(p.directions()), l_(p.num_layers),
        device_(ctx.ctx.device_id), stream_(gpu::StreamOf(ctx.stream)),
        cells_(RnnParamLayout(p, dims.c, &param_size_)) {}

  int64_t layer_size() const { return t_ * n_ * d_ * h_; }
  int64_t state_size() const { return l_ * d_ * n_ * h_; }
  int64_t param_size() const { return param_size_; }

  // Carves the workspace: the forward activations, and the backward buffers when `backward`.
  absl::Status Allocate(bool backward) {
    const int64_t tn = t_ * n_, cells = l_ * d_;
    const bool lstm = mode_ == RnnMode::kLstm, gru = mode_ == RnnMode::kGru;
    std::vector<std::pair<T**, int64_t>> parts = {
        {&gates_, cells * tn * gh_},
        {&hs_, cells * tn * h_},
        {&cs_, lstm ? cells * tn * h_ : 0},
        {&hgn_, gru ? cells * tn * h_ : 0},
        {&ys_, (l_ - 1) * layer_size()},
        {&hg_, n_ * gh_},
        {&y_, layer_size()},
        {&hy_, state_size()},
        {&cy_, lstm ? state_size() : 0},
        {&mask_, p_.has_mask() ? (l_ - 1) * layer_size() : 0}};
    if (backward) {
      parts.insert(parts.end(), {{&dy_layer_, layer_size()},
                                 {&dx_layer_, layer_size()},
                                 {&dh_, n_ * h_},
                                 {&dc_, n_ * h_},
                                 {&dh_next_, n_ * h_},
                                 {&dxg_, tn * gh_},
                                 {&dhgs_, gru ? tn * gh_ : 0},
                                 {&hprev_, tn * h_},
                                 {&dx_, tn * c_},
                                 {&dparams_, param_size_},
                                 {&dh0_, state_size()},
                                 {&dc0_, lstm ? state_size() : 0}});
    }
    constexpr int64_t kAlign = 64;  // elements: every part starts 256-byte aligned
    int64_t total = 0;
    for (const auto& part : parts) total += (part.second + kAlign - 1) / kAlign * kAlign;
    MXGRID_ASSIGN_OR_RETURN(void* ws, gpu::ThreadWorkspace(device_, sizeof(T) * (total + 1)));
    T* base = static_cast<T*>(ws);
    for (const auto& part : parts) {
      *part.first = part.second > 0 ? base : nullptr;
      base += (part.second + kAlign - 1) / kAlign * kAlign;
    }
    MXGRID_ASSIGN_OR_RETURN(cublas_, gpu::Cublas(device_));
    return absl::OkStatus();
  }

  T* y() const { return y_; }
  T* hy() const { return hy_; }
  T* cy() const { return cy_; }
  T* mask() const { return mask_; }
  T* dx() const { return dx_; }
  T* dparams() const { return dparams_; }
  T* dh0() const { return dh0_; }
  T* dc0() const { return dc0_; }

  // Runs every layer (rnn_kernels.cc's Rnn::Forward) into y(), and hy()/cy() when `states`.
  // mask: (L-1, T, N, D*H) device factors, or null. REQUIRES: Allocate, t and n positive.
  absl::Status Forward(const T* x, const T* params, const T* h0, const T* c0, const T* mask,
                       bool states) {
    for (int64_t l = 0; l < l_; ++l) {
      T* out = l < l_ - 1 ? ys_ + l * layer_size() : y_;
      const T* in = l == 0 ? x : ys_ + (l - 1) * layer_size();
      for (int64_t d = 0; d < d_; ++d) {
        const int64_t k = l * d_ + d, sh = k * n_ * h_;
        MXGRID_RETURN_IF_ERROR(ForwardCell(k, d, in, params, h0 + sh,
                                           c0 != nullptr ? c0 + sh : nullptr, out,
                                           states ? hy_ + sh : nullptr,
                                           states && cy_ != nullptr ? cy_ + sh : nullptr));
      }
      if (mask != nullptr && l < l_ - 1) {
        ScaleKernel<T><<<gpu::Blocks(layer_size()), gpu::kThreads, 0, stream_>>>(
            out, mask + l * layer_size(), layer_size());
      }
    }
    return gpu::LaunchStatus(device_, kOp);
  }

  // Back-propagates after Forward (rnn_kernels.cc's Rnn::Backward): dy (T, N, D*H) or null
  // for zero, dhy/dcy null for zero. Writes dparams(), dh0(), dc0(), and dx() when `want_dx`.
  absl::Status Backward(const T* x, const T* params, const T* h0, const T* c0, const T* mask,
                        const T* dy, const T* dhy, const T* dcy, bool want_dx) {
    const int64_t size = layer_size();
    if (dy != nullptr) {
      CopyKernel<T><<<gpu::Blocks(size), gpu::kThreads, 0, stream_>>>(dy, size, dy_layer_);
    } else {
      MXGRID_RETURN_IF_ERROR(Zero(dy_layer_, size));
    }
    T* dy_layer = dy_layer_;
    T* dx_layer = dx_layer_;
    for (int64_t l = l_ - 1; l >= 0; --l) {
      const T* in = l == 0 ? x : ys_ + (l - 1) * size;
      const int64_t in_size = cells_[l * d_].in;
      T* dx_out = nullptr;
      if (l > 0) {
        dx_out = dx_layer;
      } else if (want_dx) {
        dx_out = dx_;
      }
      if (dx_out != nullptr) MXGRID_RETURN_IF_ERROR(Zero(dx_out, t_ * n_ * in_size));
      for (int64_t d = 0; d < d_; ++d) {
        const int64_t k = l * d_ + d, sh = k * n_ * h_;
        MXGRID_RETURN_IF_ERROR(BackwardCell(
            k, d, in, params, h0 + sh, c0 != nullptr ? c0 + sh : nullptr, dy_layer,
            dhy != nullptr ? dhy + sh : nullptr, dcy != nullptr ? dcy + sh : nullptr, dx_out,
            dh0_ + sh, dc0_ != nullptr ? dc0_ + sh : nullptr));
      }
      if (l > 0 && mask != nullptr) {
        ScaleKernel<T><<<gpu::Blocks(size), gpu::kThreads, 0, stream_>>>(
            dx_layer, mask + (l - 1) * size, size);
      }
      if (l > 0) std::swap(dy_layer, dx_layer);
    }
    return gpu::LaunchStatus(device_, kOp);
  }

  absl::Status Zero(T* p, int64_t count) const {
    return cu::ZeroAsync(device_, stream_, p, sizeof(T) * count, kOp);
  }

  // Stores `count` elements of src (null: zeros) into dst by req.
  void Store(OpReq req, const T* src, int64_t count, T* dst) const {
    if (req == OpReq::kNull || count == 0) return;
    StoreKernel<T><<<gpu::Blocks(count), gpu::kThreads, 0, stream_>>>(
        src, count, req == OpReq::kAddTo, dst);
  }

 private:
  // Time index of the s-th step direction d takes.
  int64_t TimeAt(int64_t d, int64_t s) const { return d == 0 ? s : t_ - 1 - s; }

  // Row-major C (m x k2) = op(A) op(B) + beta C as the CPU's Gemm (libs/ops/blas.h): the
  // column-major product Cᵀ = op(B)ᵀ op(A)ᵀ.
  absl::Status RowGemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a,
                       int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) const {
    if (m == 0 || n == 0) return absl::OkStatus();
    if (k == 0) return beta == T(0) ? Zero(c, m * ldc) : absl::OkStatus();  // no input channels
    return cu::Gemm<T>(cublas_, kOp, tb, ta, n, m, k, b, std::max<int64_t>(1, ldb), a,
                       std::max<int64_t>(1, lda), beta, c, std::max<int64_t>(1, ldc));
  }

  absl::Status ForwardCell(int64_t k, int64_t d, const T* x, const T* params, const T* h0,
                           const T* c0, T* y, T* hy, T* cy) {
    const RnnCellOffsets& w = cells_[k];
    const int64_t tn = t_ * n_, dh = d_ * h_;
    T* gates = gates_ + k * tn * gh_;
    T* hs = hs_ + k * tn * h_;
    T* cs = cs_ != nullptr ? cs_ + k * tn * h_ : nullptr;
    T* hgn = hgn_ != nullptr ? hgn_ + k * tn * h_ : nullptr;
    MXGRID_RETURN_IF_ERROR(
        RowGemm(false, true, tn, gh_, w.in, x, w.in, params + w.wx, w.in, T(0), gates, gh_));
    AddRowBiasKernel<T><<<gpu::Blocks(tn * gh_), gpu::kThreads, 0, stream_>>>(
        gates, params + w.bx, tn, gh_);
    const T* h_prev = h0;
    const T* c_prev = c0;
    for (int64_t s = 0; s < t_; ++s) {
      const int64_t t = TimeAt(d, s);
      MXGRID_RETURN_IF_ERROR(
          RowGemm(false, true, n_, gh_, h_, h_prev, h_, params + w.wh, h_, T(0), hg_, gh_));
      T* h = hs + t * n_ * h_;
      CellForwardKernel<T><<<gpu::Blocks(n_ * h_), gpu::kThreads, 0, stream_>>>(
          mode_, n_, h_, gh_, dh, d, gates + t * n_ * gh_, hg_, params + w.bh, h_prev, c_prev,
          cs != nullptr ? cs + t * n_ * h_ : nullptr, hgn != nullptr ? hgn + t * n_ * h_ : nullptr,
          h, y + t * n_ * dh);
      h_prev = h;
      if (cs != nullptr) c_prev = cs + t * n_ * h_;
    }
    if (hy != nullptr) {
      CopyKernel<T><<<gpu::Blocks(n_ * h_), gpu::kThreads, 0, stream_>>>(h_prev, n_ * h_, hy);
    }
    if (cy != nullptr && c_prev != nullptr) {
      CopyKernel<T><<<gpu::Blocks(n_ * h_), gpu::kThreads, 0, stream_>>>(c_prev, n_ * h_, cy);
    }
    return gpu::LaunchStatus(device_, kOp);
  }

  absl::Status BackwardCell(int64_t k, int64_t d, const T* x, const T* params, const T* h0,
                            const T* c0, const T* dy, const T* dhy, const T* dcy, T* dx,
                            T* dh0, T* dc0) {
    const RnnCellOffsets& w = cells_[k];
    const int64_t tn = t_ * n_, dhw = d_ * h_, nh = n_ * h_;
    const bool lstm = mode_ == RnnMode::kLstm, gru = mode_ == RnnMode::kGru;
    const T* gates = gates_ + k * tn * gh_;
    const T* hs = hs_ + k * tn * h_;
    const T* cs = lstm ? cs_ + k * tn * h_ : nullptr;
    const T* hgn = gru ? hgn_ + k * tn * h_ : nullptr;
    T* dh = dh_;
    T* dh_next = dh_next_;
    if (dhy != nullptr) {
      CopyKernel<T><<<gpu::Blocks(nh), gpu::kThreads, 0, stream_>>>(dhy, nh, dh);
    } else {
      MXGRID_RETURN_IF_ERROR(Zero(dh, nh));
    }
    if (lstm && dcy != nullptr) {
      CopyKernel<T><<<gpu::Blocks(nh), gpu::kThreads, 0, stream_>>>(dcy, nh, dc_);
    } else {
      MXGRID_RETURN_IF_ERROR(Zero(dc_, nh));
    }
    MXGRID_RETURN_IF_ERROR(Zero(dxg_, tn * gh_));
    const T* wh = params + w.wh;
    for (int64_t s = t_ - 1; s >= 0; --s) {
      const int64_t t = TimeAt(d, s);
      const T* h_prev = s == 0 ? h0 : hs + TimeAt(d, s - 1) * nh;
      const T* c_prev = !lstm ? nullptr : s == 0 ? c0 : cs + TimeAt(d, s - 1) * nh;
      T* da = dxg_ + t * n_ * gh_;
      T* dhg = gru ? dhgs_ + t * n_ * gh_ : da;
      CellBackwardKernel<T><<<gpu::Blocks(nh), gpu::kThreads, 0, stream_>>>(
          mode_, n_, h_, gh_, dhw, d, gates + t * n_ * gh_, lstm ? cs + t * nh : nullptr,
          gru ? hgn + t * nh : nullptr, h_prev, c_prev, dy + t * n_ * dhw, dh, dc_, da, dhg,
          dh_next, hprev_ + t * nh);
      // dh_prev = dhg · W_h2h (+ the direct GRU path already in dh_next).
      MXGRID_RETURN_IF_ERROR(RowGemm(false, false, n_, h_, gh_, dhg, gh_, wh, h_, T(1),
                                     dh_next, h_));
      std::swap(dh, dh_next);
    }
    const T* all_dhg = gru ? dhgs_ : dxg_;
    const dim3 block(32, 8);
    const unsigned grid = static_cast<unsigned>((gh_ + 31) / 32);
    MXGRID_RETURN_IF_ERROR(RowGemm(true, false, gh_, h_, tn, all_dhg, gh_, hprev_, h_, T(1),
                                   dparams_ + w.wh, h_));
    cu::ColumnSumKernel<T><<<grid, block, 0, stream_>>>(all_dhg, tn, gh_, true,
                                                        dparams_ + w.bh);
    MXGRID_RETURN_IF_ERROR(RowGemm(true, false, gh_, w.in, tn, dxg_, gh_, x, w.in, T(1),
                                   dparams_ + w.wx, w.in));
    cu::ColumnSumKernel<T><<<grid, block, 0, stream_>>>(dxg_, tn, gh_, true, dparams_ + w.bx);
    if (dx != nullptr) {
      MXGRID_RETURN_IF_ERROR(RowGemm(false, false, tn, w.in, gh_, dxg_, gh_, params + w.wx,
                                     w.in, T(1), dx, w.in));
    }
    CopyKernel<T><<<gpu::Blocks(nh), gpu::kThreads, 0, stream_>>>(dh, nh, dh0);
    if (dc0 != nullptr) {
      CopyKernel<T><<<gpu::Blocks(nh), gpu::kThreads, 0, stream_>>>(dc_, nh, dc0);
    }
    return gpu::LaunchStatus(device_, kOp);
  }

  const RnnParams& p_;
  const RnnMode mode_;
  const int64_t t_, n_, c_, h_, gh_, d_, l_;
  const int device_;
  cudaStream_t stream_;
  cublasHandle_t cublas_ = nullptr;
  int64_t param_size_ = 0;
  std::vector<RnnCellOffsets> cells_;  // index layer * D + direction
  // Forward: per cell (T, N, G*H) activated gates, (T, N, H) states, lstm cell states, gru
  // W_h2h_n h + b_h2h_n; lower layers' outputs (L-1, T, N, D*H); one step's W_h2h h; the
  // outputs y, hy, cy; the dropout mask.
  T *gates_ = nullptr, *hs_ = nullptr, *cs_ = nullptr, *hgn_ = nullptr, *ys_ = nullptr,
    *hg_ = nullptr, *y_ = nullptr, *hy_ = nullptr, *cy_ = nullptr, *mask_ = nullptr;
  // Backward: the layer's head and input gradients, dh/dc/dh_next (N, H), the gates'
  // gradients (T, N, G*H) (gru: the h2h ones apart), each step's h_prev, and the gradients.
  T *dy_layer_ = nullptr, *dx_layer_ = nullptr, *dh_ = nullptr, *dc_ = nullptr,
    *dh_next_ = nullptr, *dxg_ = nullptr, *dhgs_ = nullptr, *hprev_ = nullptr, *dx_ = nullptr,
    *dparams_ = nullptr, *dh0_ = nullptr, *dc0_ = nullptr;
};

absl::Status Forward(const OpContext& ctx, const OpParams& params,
                     absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                     absl::Span<const TensorView> out) {
  const auto& p = ParamsAs<RnnParams>(params);
  const bool drop = ctx.is_train && p.has_mask();
  if (drop && ctx.rng == nullptr) {
    return absl::FailedPreconditionError("RNN: OpContext::rng is null in training");
  }
  MXGRID_ASSIGN_OR_RETURN(RnnDims dims, RnnCheckInputs(p, in));
  return DispatchFloat(kOp, in[0].dtype, [&](auto tag) -> absl::Status {
    using T = typename decltype(tag)::type;
    GpuRnn<T> rnn(p, dims, ctx);
    MXGRID_RETURN_IF_ERROR(rnn.Allocate(/*backward=*/false));
    const int64_t mask_size = p.has_mask() ? (p.num_layers - 1) * rnn.layer_size() : 0;
    if (drop) {
      // The CPU kernel's draws, in its order.
      std::vector<T> mask(static_cast<size_t>(mask_size), T(1));
      const double keep = 1.0 - p.p;
      std::uniform_real_distribution<double> uniform(0.0, 1.0);
      for (T& m : mask) m = uniform(*ctx.rng) < keep ? static_cast<T>(1.0 / keep) : T(0);
      if (mask_size > 0) {
        MXGRID_RETURN_IF_ERROR(gpu::CopyHostToDevice(ctx.ctx.device_id, ctx.stream, rnn.mask(),
                                                     mask.data(), sizeof(T) * mask_size));
      }
    } else if (mask_size > 0) {
      cu::FillKernel<T><<<gpu::Blocks(mask_size), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
          rnn.mask(), mask_size, T(1));
    }
    const T* h0 = in[2].as<T>();
    const T* c0 = p.has_cell() ? in[3].as<T>() : nullptr;
    const bool any = dims.t > 0 && dims.n > 0;
    if (any) {
      MXGRID_RETURN_IF_ERROR(rnn.Forward(in[0].as<T>(), in[1].as<T>(), h0, c0,
                                         drop ? rnn.mask() : nullptr, /*states=*/true));
    }
    rnn.Store(reqs[0], rnn.y(), rnn.layer_size(), out[0].as<T>());
    if (p.visible_outputs() > 1) {
      rnn.Store(reqs[1], any ? rnn.hy() : h0, rnn.state_size(), out[1].as<T>());
    }
    if (p.visible_outputs() > 2) {
      rnn.Store(reqs[2], any ? rnn.cy() : c0, rnn.state_size(), out[2].as<T>());
    }
    if (p.has_mask()) {
      const int m = p.visible_outputs();
      rnn.Store(reqs[m], rnn.mask(), mask_size, out[m].as<T>());
    }
    return gpu::LaunchStatus(ctx.ctx.device_id, kOp);
  });
}

absl::Status Backward(const OpContext& ctx, const OpParams& params, const BackwardArgs& a) {
  const auto& p = ParamsAs<RnnParams>(params);
  MXGRID_ASSIGN_OR_RETURN(RnnDims dims, RnnCheckInputs(p, a.inputs));
  // The forward pass's dropout mask (hidden output); without it no dropout, as on the CPU.
  const int mask_index = p.visible_outputs();
  const bool masked = p.has_mask() && static_cast<int>(a.outputs.size()) > mask_index &&
                      a.outputs[mask_index].data != nullptr;
  return DispatchFloat(kOp, a.inputs[0].dtype, [&](auto tag) -> absl::Status {
    using T = typename decltype(tag)::type;
    auto head = [&](size_t i) -> const T* {
      return i < a.out_grads.size() && a.out_grads[i].data != nullptr ? a.out_grads[i].as<T>()
                                                                     : nullptr;
    };
    GpuRnn<T> rnn(p, dims, ctx);
    MXGRID_RETURN_IF_ERROR(rnn.Allocate(/*backward=*/true));
    MXGRID_RETURN_IF_ERROR(rnn.Zero(rnn.dparams(), rnn.param_size()));
    const bool want_dx = a.reqs[0] != OpReq::kNull;
    const T* c0 = p.has_cell() ? a.inputs[3].as<T>() : nullptr;
    if (dims.t > 0 && dims.n > 0) {
      const T* mask = masked ? a.outputs[mask_index].as<T>() : nullptr;
      MXGRID_RETURN_IF_ERROR(rnn.Forward(a.inputs[0].as<T>(), a.inputs[1].as<T>(),
                                         a.inputs[2].as<T>(), c0, mask, /*states=*/false));
      MXGRID_RETURN_IF_ERROR(rnn.Backward(a.inputs[0].as<T>(), a.inputs[1].as<T>(),
                                          a.inputs[2].as<T>(), c0, mask, head(0), head(1),
                                          p.has_cell() ? head(2) : nullptr, want_dx));
      rnn.Store(a.reqs[0], rnn.dx(), a.inputs[0].size(), a.in_grads[0].as<T>());
      rnn.Store(a.reqs[2], rnn.dh0(), rnn.state_size(), a.in_grads[2].as<T>());
      if (p.has_cell()) {
        rnn.Store(a.reqs[3], rnn.dc0(), rnn.state_size(), a.in_grads[3].as<T>());
      }
    } else {
      // No step: dx has no elements, the states' gradients pass straight through.
      rnn.Store(a.reqs[2], head(1), rnn.state_size(), a.in_grads[2].as<T>());
      if (p.has_cell()) {
        rnn.Store(a.reqs[3], head(2), rnn.state_size(), a.in_grads[3].as<T>());
      }
    }
    rnn.Store(a.reqs[1], rnn.dparams(), rnn.param_size(), a.in_grads[1].as<T>());
    return gpu::LaunchStatus(ctx.ctx.device_id, kOp);
  });
}

}  // namespace

absl::Status RegisterRnnCuda(Registry* registry) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(kOp));
  d->gpu_forward = Forward;
  d->gpu_backward = Backward;
  d->gpu_dtypes = {DType::kFloat32, DType::kFloat64};
  return absl::OkStatus();
}

}  // namespace mxgrid::ops::nn
