// CPU kernels of the fused RNN operator (see rnn_internal.h for the layout). float32 runs
// through oneDNN (rnn_dnnl.cc), as MXNet's does; the loops below run float64 and are the
// reference the float32 path is tested against (rnn_test.cc).
//
// Forward runs each layer and direction as one GEMM over all time steps for the input
// projection and one GEMM per step for the recurrent projection, then the cell's
// element-wise math. Backward re-runs the forward pass to rebuild the activations it needs
// (between calls the op keeps only its dropout mask) and back-propagates through time,
// summing the weight gradients with GEMMs. Dropout between layers (training) multiplies
// each lower layer's output by the mask the forward call drew; backward gets that mask back
// as the op's hidden output and applies it again.
//
// Cell equations (x: input, h: previous state; a_g = W_i2h_g x + b_i2h_g + W_h2h_g h + b_h2h_g):
//   rnn_tanh/rnn_relu: h' = act(a)
//   lstm: i, f, o = sigmoid(a_i, a_f, a_o); g = tanh(a_c); c' = f*c + i*g; h' = o*tanh(c')
//   gru:  r, z = sigmoid(a_r, a_z); n = tanh(W_i2h_n x + b_i2h_n + r*(W_h2h_n h + b_h2h_n));
//         h' = (1 - z)*n + z*h
#include <algorithm>
#include <cmath>
#include <random>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"
#include "libs/ops/blas.h"
#include "libs/ops/nn/nn_util.h"
#include "libs/ops/nn/rnn_internal.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::nn {
namespace {

constexpr char kOp[] = "RNN";
// Gate elements per step from which the element-wise cell math runs on OpenMP threads
// (batch rows are independent).
constexpr int64_t kParallelUnits = int64_t{1} << 12;

template <typename T>
T Sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

// tanh through one expf for float (libm's tanhf goes through expm1f: a fifth of an LSTM's
// time). Below |x| = 1/16 a Taylor polynomial (error under 1e-12 relative) avoids the
// cancellation of 1 - exp(-2|x|); above it the error stays within a few float ulps.
inline float FastTanh(float x) {
  const float a = std::abs(x);
  if (a < 0.0625f) {
    const float x2 = x * x;
    return x * (1.f + x2 * (-1.f / 3 + x2 * (2.f / 15 + x2 * (-17.f / 315))));
  }
  const float e = std::exp(-2.f * a);
  return std::copysign((1.f - e) / (1.f + e), x);
}

template <typename T>
T Tanh(T x) {
  if constexpr (std::is_same_v<T, float>) {
    return FastTanh(x);
  } else {
    return std::tanh(x);
  }
}

// Where one (layer, direction)'s weights live in the flat parameter vector.
template <typename T>
struct CellWeights {
  const T* wx = nullptr;  // (G*H, in)
  const T* wh = nullptr;  // (G*H, H)
  const T* bx = nullptr;  // (G*H)
  const T* bh = nullptr;  // (G*H)
  int64_t in = 0;
  int64_t offset_wx = 0, offset_wh = 0, offset_bx = 0, offset_bh = 0;
};

}  // namespace

std::vector<RnnCellOffsets> RnnParamLayout(const RnnParams& p, int64_t channels,
                                           int64_t* total) {
  const int64_t h = p.state_size, gh = p.gates() * h, d = p.directions();
  std::vector<RnnCellOffsets> cells;
  int64_t off = 0;
  for (int64_t l = 0; l < p.num_layers; ++l) {
    for (int64_t k = 0; k < d; ++k) {
      RnnCellOffsets w;
      w.in = l == 0 ? channels : d * h;
      w.wx = off;
      off += gh * w.in;
      w.wh = off;
      off += gh * h;
      cells.push_back(w);
    }
  }
  for (RnnCellOffsets& w : cells) {
    w.bx = off;
    off += gh;
    w.bh = off;
    off += gh;
  }
  *total = off;
  return cells;
}

namespace {

// One call's sizes and the forward activations backward needs.
template <typename T>
class Rnn {
 public:
  Rnn(const RnnParams& p, RnnDims dims, const T* params)
      : p_(p), t_(dims.t), n_(dims.n), h_(p.state_size), g_(p.gates()), d_(p.directions()),
        l_(p.num_layers) {
    int64_t total = 0;
    for (const RnnCellOffsets& o : RnnParamLayout(p, dims.c, &total)) {
      CellWeights<T> w;
      w.in = o.in;
      w.offset_wx = o.wx;
      w.offset_wh = o.wh;
      w.offset_bx = o.bx;
      w.offset_bh = o.bh;
      w.wx = params + o.wx;
      w.wh = params + o.wh;
      w.bx = params + o.bx;
      w.bh = params + o.bh;
      cells_.push_back(w);
    }
    const size_t cells = cells_.size();
    ys_.resize(l_);
    gates_.resize(cells);
    hgn_.resize(cells);
    cs_.resize(cells);
    hs_.resize(cells);
  }

  // Runs every layer. h0/c0: (L*D, N, H) (c0 null unless lstm); hy/cy likewise or null.
  // mask: (L-1, T, N, D*H) factors applied to each lower layer's output, or null.
  void Forward(const T* x, const T* h0, const T* c0, const T* mask, T* y, T* hy, T* cy) {
    mask_ = mask;
    for (int64_t l = 0; l < l_; ++l) {
      T* out = y;
      if (l < l_ - 1) {
        ys_[l].assign(t_ * n_ * d_ * h_, T(0));
        out = ys_[l].data();
      }
      const T* in = l == 0 ? x : ys_[l - 1].data();
      for (int64_t d = 0; d < d_; ++d) {
        const int64_t k = l * d_ + d, sh = k * n_ * h_;
        ForwardCell(k, d, in, h0 + sh, c0 ? c0 + sh : nullptr, out, hy ? hy + sh : nullptr,
                    cy ? cy + sh : nullptr);
      }
      if (mask_ != nullptr && l < l_ - 1) {
        const int64_t size = t_ * n_ * d_ * h_;
        for (int64_t i = 0; i < size; ++i) out[i] *= mask_[l * size + i];
      }
    }
  }

  // Back-propagates dy (T, N, D*H) and the final-state gradients (null: zero) after Forward.
  // Writes (overwrites) dx, dparams, dh0, dc0; a null destination is skipped where it can be.
  void Backward(const T* x, const T* h0, const T* c0, const T* dy, const T* dhy, const T* dcy,
                T* dx, T* dparams, T* dh0, T* dc0) {
    std::vector<T> dy_layer(dy, dy + t_ * n_ * d_ * h_), dx_layer;
    for (int64_t l = l_ - 1; l >= 0; --l) {
      const T* in = l == 0 ? x : ys_[l - 1].data();
      const int64_t in_size = cells_[l * d_].in;
      T* dx_out = nullptr;
      if (l > 0) {
        dx_layer.assign(t_ * n_ * in_size, T(0));
        dx_out = dx_layer.data();
      } else if (dx != nullptr) {
        std::fill(dx, dx + t_ * n_ * in_size, T(0));
        dx_out = dx;
      }
      for (int64_t d = 0; d < d_; ++d) {
        const int64_t k = l * d_ + d, sh = k * n_ * h_;
        BackwardCell(k, d, in, h0 + sh, c0 ? c0 + sh : nullptr, dy_layer.data(),
                     dhy ? dhy + sh : nullptr, dcy ? dcy + sh : nullptr, dx_out, dparams,
                     dh0 + sh, dc0 ? dc0 + sh : nullptr);
      }
      if (l > 0 && mask_ != nullptr) {
        const int64_t size = t_ * n_ * d_ * h_;
        for (int64_t i = 0; i < size; ++i) dx_layer[i] *= mask_[(l - 1) * size + i];
      }
      if (l > 0) dy_layer.swap(dx_layer);
    }
  }

 private:
  // Time index of the s-th step direction d takes.
  int64_t TimeAt(int64_t d, int64_t s) const { return d == 0 ? s : t_ - 1 - s; }

  void ForwardCell(int64_t k, int64_t d, const T* x, const T* h0, const T* c0, T* y, T* hy,
                   T* cy) {
    const CellWeights<T>& w = cells_[k];
    const int64_t gh = g_ * h_, tn = t_ * n_, dh = d_ * h_;
    std::vector<T>& gates = gates_[k];
    gates.assign(tn * gh, T(0));
    Gemm(false, true, tn, gh, w.in, x, w.in, w.wx, w.in, T(0), gates.data(), gh);
    for (int64_t r = 0; r < tn; ++r) {
      for (int64_t j = 0; j < gh; ++j) gates[r * gh + j] += w.bx[j];
    }
    hs_[k].assign(tn * h_, T(0));
    if (p_.mode == RnnMode::kLstm) cs_[k].assign(tn * h_, T(0));
    if (p_.mode == RnnMode::kGru) hgn_[k].assign(tn * h_, T(0));
    std::vector<T> hg(n_ * gh);
    const T* h_prev = h0;
    const T* c_prev = c0;
    for (int64_t s = 0; s < t_; ++s) {
      const int64_t t = TimeAt(d, s);
      Gemm(false, true, n_, gh, h_, h_prev, h_, w.wh, h_, T(0), hg.data(), gh);
      T* a = gates.data() + t * n_ * gh;
      T* h = hs_[k].data() + t * n_ * h_;
#pragma omp parallel for schedule(static) if (n_ * gh >= kParallelUnits)
      for (int64_t b = 0; b < n_; ++b) {
        T* ab = a + b * gh;
        const T* hgb = hg.data() + b * gh;
        for (int64_t j = 0; j < h_; ++j) {
          T out = T(0);
          switch (p_.mode) {
            case RnnMode::kRelu:
            case RnnMode::kTanh: {
              const T v = ab[j] + hgb[j] + w.bh[j];
              ab[j] = p_.mode == RnnMode::kTanh ? Tanh(v) : std::max(v, T(0));
              out = ab[j];
              break;
            }
            case RnnMode::kLstm: {
              T& i = ab[j];
              T& f = ab[h_ + j];
              T& g = ab[2 * h_ + j];
              T& o = ab[3 * h_ + j];
              i = Sigmoid(i + hgb[j] + w.bh[j]);
              f = Sigmoid(f + hgb[h_ + j] + w.bh[h_ + j]);
              g = Tanh(g + hgb[2 * h_ + j] + w.bh[2 * h_ + j]);
              o = Sigmoid(o + hgb[3 * h_ + j] + w.bh[3 * h_ + j]);
              const T c = f * c_prev[b * h_ + j] + i * g;
              cs_[k][(t * n_ + b) * h_ + j] = c;
              out = o * Tanh(c);
              break;
            }
            case RnnMode::kGru: {
              T& r = ab[j];
              T& z = ab[h_ + j];
              T& nn = ab[2 * h_ + j];
              r = Sigmoid(r + hgb[j] + w.bh[j]);
              z = Sigmoid(z + hgb[h_ + j] + w.bh[h_ + j]);
              const T hn = hgb[2 * h_ + j] + w.bh[2 * h_ + j];
              hgn_[k][(t * n_ + b) * h_ + j] = hn;
              nn = Tanh(nn + r * hn);
              out = (T(1) - z) * nn + z * h_prev[b * h_ + j];
              break;
            }
          }
          h[b * h_ + j] = out;
          y[(t * n_ + b) * dh + d * h_ + j] = out;
        }
      }
      h_prev = h;
      if (p_.mode == RnnMode::kLstm) c_prev = cs_[k].data() + t * n_ * h_;
    }
    if (hy != nullptr) std::copy(h_prev, h_prev + n_ * h_, hy);
    if (cy != nullptr && c_prev != nullptr) std::copy(c_prev, c_prev + n_ * h_, cy);
  }

  void BackwardCell(int64_t k, int64_t d, const T* x, const T* h0, const T* c0, const T* dy,
                    const T* dhy, const T* dcy, T* dx, T* dparams, T* dh0, T* dc0) {
    const CellWeights<T>& w = cells_[k];
    const int64_t gh = g_ * h_, tn = t_ * n_, dhw = d_ * h_;
    const bool lstm = p_.mode == RnnMode::kLstm;
    // dhgs: each step's gradient of the h2h gates (GRU's n gate differs from dxg's), and
    // hprev the h each step read, both by time: dW_h2h and db_h2h are one GEMM and one sum
    // over all steps after the loop rather than a thin GEMM per step.
    std::vector<T> dh(n_ * h_, T(0)), dc(n_ * h_, T(0)), dxg(tn * gh, T(0));
    std::vector<T> dhgs(p_.mode == RnnMode::kGru ? tn * gh : 0), hprev(tn * h_);
    std::vector<T> dh_next(n_ * h_);
    if (dhy != nullptr) std::copy(dhy, dhy + n_ * h_, dh.begin());
    if (lstm && dcy != nullptr) std::copy(dcy, dcy + n_ * h_, dc.begin());
    T* dwh = dparams + w.offset_wh;
    T* dbh = dparams + w.offset_bh;
    for (int64_t s = t_ - 1; s >= 0; --s) {
      const int64_t t = TimeAt(d, s);
      const T* h_prev = s == 0 ? h0 : hs_[k].data() + TimeAt(d, s - 1) * n_ * h_;
      const T* c_prev = !lstm ? nullptr : s == 0 ? c0 : cs_[k].data() + TimeAt(d, s - 1) * n_ * h_;
      const T* a = gates_[k].data() + t * n_ * gh;
      T* da = dxg.data() + t * n_ * gh;
      T* dhg = dhgs.empty() ? da : dhgs.data() + t * n_ * gh;
      std::copy(h_prev, h_prev + n_ * h_, hprev.data() + t * n_ * h_);
      std::fill(dh_next.begin(), dh_next.end(), T(0));
#pragma omp parallel for schedule(static) if (n_ * gh >= kParallelUnits)
      for (int64_t b = 0; b < n_; ++b) {
        const T* ab = a + b * gh;
        T* dab = da + b * gh;
        T* dhb = dhg + b * gh;
        for (int64_t j = 0; j < h_; ++j) {
          const int64_t e = b * h_ + j;
          const T gout = dh[e] + dy[(t * n_ + b) * dhw + d * h_ + j];
          switch (p_.mode) {
            case RnnMode::kRelu:  // dhb is dab
              dab[j] = ab[j] > T(0) ? gout : T(0);
              break;
            case RnnMode::kTanh:
              dab[j] = gout * (T(1) - ab[j] * ab[j]);
              break;
            case RnnMode::kLstm: {
              const T i = ab[j], f = ab[h_ + j], g = ab[2 * h_ + j], o = ab[3 * h_ + j];
              const T tc = Tanh(cs_[k][(t * n_ + b) * h_ + j]);
              const T dcell = dc[e] + gout * o * (T(1) - tc * tc);
              dab[j] = dcell * g * i * (T(1) - i);
              dab[h_ + j] = dcell * c_prev[e] * f * (T(1) - f);
              dab[2 * h_ + j] = dcell * i * (T(1) - g * g);
              dab[3 * h_ + j] = gout * tc * o * (T(1) - o);  // dhb is dab
              dc[e] = dcell * f;
              break;
            }
            case RnnMode::kGru: {
              const T r = ab[j], z = ab[h_ + j], nn = ab[2 * h_ + j];
              const T hn = hgn_[k][(t * n_ + b) * h_ + j];
              const T dan = gout * (T(1) - z) * (T(1) - nn * nn);
              const T daz = gout * (h_prev[e] - nn) * z * (T(1) - z);
              const T dar = dan * hn * r * (T(1) - r);
              dab[j] = dar;
              dab[h_ + j] = daz;
              dab[2 * h_ + j] = dan;
              dhb[j] = dar;
              dhb[h_ + j] = daz;
              dhb[2 * h_ + j] = dan * r;
              dh_next[e] = gout * z;
              break;
            }
          }
        }
      }
      // dh_prev = dhg * W_h2h (+ the direct GRU path already in dh_next).
      Gemm(false, false, n_, h_, gh, dhg, gh, w.wh, h_, T(1), dh_next.data(), h_);
      dh.swap(dh_next);
    }
    const T* all_dhg = dhgs.empty() ? dxg.data() : dhgs.data();
    Gemm(true, false, gh, h_, tn, all_dhg, gh, hprev.data(), h_, T(1), dwh, h_);
    for (int64_t r = 0; r < tn; ++r) {
      for (int64_t j = 0; j < gh; ++j) dbh[j] += all_dhg[r * gh + j];
    }
    Gemm(true, false, gh, w.in, tn, dxg.data(), gh, x, w.in, T(1), dparams + w.offset_wx, w.in);
    T* dbx = dparams + w.offset_bx;
    for (int64_t r = 0; r < tn; ++r) {
      for (int64_t j = 0; j < gh; ++j) dbx[j] += dxg[r * gh + j];
    }
    if (dx != nullptr) Gemm(false, false, tn, w.in, gh, dxg.data(), gh, w.wx, w.in, T(1), dx, w.in);
    std::copy(dh.begin(), dh.end(), dh0);
    if (dc0 != nullptr) std::copy(dc.begin(), dc.end(), dc0);
  }

  const RnnParams& p_;
  const int64_t t_, n_, h_, g_, d_, l_;
  const T* mask_ = nullptr;                  // dropout factors of the last Forward
  std::vector<CellWeights<T>> cells_;        // index layer * D + direction
  std::vector<std::vector<T>> ys_;           // outputs of layers below the top, (T, N, D*H)
  std::vector<std::vector<T>> gates_;        // per cell: activated gates (T, N, G*H)
  std::vector<std::vector<T>> hgn_;          // gru: W_h2h_n h + b_h2h_n (T, N, H)
  std::vector<std::vector<T>> cs_;           // lstm: cell states (T, N, H)
  std::vector<std::vector<T>> hs_;           // hidden states (T, N, H)
};

template <typename T>
void StoreAll(OpReq req, const std::vector<T>& src, const TensorView& dst) {
  if (req == OpReq::kNull) return;
  for (size_t i = 0; i < src.size(); ++i) Store(req, dst.as<T>(), i, src[i]);
}

}  // namespace

absl::StatusOr<RnnDims> RnnCheckInputs(const RnnParams& p, absl::Span<const TensorView> in) {
  const Shape& s = in[0].shape;
  if (s.ndim() != 3) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, ": data must be 3-d, got ", s.ndim()));
  }
  RnnDims dims{s[0], s[1], s[2]};
  MXGRID_ASSIGN_OR_RETURN(int64_t param_size, RnnParamSize(p, dims.c));
  if (in[1].size() != param_size) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, ": parameters have ", in[1].size(),
                                                   " elements, expected ", param_size));
  }
  // The kernels keep every step's gates, states and layer outputs: refuse a call whose
  // workspace could never be allocated rather than abort on it.
  using Wide = __int128;
  const Wide workspace = Wide{dims.t} * dims.n * p.num_layers * p.directions() *
                         p.state_size * (p.gates() + 4);
  if (workspace > (Wide{1} << 40)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        kOp, ": sequence length ", dims.t, ", batch ", dims.n, " and state_size ",
        p.state_size, " need more workspace than mxgrid allows (2^40 elements)"));
  }
  const Shape state{p.num_layers * p.directions(), dims.n, p.state_size};
  for (size_t i = 2; i < in.size(); ++i) {
    if (in[i].shape != state) {
      return absl::InvalidArgumentError(absl::StrCat(kOp, ": state input ", i, " has shape ",
                                                     in[i].shape.ToString(), ", expected ",
                                                     state.ToString()));
    }
  }
  for (const TensorView& v : in) {
    if (v.dtype != in[0].dtype) {
      return absl::InvalidArgumentError(absl::StrCat(kOp, ": every input must have data's dtype"));
    }
  }
  return dims;
}

absl::Status RnnForward(const OpContext& ctx, const OpParams& params,
                        absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                        absl::Span<const TensorView> out) {
  const auto& p = ParamsAs<RnnParams>(params);
  const bool drop = ctx.is_train && p.has_mask();
  if (drop && ctx.rng == nullptr) {
    return absl::FailedPreconditionError("RNN: OpContext::rng is null in training");
  }
  MXGRID_ASSIGN_OR_RETURN(RnnDims dims, RnnCheckInputs(p, in));
  return DispatchFloat(kOp, in[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t state_size = p.num_layers * p.directions() * dims.n * p.state_size;
    const int64_t layer_out = dims.t * dims.n * p.directions() * p.state_size;
    std::vector<T> y(layer_out);
    std::vector<T> hy(state_size), cy(p.has_cell() ? state_size : 0);
    std::vector<T> mask(p.has_mask() ? (p.num_layers - 1) * layer_out : 0, T(1));
    if (drop) {
      const double keep = 1.0 - p.p;
      std::uniform_real_distribution<double> uniform(0.0, 1.0);
      for (T& m : mask) m = uniform(*ctx.rng) < keep ? static_cast<T>(1.0 / keep) : T(0);
    }
    if (dims.t > 0 && dims.n > 0) {
      const RnnInputs<T> arrays{in[0].as<T>(), in[1].as<T>(), in[2].as<T>(),
                                p.has_cell() ? in[3].as<T>() : nullptr,
                                drop ? mask.data() : nullptr};
      if constexpr (std::is_same_v<T, float>) {
        MXGRID_RETURN_IF_ERROR(RnnDnnlForward(p, dims, arrays, ctx.is_train, y.data(),
                                              hy.data(), p.has_cell() ? cy.data() : nullptr));
      } else {
        Rnn<T> rnn(p, dims, arrays.params);
        rnn.Forward(arrays.x, arrays.h0, arrays.c0, arrays.mask, y.data(), hy.data(),
                    p.has_cell() ? cy.data() : nullptr);
      }
    } else {
      std::copy(in[2].as<T>(), in[2].as<T>() + state_size, hy.begin());
      if (p.has_cell()) std::copy(in[3].as<T>(), in[3].as<T>() + state_size, cy.begin());
    }
    StoreAll(reqs[0], y, out[0]);
    if (p.visible_outputs() > 1) StoreAll(reqs[1], hy, out[1]);
    if (p.visible_outputs() > 2) StoreAll(reqs[2], cy, out[2]);
    if (p.has_mask()) StoreAll(reqs[p.visible_outputs()], mask, out[p.visible_outputs()]);
    return absl::OkStatus();
  });
}

absl::Status RnnBackward(const OpContext&, const OpParams& params, const BackwardArgs& a) {
  const auto& p = ParamsAs<RnnParams>(params);
  MXGRID_ASSIGN_OR_RETURN(RnnDims dims, RnnCheckInputs(p, a.inputs));
  // The forward pass's dropout mask (hidden output); without it (outputs not passed) no
  // dropout is applied, as in inference.
  const int mask_index = p.visible_outputs();
  const bool masked = p.has_mask() && static_cast<int>(a.outputs.size()) > mask_index &&
                      a.outputs[mask_index].data != nullptr;
  return DispatchFloat(kOp, a.inputs[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t state_size = p.num_layers * p.directions() * dims.n * p.state_size;
    std::vector<T> dx(a.inputs[0].size(), T(0)), dparams(a.inputs[1].size(), T(0));
    std::vector<T> dh0(state_size, T(0)), dc0(p.has_cell() ? state_size : 0, T(0));
    auto head = [&](size_t i) -> const T* {
      return i < a.out_grads.size() && a.out_grads[i].data != nullptr ? a.out_grads[i].as<T>()
                                                                     : nullptr;
    };
    if (dims.t > 0 && dims.n > 0) {
      const RnnInputs<T> arrays{a.inputs[0].as<T>(), a.inputs[1].as<T>(), a.inputs[2].as<T>(),
                                p.has_cell() ? a.inputs[3].as<T>() : nullptr,
                                masked ? a.outputs[mask_index].as<T>() : nullptr};
      // A missing output gradient (only the states' are wanted) is zero.
      std::vector<T> zero_dy;
      const T* dy = head(0);
      if (dy == nullptr) {
        zero_dy.assign(dims.t * dims.n * p.directions() * p.state_size, T(0));
        dy = zero_dy.data();
      }
      const RnnGrads<T> grads{dy,
                              head(1),
                              head(2),
                              a.reqs[0] == OpReq::kNull ? nullptr : dx.data(),
                              dparams.data(),
                              dh0.data(),
                              p.has_cell() ? dc0.data() : nullptr};
      if constexpr (std::is_same_v<T, float>) {
        // The forward's output finds the state it left (when the caller passes outputs).
        const T* y = !a.outputs.empty() && a.outputs[0].data != nullptr &&
                             a.outputs[0].size() == dims.t * dims.n * p.directions() * p.state_size
                         ? a.outputs[0].as<T>()
                         : nullptr;
        MXGRID_RETURN_IF_ERROR(RnnDnnlBackward(p, dims, arrays, y, grads));
      } else {
        Rnn<T> rnn(p, dims, arrays.params);
        std::vector<T> y(dims.t * dims.n * p.directions() * p.state_size);
        rnn.Forward(arrays.x, arrays.h0, arrays.c0, arrays.mask, y.data(), nullptr, nullptr);
        rnn.Backward(arrays.x, arrays.h0, arrays.c0, grads.dy, grads.dhy, grads.dcy, grads.dx,
                     grads.dparams, grads.dh0, grads.dc0);
      }
    } else {
      const T* dhy = head(1);
      const T* dcy = head(2);
      if (dhy != nullptr) std::copy(dhy, dhy + state_size, dh0.begin());
      if (dcy != nullptr && p.has_cell()) std::copy(dcy, dcy + state_size, dc0.begin());
    }
    StoreAll(a.reqs[0], dx, a.in_grads[0]);
    StoreAll(a.reqs[1], dparams, a.in_grads[1]);
    StoreAll(a.reqs[2], dh0, a.in_grads[2]);
    if (p.has_cell()) StoreAll(a.reqs[3], dc0, a.in_grads[3]);
    return absl::OkStatus();
  });
}

}  // namespace mxgrid::ops::nn
