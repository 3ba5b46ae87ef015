// float32 kernels of the fused RNN operator through oneDNN's RNN primitives, as MXNet 1.9.1
// runs its RNN op on CPU: lstm_forward/backward, lbr_gru_* (MXNet's GRU applies the reset
// gate after the h2h product: oneDNN's linear-before-reset GRU) and vanilla_rnn_* (relu or
// tanh).
//
// One primitive per layer, both directions in it (bidirectional_concat writes MXNet's
// (T, N, 2H) layer output directly): per layer so that the first layer's input size may
// differ from the others' and dropout can act between layers. Each layer's weights are
// copied from the flat parameter vector into oneDNN's plain ldgoi layout (MXNet's
// (G*H, I) blocks, gate by gate; GRU's gates r, z, n become oneDNN's u = z, r, o = n) and
// reordered to the layout the primitive chose (format `any`). Biases: LSTM and vanilla
// cells take one per gate, b_i2h + b_h2h; lbr-GRU takes four, u and r summed, then o's
// input part and o's hidden part (the one the reset gate multiplies) apart.
//
// A forward in training runs the training primitives and leaves each layer's outputs and
// oneDNN workspace in an RnnTrainState (rnn_train_state.h) for its backward; a backward
// without one (another call's, or dropped) runs the forward again. Then the layers' backward
// primitives run top down. oneDNN accumulates weight gradients: they start from zero.
//
// Primitives are built once per geometry and kept per thread (the CPU engine is
// thread_local). Buffers come from a per-thread arena that only grows, oneDNN's scratchpad
// too (scratchpad_mode::user), so steady-state calls allocate nothing.
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "libs/ops/dnnl_util.h"
#include "libs/ops/nn/rnn_internal.h"
#include "libs/ops/nn/rnn_train_state.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace mxgrid::ops::nn {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using DT = memory::data_type;
using dnnl_util::CpuEngine;
using dnnl_util::Mem;

// Per-thread buffers handed out in order, one slot per request, reused by the next call on
// the thread; they only grow. The scratchpad has a slot of its own, shared by every
// primitive of a call (they run one at a time). REQUIRES: one Arena alive per thread.
class Arena {
 public:
  Arena() = default;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // `count` floats, 64-byte aligned, contents undefined. Throws std::bad_alloc.
  float* Floats(int64_t count) {
    std::vector<Buffer>& buffers = Buffers();
    if (buffers.size() <= next_) buffers.resize(next_ + 1);
    return Grow(&buffers[next_++], static_cast<size_t>(count) * sizeof(float));
  }
  float* Zeros(int64_t count) {
    float* p = Floats(count);
    std::fill(p, p + count, 0.f);
    return p;
  }
  // A memory of `md` in a fresh slot (no memory when md is empty).
  memory Memory(const memory::desc& md) {
    return memory(md, CpuEngine(), Floats(static_cast<int64_t>((md.get_size() + 3) / 4)));
  }
  memory Scratchpad(const memory::desc& md) {
    thread_local Buffer buffer;
    return memory(md, CpuEngine(), Grow(&buffer, md.get_size()));
  }

 private:
  struct Buffer {
    std::unique_ptr<float, decltype(&std::free)> p{nullptr, &std::free};
    size_t bytes = 0;
  };
  static std::vector<Buffer>& Buffers() {
    thread_local std::vector<Buffer> buffers;
    return buffers;
  }
  static float* Grow(Buffer* b, size_t bytes) {
    if (b->bytes < bytes || b->p == nullptr) {
      const size_t rounded = std::max<size_t>((bytes + 63) / 64 * 64, 64);
      b->p.reset(static_cast<float*>(std::aligned_alloc(64, rounded)));
      b->bytes = 0;
      if (b->p == nullptr) throw std::bad_alloc();
      b->bytes = rounded;
    }
    return b->p.get();
  }

  size_t next_ = 0;
};

dnnl::stream& CpuStream() {
  thread_local dnnl::stream stream(CpuEngine());
  return stream;
}

// One layer's geometry: the cache key.
struct LayerKey {
  RnnMode mode;
  int64_t t, n, in, h, d;
  bool training;  // forward_training + backward, else forward_inference only
  int threads = omp_get_max_threads();
  auto Tie() const { return std::make_tuple(mode, t, n, in, h, d, training, threads); }
  bool operator==(const LayerKey& o) const { return Tie() == o.Tie(); }
  template <typename H>
  friend H AbslHashValue(H h, const LayerKey& k) {
    return H::combine(std::move(h), k.Tie());
  }
  int gates() const { return mode == RnnMode::kLstm ? 4 : mode == RnnMode::kGru ? 3 : 1; }
  // lbr-GRU's extra bias: the hidden part of the o gate.
  int bias_gates() const { return mode == RnnMode::kGru ? 4 : gates(); }
};

// The memory descriptors of one layer, oneDNN's argument order: src_layer, src_iter,
// weights, bias, dst_layer, dst_iter (src_iter_c / dst_iter_c are src_iter's for LSTM).
struct LayerDescs {
  explicit LayerDescs(const LayerKey& k) {
    const int64_t g = k.gates();
    src = memory::desc({k.t, k.n, k.in}, DT::f32, Tag::tnc);
    iter = memory::desc({1, k.d, k.n, k.h}, DT::f32, Tag::ldnc);
    wl_any = memory::desc({1, k.d, k.in, g, k.h}, DT::f32, Tag::any);
    wi_any = memory::desc({1, k.d, k.h, g, k.h}, DT::f32, Tag::any);
    wl_plain = memory::desc({1, k.d, k.in, g, k.h}, DT::f32, Tag::ldgoi);
    wi_plain = memory::desc({1, k.d, k.h, g, k.h}, DT::f32, Tag::ldgoi);
    bias = memory::desc({1, k.d, k.bias_gates(), k.h}, DT::f32, Tag::ldgo);
    dst = memory::desc({k.t, k.n, k.d * k.h}, DT::f32, Tag::tnc);
  }
  memory::desc src, iter, wl_any, wi_any, wl_plain, wi_plain, bias, dst;
};

// A layer's primitives and the layouts they chose; the reorders are absent where the
// chosen layout is the plain one.
struct LayerPrims {
  dnnl::primitive fwd;
  memory::desc fwd_wl, fwd_wi, workspace, fwd_scratchpad;
  std::optional<dnnl::reorder> fwd_wl_in, fwd_wi_in;
  // training only
  std::optional<dnnl::primitive> bwd;
  memory::desc bwd_wl, bwd_wi, bwd_dwl, bwd_dwi, bwd_scratchpad;
  std::optional<dnnl::reorder> bwd_wl_in, bwd_wi_in, bwd_dwl_out, bwd_dwi_out;
};

std::optional<dnnl::reorder> MakeReorder(const memory::desc& from, const memory::desc& to) {
  if (from == to) return std::nullopt;
  return dnnl::reorder(dnnl::reorder::primitive_desc(CpuEngine(), from, CpuEngine(), to));
}

dnnl::primitive_attr UserScratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// Builds the primitives from the forward descriptor and (training) the backward one.
template <typename Fwd, typename Bwd>
LayerPrims Bind(const LayerDescs& ds, const typename Fwd::desc& fd,
                const std::optional<typename Bwd::desc>& bd) {
  const dnnl::primitive_attr attr = UserScratchpad();
  typename Fwd::primitive_desc fpd(fd, attr, CpuEngine());
  LayerPrims p;
  p.fwd = Fwd(fpd);
  p.fwd_wl = fpd.weights_layer_desc();
  p.fwd_wi = fpd.weights_iter_desc();
  p.workspace = fpd.workspace_desc();
  p.fwd_scratchpad = fpd.scratchpad_desc();
  p.fwd_wl_in = MakeReorder(ds.wl_plain, p.fwd_wl);
  p.fwd_wi_in = MakeReorder(ds.wi_plain, p.fwd_wi);
  if (bd) {
    typename Bwd::primitive_desc bpd(*bd, attr, CpuEngine(), fpd);
    p.bwd = Bwd(bpd);
    p.bwd_wl = bpd.weights_layer_desc();
    p.bwd_wi = bpd.weights_iter_desc();
    p.bwd_dwl = bpd.diff_weights_layer_desc();
    p.bwd_dwi = bpd.diff_weights_iter_desc();
    p.bwd_scratchpad = bpd.scratchpad_desc();
    p.bwd_wl_in = MakeReorder(ds.wl_plain, p.bwd_wl);
    p.bwd_wi_in = MakeReorder(ds.wi_plain, p.bwd_wi);
    p.bwd_dwl_out = MakeReorder(p.bwd_dwl, ds.wl_plain);
    p.bwd_dwi_out = MakeReorder(p.bwd_dwi, ds.wi_plain);
  }
  return p;
}

LayerPrims BuildLayer(const LayerKey& k) {
  const LayerDescs ds(k);
  const auto prop =
      k.training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
  const auto dir = k.d == 2 ? dnnl::rnn_direction::bidirectional_concat
                            : dnnl::rnn_direction::unidirectional_left2right;
  const auto bprop = dnnl::prop_kind::backward;
  switch (k.mode) {
    case RnnMode::kLstm: {
      using F = dnnl::lstm_forward;
      using B = dnnl::lstm_backward;
      F::desc fd(prop, dir, ds.src, ds.iter, ds.iter, ds.wl_any, ds.wi_any, ds.bias, ds.dst,
                 ds.iter, ds.iter);
      std::optional<B::desc> bd;
      if (k.training) {
        bd.emplace(bprop, dir, ds.src, ds.iter, ds.iter, ds.wl_any, ds.wi_any, ds.bias, ds.dst,
                   ds.iter, ds.iter, ds.src, ds.iter, ds.iter, ds.wl_any, ds.wi_any, ds.bias,
                   ds.dst, ds.iter, ds.iter);
      }
      return Bind<F, B>(ds, fd, bd);
    }
    case RnnMode::kGru: {
      using F = dnnl::lbr_gru_forward;
      using B = dnnl::lbr_gru_backward;
      F::desc fd(prop, dir, ds.src, ds.iter, ds.wl_any, ds.wi_any, ds.bias, ds.dst, ds.iter);
      std::optional<B::desc> bd;
      if (k.training) {
        bd.emplace(bprop, dir, ds.src, ds.iter, ds.wl_any, ds.wi_any, ds.bias, ds.dst, ds.iter,
                   ds.src, ds.iter, ds.wl_any, ds.wi_any, ds.bias, ds.dst, ds.iter);
      }
      return Bind<F, B>(ds, fd, bd);
    }
    case RnnMode::kRelu:
    case RnnMode::kTanh: {
      using F = dnnl::vanilla_rnn_forward;
      using B = dnnl::vanilla_rnn_backward;
      const auto act = k.mode == RnnMode::kRelu ? dnnl::algorithm::eltwise_relu
                                                : dnnl::algorithm::eltwise_tanh;
      F::desc fd(prop, act, dir, ds.src, ds.iter, ds.wl_any, ds.wi_any, ds.bias, ds.dst,
                 ds.iter);
      std::optional<B::desc> bd;
      if (k.training) {
        bd.emplace(bprop, act, dir, ds.src, ds.iter, ds.wl_any, ds.wi_any, ds.bias, ds.dst,
                   ds.iter, ds.src, ds.iter, ds.wl_any, ds.wi_any, ds.bias, ds.dst, ds.iter);
      }
      return Bind<F, B>(ds, fd, bd);
    }
  }
  throw std::logic_error("RNN: unknown mode");
}

// The calling thread's primitives for `key`, built on first use. The cache is dropped whole
// when it reaches kMaxEntries (shapes that keep changing).
const LayerPrims& Cached(const LayerKey& key) {
  constexpr size_t kMaxEntries = 64;
  thread_local absl::flat_hash_map<LayerKey, std::unique_ptr<LayerPrims>> cache;
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  if (cache.size() >= kMaxEntries) cache.clear();
  auto [pos, inserted] = cache.emplace(key, std::make_unique<LayerPrims>(BuildLayer(key)));
  return *pos->second;
}

// Where each (layer, direction)'s blocks start in the flat parameter vector
// (rnn_internal.h), and which MXNet gate each oneDNN gate is.
class ParamLayout {
 public:
  ParamLayout(const RnnParams& p, int64_t c)
      : mode_(p.mode), g_(p.gates()), h_(p.state_size), d_(p.directions()) {
    int64_t off = 0;
    for (int64_t l = 0; l < p.num_layers; ++l) {
      for (int64_t d = 0; d < d_; ++d) {
        in_.push_back(l == 0 ? c : d_ * h_);
        wx_.push_back(off);
        off += g_ * h_ * in_.back();
        wh_.push_back(off);
        off += g_ * h_ * h_;
      }
    }
    for (size_t k = 0; k < wx_.size(); ++k) {
      bx_.push_back(off);
      off += g_ * h_;
      bh_.push_back(off);
      off += g_ * h_;
    }
  }

  int64_t in(int64_t l) const { return in_[l * d_]; }

  // Layer l's weights in ldgoi (wl: (D, G, H, in), wi: (D, G, H, H)) and oneDNN biases
  // (D, bias gates, H).
  void Pack(int64_t l, const float* params, float* wl, float* wi, float* bias) const {
    const int64_t in = this->in(l);
    for (int64_t d = 0; d < d_; ++d) {
      const int64_t k = l * d_ + d;
      for (int64_t g = 0; g < g_; ++g) {
        const int64_t mg = MxnetGate(g);
        std::copy_n(params + wx_[k] + mg * h_ * in, h_ * in, wl + (d * g_ + g) * h_ * in);
        std::copy_n(params + wh_[k] + mg * h_ * h_, h_ * h_, wi + (d * g_ + g) * h_ * h_);
      }
      const float* bx = params + bx_[k];
      const float* bh = params + bh_[k];
      float* b = bias + d * BiasGates() * h_;
      for (int64_t g = 0; g < g_; ++g) {
        const int64_t mg = MxnetGate(g);
        const bool split = mode_ == RnnMode::kGru && g == 2;  // o: input part only
        for (int64_t j = 0; j < h_; ++j) {
          b[g * h_ + j] = bx[mg * h_ + j] + (split ? 0.f : bh[mg * h_ + j]);
        }
      }
      if (mode_ == RnnMode::kGru) std::copy_n(bh + 2 * h_, h_, b + 3 * h_);
    }
  }

  // The inverse for gradients: writes every gradient block of layer l into dparams.
  void Unpack(int64_t l, const float* dwl, const float* dwi, const float* dbias,
              float* dparams) const {
    const int64_t in = this->in(l);
    for (int64_t d = 0; d < d_; ++d) {
      const int64_t k = l * d_ + d;
      for (int64_t g = 0; g < g_; ++g) {
        const int64_t mg = MxnetGate(g);
        std::copy_n(dwl + (d * g_ + g) * h_ * in, h_ * in, dparams + wx_[k] + mg * h_ * in);
        std::copy_n(dwi + (d * g_ + g) * h_ * h_, h_ * h_, dparams + wh_[k] + mg * h_ * h_);
      }
      const float* b = dbias + d * BiasGates() * h_;
      float* dbx = dparams + bx_[k];
      float* dbh = dparams + bh_[k];
      for (int64_t g = 0; g < g_; ++g) {
        const int64_t mg = MxnetGate(g);
        std::copy_n(b + g * h_, h_, dbx + mg * h_);
        // A summed bias's gradient goes to both parts; GRU's o has its hidden part apart.
        const float* hidden = mode_ == RnnMode::kGru && g == 2 ? b + 3 * h_ : b + g * h_;
        std::copy_n(hidden, h_, dbh + mg * h_);
      }
    }
  }

 private:
  int64_t BiasGates() const { return mode_ == RnnMode::kGru ? 4 : g_; }
  // oneDNN's GRU gates are u, r, o; MXNet's r, z, n (u = z, o = n).
  int64_t MxnetGate(int64_t g) const {
    return mode_ == RnnMode::kGru && g < 2 ? 1 - g : g;
  }

  RnnMode mode_;
  int64_t g_, h_, d_;
  std::vector<int64_t> in_, wx_, wh_, bx_, bh_;
};

// One layer's weights as a primitive reads them: packed plain, then reordered when the
// primitive chose another layout.
struct LayerWeights {
  memory wl, wi, bias;
};

LayerWeights PackLayer(const ParamLayout& layout, int64_t l, const float* params,
                       const LayerDescs& ds, const memory::desc& wl_chosen,
                       const std::optional<dnnl::reorder>& wl_in,
                       const memory::desc& wi_chosen,
                       const std::optional<dnnl::reorder>& wi_in, Arena* arena) {
  memory wl(ds.wl_plain, CpuEngine(), arena->Floats(ds.wl_plain.get_size() / 4));
  memory wi(ds.wi_plain, CpuEngine(), arena->Floats(ds.wi_plain.get_size() / 4));
  memory bias(ds.bias, CpuEngine(), arena->Floats(ds.bias.get_size() / 4));
  layout.Pack(l, params, static_cast<float*>(wl.get_data_handle()),
              static_cast<float*>(wi.get_data_handle()),
              static_cast<float*>(bias.get_data_handle()));
  LayerWeights w{wl, wi, bias};
  if (wl_in) {
    w.wl = arena->Memory(wl_chosen);
    wl_in->execute(CpuStream(), wl, w.wl);
  }
  if (wi_in) {
    w.wi = arena->Memory(wi_chosen);
    wi_in->execute(CpuStream(), wi, w.wi);
  }
  return w;
}

void Scale(float* x, const float* mask, int64_t size) {
  for (int64_t i = 0; i < size; ++i) x[i] *= mask[i];
}

// Runs layer l forward: src (T, N, in) -> dst (T, N, D*H), states at h0/c0 -> hy/cy (each
// (D, N, H)); workspace: training only.
void ForwardLayer(const LayerKey& key, const LayerPrims& prims, const LayerWeights& w,
                  const float* src, const float* h0, const float* c0, float* dst, float* hy,
                  float* cy, const memory* workspace, Arena* arena) {
  const LayerDescs ds(key);
  std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC_LAYER, Mem(ds.src, src)},
      {DNNL_ARG_SRC_ITER, Mem(ds.iter, h0)},
      {DNNL_ARG_WEIGHTS_LAYER, w.wl},
      {DNNL_ARG_WEIGHTS_ITER, w.wi},
      {DNNL_ARG_BIAS, w.bias},
      {DNNL_ARG_DST_LAYER, Mem(ds.dst, dst)},
      {DNNL_ARG_DST_ITER, Mem(ds.iter, hy)},
  };
  if (key.mode == RnnMode::kLstm) {
    args.emplace(DNNL_ARG_SRC_ITER_C, Mem(ds.iter, c0));
    args.emplace(DNNL_ARG_DST_ITER_C, Mem(ds.iter, cy));
  }
  if (workspace != nullptr) args.emplace(DNNL_ARG_WORKSPACE, *workspace);
  if (prims.fwd_scratchpad.get_size() > 0) {
    args.emplace(DNNL_ARG_SCRATCHPAD, arena->Scratchpad(prims.fwd_scratchpad));
  }
  prims.fwd.execute(CpuStream(), args);
}

// One layer's training forward: what its backward reads.
struct LayerRun {
  LayerKey key;
  const LayerPrims* prims;
  const float* src;
  float* dst;
  float* hy;
  float* cy;
  memory workspace;
};

// Buffers of a training forward, per layer: its output, the masked copy the next layer
// reads, final states h and c, oneDNN's workspace.
enum Slot { kDst, kMasked, kHy, kCy, kWorkspace, kSlots };
using BufferFn = std::function<float*(int64_t layer, Slot slot, int64_t count)>;

// Runs every layer forward in training mode (workspaces kept) on buffers from `buffer`.
std::vector<LayerRun> TrainForward(const RnnParams& p, RnnDims dims, const RnnInputs<float>& in,
                                   const ParamLayout& layout, const BufferFn& buffer,
                                   Arena* arena) {
  const int64_t nl = p.num_layers, d = p.directions(), h = p.state_size;
  const int64_t layer_out = dims.t * dims.n * d * h, state = d * dims.n * h;
  std::vector<LayerRun> layers;
  const float* src = in.x;
  for (int64_t l = 0; l < nl; ++l) {
    const LayerKey key{p.mode, dims.t, dims.n, layout.in(l), h, d, true};
    const LayerPrims& prims = Cached(key);
    const LayerDescs ds(key);
    const LayerWeights w = PackLayer(layout, l, in.params, ds, prims.fwd_wl, prims.fwd_wl_in,
                                     prims.fwd_wi, prims.fwd_wi_in, arena);
    const int64_t ws_floats = static_cast<int64_t>((prims.workspace.get_size() + 3) / 4);
    LayerRun run{key,
                 &prims,
                 src,
                 buffer(l, kDst, layer_out),
                 buffer(l, kHy, state),
                 buffer(l, kCy, state),
                 memory(prims.workspace, CpuEngine(), buffer(l, kWorkspace, ws_floats))};
    const int64_t off = l * state;
    ForwardLayer(key, prims, w, src, in.h0 + off, in.c0 ? in.c0 + off : nullptr, run.dst,
                 run.hy, run.cy, &run.workspace, arena);
    CpuStream().wait();
    src = run.dst;
    if (l < nl - 1 && in.mask != nullptr) {
      float* masked = buffer(l, kMasked, layer_out);
      std::copy_n(run.dst, layer_out, masked);
      Scale(masked, in.mask + l * layer_out, layer_out);
      src = masked;
    }
    layers.push_back(std::move(run));
  }
  return layers;
}

// Back-propagates through `layers` (a training forward of this call), top layer first.
void BackwardLayers(const RnnParams& p, RnnDims dims, const RnnInputs<float>& in,
                    const RnnGrads<float>& g, const ParamLayout& layout,
                    const std::vector<LayerRun>& layers, Arena* arena) {
  const int64_t nl = p.num_layers, d = p.directions(), h = p.state_size;
  const int64_t layer_out = dims.t * dims.n * d * h, state = d * dims.n * h;
  const bool lstm = p.mode == RnnMode::kLstm;
  float* zero_states = nullptr;  // diff_dst_iter(_c) when the head gradient is absent
  if (g.dhy == nullptr || (lstm && g.dcy == nullptr)) zero_states = arena->Zeros(state);
  const float* ddst = g.dy;
  for (int64_t l = nl - 1; l >= 0; --l) {
    const LayerRun& layer = layers[l];
    const LayerPrims& prims = *layer.prims;
    const LayerDescs ds(layer.key);
    const LayerWeights w = PackLayer(layout, l, in.params, ds, prims.bwd_wl, prims.bwd_wl_in,
                                     prims.bwd_wi, prims.bwd_wi_in, arena);
    const int64_t off = l * state, in_size = layout.in(l);
    float* dsrc = l == 0 && g.dx != nullptr ? g.dx : arena->Floats(dims.t * dims.n * in_size);
    memory dwl = arena->Memory(prims.bwd_dwl), dwi = arena->Memory(prims.bwd_dwi);
    memory dbias(ds.bias, CpuEngine(), arena->Zeros(ds.bias.get_size() / 4));
    std::memset(dwl.get_data_handle(), 0, prims.bwd_dwl.get_size());
    std::memset(dwi.get_data_handle(), 0, prims.bwd_dwi.get_size());
    std::unordered_map<int, memory> args = {
        {DNNL_ARG_SRC_LAYER, Mem(ds.src, layer.src)},
        {DNNL_ARG_SRC_ITER, Mem(ds.iter, in.h0 + off)},
        {DNNL_ARG_WEIGHTS_LAYER, w.wl},
        {DNNL_ARG_WEIGHTS_ITER, w.wi},
        {DNNL_ARG_BIAS, w.bias},
        {DNNL_ARG_DST_LAYER, Mem(ds.dst, layer.dst)},
        {DNNL_ARG_DST_ITER, Mem(ds.iter, layer.hy)},
        {DNNL_ARG_WORKSPACE, layer.workspace},
        {DNNL_ARG_DIFF_SRC_LAYER, Mem(ds.src, dsrc)},
        {DNNL_ARG_DIFF_SRC_ITER, Mem(ds.iter, g.dh0 + off)},
        {DNNL_ARG_DIFF_WEIGHTS_LAYER, dwl},
        {DNNL_ARG_DIFF_WEIGHTS_ITER, dwi},
        {DNNL_ARG_DIFF_BIAS, dbias},
        {DNNL_ARG_DIFF_DST_LAYER, Mem(ds.dst, ddst)},
        {DNNL_ARG_DIFF_DST_ITER, Mem(ds.iter, g.dhy ? g.dhy + off : zero_states)},
    };
    if (lstm) {
      args.emplace(DNNL_ARG_SRC_ITER_C, Mem(ds.iter, in.c0 + off));
      args.emplace(DNNL_ARG_DST_ITER_C, Mem(ds.iter, layer.cy));
      args.emplace(DNNL_ARG_DIFF_SRC_ITER_C, Mem(ds.iter, g.dc0 + off));
      args.emplace(DNNL_ARG_DIFF_DST_ITER_C, Mem(ds.iter, g.dcy ? g.dcy + off : zero_states));
    }
    if (prims.bwd_scratchpad.get_size() > 0) {
      args.emplace(DNNL_ARG_SCRATCHPAD, arena->Scratchpad(prims.bwd_scratchpad));
    }
    prims.bwd->execute(CpuStream(), args);
    // The weight gradients back in the plain layout, then into the parameter vector.
    memory dwl_plain = dwl, dwi_plain = dwi;
    if (prims.bwd_dwl_out) {
      dwl_plain = arena->Memory(ds.wl_plain);
      prims.bwd_dwl_out->execute(CpuStream(), dwl, dwl_plain);
    }
    if (prims.bwd_dwi_out) {
      dwi_plain = arena->Memory(ds.wi_plain);
      prims.bwd_dwi_out->execute(CpuStream(), dwi, dwi_plain);
    }
    CpuStream().wait();
    layout.Unpack(l, static_cast<const float*>(dwl_plain.get_data_handle()),
                  static_cast<const float*>(dwi_plain.get_data_handle()),
                  static_cast<const float*>(dbias.get_data_handle()), g.dparams);
    if (l > 0 && in.mask != nullptr) Scale(dsrc, in.mask + (l - 1) * layer_out, layer_out);
    ddst = dsrc;
  }
}

RnnCallId CallId(const RnnParams& p, RnnDims dims, const RnnInputs<float>& in, const float* y) {
  RnnCallId id;
  id.x = in.x;
  id.params = in.params;
  id.h0 = in.h0;
  id.c0 = in.c0;
  id.masked = in.mask != nullptr;
  id.mode = p.mode;
  id.layers = p.num_layers;
  id.state_size = p.state_size;
  id.directions = p.directions();
  id.t = dims.t;
  id.n = dims.n;
  id.c = dims.c;
  id.y_checksum = RnnChecksum(y, dims.t * dims.n * p.directions() * p.state_size);
  return id;
}

absl::Status Failed(const char* pass, const std::exception& e) {
  return dnnl_util::Error("RNN", pass, e);
}

absl::Status OutOfMemory(const char* pass) {
  return absl::ResourceExhaustedError(
      absl::StrCat("RNN: out of memory for the oneDNN ", pass, " pass's buffers"));
}

// Inference forward: layer by layer, outputs of lower layers in arena buffers.
void InferenceForward(const RnnParams& p, RnnDims dims, const RnnInputs<float>& in,
                      const ParamLayout& layout, float* y, float* hy, float* cy,
                      Arena* arena) {
  const int64_t d = p.directions(), h = p.state_size, layer_out = dims.t * dims.n * d * h;
  const int64_t state = d * dims.n * h;
  float* spare_states = arena->Floats(2 * state);  // dst_iter(_c) when not wanted
  float* outs[2] = {nullptr, nullptr};
  if (p.num_layers > 1) outs[0] = arena->Floats(layer_out);
  if (p.num_layers > 2) outs[1] = arena->Floats(layer_out);
  const float* src = in.x;
  for (int64_t l = 0; l < p.num_layers; ++l) {
    const LayerKey key{p.mode, dims.t, dims.n, layout.in(l), h, d, false};
    const LayerPrims& prims = Cached(key);
    const LayerDescs ds(key);
    const LayerWeights w = PackLayer(layout, l, in.params, ds, prims.fwd_wl, prims.fwd_wl_in,
                                     prims.fwd_wi, prims.fwd_wi_in, arena);
    const bool top = l == p.num_layers - 1;
    float* dst = top ? y : outs[l % 2];
    const int64_t off = l * state;
    ForwardLayer(key, prims, w, src, in.h0 + off, in.c0 ? in.c0 + off : nullptr, dst,
                 hy ? hy + off : spare_states, cy ? cy + off : spare_states + state, nullptr,
                 arena);
    CpuStream().wait();
    if (!top && in.mask != nullptr) Scale(dst, in.mask + l * layer_out, layer_out);
    src = dst;
  }
}

}  // namespace

absl::Status RnnDnnlForward(const RnnParams& p, RnnDims dims, const RnnInputs<float>& in,
                            bool keep_for_backward, float* y, float* hy, float* cy) {
  try {
    Arena arena;
    const ParamLayout layout(p, dims.c);
    if (!keep_for_backward) {
      InferenceForward(p, dims, in, layout, y, hy, cy, &arena);
      return absl::OkStatus();
    }
    RnnTrainStates& store = RnnTrainStates::Global();
    std::unique_ptr<RnnTrainState> state = store.Recycled();
    state->buffers.resize(p.num_layers * kSlots);
    const BufferFn buffer = [&](int64_t l, Slot slot, int64_t count) {
      return state->buffers[l * kSlots + slot].Get(count);
    };
    const std::vector<LayerRun> layers = TrainForward(p, dims, in, layout, buffer, &arena);
    const int64_t states = p.directions() * dims.n * p.state_size;
    std::copy_n(layers.back().dst, dims.t * dims.n * p.directions() * p.state_size, y);
    for (int64_t l = 0; l < p.num_layers; ++l) {
      if (hy != nullptr) std::copy_n(layers[l].hy, states, hy + l * states);
      if (cy != nullptr) std::copy_n(layers[l].cy, states, cy + l * states);
    }
    state->id = CallId(p, dims, in, y);
    store.Keep(std::move(state));
  } catch (const std::bad_alloc&) {
    return OutOfMemory("forward");
  } catch (const std::exception& e) {
    return Failed("forward", e);
  }
  return absl::OkStatus();
}

absl::Status RnnDnnlBackward(const RnnParams& p, RnnDims dims, const RnnInputs<float>& in,
                             const float* y, const RnnGrads<float>& g) {
  try {
    Arena arena;
    const ParamLayout layout(p, dims.c);
    RnnTrainStates& store = RnnTrainStates::Global();
    std::unique_ptr<RnnTrainState> state;
    if (y != nullptr) state = store.Take(CallId(p, dims, in, y));
    if (state != nullptr) {
      // The forward's layers again, from the buffers it left.
      const BufferFn buffer = [&](int64_t l, Slot slot, int64_t) {
        return state->buffers[l * kSlots + slot].Get(0);
      };
      const int64_t d = p.directions(), h = p.state_size;
      std::vector<LayerRun> layers;
      const float* src = in.x;
      for (int64_t l = 0; l < p.num_layers; ++l) {
        const LayerKey key{p.mode, dims.t, dims.n, layout.in(l), h, d, true};
        const LayerPrims& prims = Cached(key);
        layers.push_back({key, &prims, src, buffer(l, kDst, 0), buffer(l, kHy, 0),
                          buffer(l, kCy, 0),
                          memory(prims.workspace, CpuEngine(), buffer(l, kWorkspace, 0))});
        src = l < p.num_layers - 1 && in.mask != nullptr ? buffer(l, kMasked, 0)
                                                         : layers.back().dst;
      }
      BackwardLayers(p, dims, in, g, layout, layers, &arena);
      store.Recycle(std::move(state));
    } else {
      // No state for this call: run the forward again, on arena buffers.
      const BufferFn buffer = [&](int64_t, Slot, int64_t count) { return arena.Floats(count); };
      const std::vector<LayerRun> layers = TrainForward(p, dims, in, layout, buffer, &arena);
      BackwardLayers(p, dims, in, g, layout, layers, &arena);
    }
  } catch (const std::bad_alloc&) {
    return OutOfMemory("backward");
  } catch (const std::exception& e) {
    return Failed("backward", e);
  }
  return absl::OkStatus();
}

}  // namespace mxgrid::ops::nn
