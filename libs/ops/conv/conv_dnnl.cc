// float32 convolution through oneDNN on plain NCHW / (G)OIHW or NCDHW / (G)OIDHW caller memory.
//
// Primitives are built once per geometry and kept in a per-thread cache (the CPU engine is
// thread_local, and a primitive runs only on streams of its own engine). The forward and the
// weight gradient let oneDNN choose the layouts of weights, output and output gradient
// (format `any`): its jit kernels want blocked layouts (nChw8c, Acdb8a) and beat the gemm
// path on plain ones by 3-5x for the weight gradient; the data gradient keeps plain layouts
// (gemm), as MXNet does. Where oneDNN picks a layout other than the caller's, cached reorders
// move data in and out of per-thread scratch buffers that only grow; oneDNN's own scratchpad
// comes from them too (scratchpad_mode::user), so steady-state calls allocate nothing.
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
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

// A primitive with, per argument, the caller's plain layout and the one the primitive runs on
// (and the reorder between them where they differ).
struct BoundPrimitive {
  struct Arg {
    int id;
    bool output;
    memory::desc plain, chosen;
    std::optional<dnnl::reorder> reorder;  // plain -> chosen (input) or back (output)
  };
  dnnl::primitive prim;
  std::vector<Arg> args;
  memory::desc scratchpad;  // the primitive's own scratch, passed in from Scratch()
};

// Primitives take their scratchpad from the caller (Run), not from a malloc per execution.
dnnl::primitive_attr UserScratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

BoundPrimitive::Arg MakeArg(int id, bool output, const memory::desc& plain,
                            const memory::desc& chosen) {
  BoundPrimitive::Arg a{id, output, plain, chosen, std::nullopt};
  if (chosen != plain) {
    memory from(output ? chosen : plain, CpuEngine(), DNNL_MEMORY_NONE);
    memory to(output ? plain : chosen, CpuEngine(), DNNL_MEMORY_NONE);
    a.reorder = dnnl::reorder(from, to);
  }
  return a;
}

// Scratch buffers of the calling thread, one per argument position; they only grow.
float* Scratch(size_t slot, size_t bytes) {
  struct Buffer {
    std::unique_ptr<float, decltype(&std::free)> p{nullptr, &std::free};
    size_t bytes = 0;
  };
  thread_local std::vector<Buffer> buffers;
  if (buffers.size() <= slot) buffers.resize(slot + 1);
  Buffer& b = buffers[slot];
  if (b.bytes < bytes) {
    const size_t rounded = (bytes + 63) / 64 * 64;
    b.p.reset(static_cast<float*>(std::aligned_alloc(64, rounded)));
    if (b.p == nullptr) {
      b.bytes = 0;
      throw std::bad_alloc();  // ResourceExhausted at the entry points
    }
    b.bytes = rounded;
  }
  return b.p.get();
}

dnnl::stream& CpuStream() {
  thread_local dnnl::stream stream(CpuEngine());
  return stream;
}

// An input already reordered by an earlier Run of the same call: the caller's pointer, and
// the chosen-layout copy of it (in that Run's scratch).
struct Reordered {
  const float* user;
  memory chosen;
};

// Runs `b` on caller pointers given per argument id (in b.args order), with scratch slots
// from `slot_base` on. An input found in `reuse` (same pointer, same chosen layout) is taken
// from there instead of being reordered again; inputs this Run reorders are appended to it.
// REQUIRES: Runs sharing `reuse` use disjoint scratch slots.
void Run(const BoundPrimitive& b, const std::vector<const float*>& ptrs, size_t slot_base = 0,
         std::vector<Reordered>* reuse = nullptr) {
  dnnl::stream& stream = CpuStream();
  std::unordered_map<int, memory> args;
  std::vector<std::pair<memory, memory>> outputs;  // (chosen, plain) to reorder back
  for (size_t i = 0; i < b.args.size(); ++i) {
    const BoundPrimitive::Arg& a = b.args[i];
    memory user = Mem(a.plain, ptrs[i]);
    if (!a.reorder) {
      args.emplace(a.id, user);
      continue;
    }
    if (!a.output && reuse != nullptr) {
      auto it = std::find_if(reuse->begin(), reuse->end(), [&](const Reordered& r) {
        return r.user == ptrs[i] && r.chosen.get_desc() == a.chosen;
      });
      if (it != reuse->end()) {
        args.emplace(a.id, it->chosen);
        continue;
      }
    }
    memory scratch(a.chosen, CpuEngine(), Scratch(slot_base + i, a.chosen.get_size()));
    if (a.output) {
      outputs.emplace_back(scratch, user);
    } else {
      a.reorder->execute(stream, user, scratch);
      if (reuse != nullptr) reuse->push_back({ptrs[i], scratch});
    }
    args.emplace(a.id, scratch);
  }
  if (b.scratchpad.get_size() > 0) {
    args.emplace(DNNL_ARG_SCRATCHPAD,
                 memory(b.scratchpad, CpuEngine(),
                        Scratch(slot_base + b.args.size(), b.scratchpad.get_size())));
  }
  b.prim.execute(stream, args);
  size_t k = 0;
  for (const BoundPrimitive::Arg& a : b.args) {
    if (a.reorder && a.output) {
      a.reorder->execute(stream, outputs[k].first, outputs[k].second);
      ++k;
    }
  }
  stream.wait();
}

// The memory descriptors and geometry of one convolution: 2-D (NCHW, (G)OIHW) for ops of one
// or two spatial dims, 3-D (NCDHW, (G)OIDHW) for three.
struct Descs {
  explicit Descs(const ConvGeom& g) {
    const bool three = g.nsp == 3;
    const int64_t fg = g.f / g.groups, cg = g.c / g.groups;
    memory::dims x{g.n, g.c}, y{g.n, g.f}, w{fg, cg}, k;
    if (three) {
      x.push_back(g.d);
      y.push_back(g.od);
      k.push_back(g.kd);
      strides.push_back(g.sd);
      dilates.push_back(g.dd - 1);
      pad.push_back(g.pd);
    }
    x.insert(x.end(), {g.h, g.w});
    y.insert(y.end(), {g.oh, g.ow});
    k.insert(k.end(), {g.kh, g.kw});
    strides.insert(strides.end(), {g.sh, g.sw});
    dilates.insert(dilates.end(), {g.dh - 1, g.dw - 1});
    pad.insert(pad.end(), {g.ph, g.pw});
    w.insert(w.end(), k.begin(), k.end());
    if (g.groups > 1) w.insert(w.begin(), g.groups);
    const Tag act = three ? Tag::ncdhw : Tag::nchw;
    const Tag wt = g.groups > 1 ? (three ? Tag::goidhw : Tag::goihw)
                                : (three ? Tag::oidhw : Tag::oihw);
    src = memory::desc(x, DT::f32, act);
    dst = memory::desc(y, DT::f32, act);
    any_dst = memory::desc(y, DT::f32, Tag::any);
    weights = memory::desc(w, DT::f32, wt);
    any_weights = memory::desc(w, DT::f32, Tag::any);
    bias = memory::desc({g.f}, DT::f32, Tag::x);
    // 3-D: oneDNN's jit kernels take only blocked activations (nCdhw16c) when channels are
    // many, and on plain ones it falls back to im2col + gemm, 5-10x slower for a 3x3x3
    // kernel; so every pass lets it choose the activations' layouts too (as MXNet does),
    // reordering in and out. 2-D keeps plain activations (jit kernels take them, measured).
    io_src = three ? memory::desc(x, DT::f32, Tag::any) : src;
    io_dst = three ? memory::desc(y, DT::f32, Tag::any) : dst;
    io_weights = three ? memory::desc(w, DT::f32, Tag::any) : weights;
  }
  memory::desc src, weights, any_weights, bias, dst, any_dst;
  // The layouts the data-gradient pass and the forward's src are built with: plain (2-D) or
  // `any` (3-D).
  memory::desc io_src, io_dst, io_weights;
  memory::dims strides, dilates, pad;
};

dnnl::convolution_forward::primitive_desc ForwardPd(const Descs& d, bool with_bias) {
  auto desc = with_bias ? dnnl::convolution_forward::desc(
                              dnnl::prop_kind::forward_training,
                              dnnl::algorithm::convolution_direct, d.io_src, d.any_weights,
                              d.bias, d.any_dst, d.strides, d.dilates, d.pad, d.pad)
                        : dnnl::convolution_forward::desc(
                              dnnl::prop_kind::forward_training,
                              dnnl::algorithm::convolution_direct, d.io_src, d.any_weights,
                              d.any_dst, d.strides, d.dilates, d.pad, d.pad);
  return dnnl::convolution_forward::primitive_desc(desc, UserScratchpad(), CpuEngine());
}

BoundPrimitive BindForward(const Descs& d, bool with_bias) {
  auto pd = ForwardPd(d, with_bias);
  BoundPrimitive b{dnnl::convolution_forward(pd), {}, pd.scratchpad_desc()};
  b.args.push_back(MakeArg(DNNL_ARG_SRC, false, d.src, pd.src_desc()));
  b.args.push_back(MakeArg(DNNL_ARG_WEIGHTS, false, d.weights, pd.weights_desc()));
  if (with_bias) b.args.push_back(MakeArg(DNNL_ARG_BIAS, false, d.bias, pd.bias_desc()));
  b.args.push_back(MakeArg(DNNL_ARG_DST, true, d.dst, pd.dst_desc()));
  return b;
}

BoundPrimitive BindBackwardData(const Descs& d) {
  // 2-D: plain layouts throughout: the gemm kernel, no reorders (blocked ones would need dy
  // and dx reordered, which costs more than it saves at these sizes). 3-D: see Descs.
  auto fwd_desc = dnnl::convolution_forward::desc(
      dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, d.io_src,
      d.io_weights, d.io_dst, d.strides, d.dilates, d.pad, d.pad);
  dnnl::convolution_forward::primitive_desc fwd(fwd_desc, CpuEngine());
  dnnl::convolution_backward_data::desc desc(dnnl::algorithm::convolution_direct, d.io_src,
                                             d.io_weights, d.io_dst, d.strides, d.dilates,
                                             d.pad, d.pad);
  dnnl::convolution_backward_data::primitive_desc pd(desc, UserScratchpad(), CpuEngine(), fwd);
  BoundPrimitive b{dnnl::convolution_backward_data(pd), {}, pd.scratchpad_desc()};
  b.args.push_back(MakeArg(DNNL_ARG_DIFF_DST, false, d.dst, pd.diff_dst_desc()));
  b.args.push_back(MakeArg(DNNL_ARG_WEIGHTS, false, d.weights, pd.weights_desc()));
  b.args.push_back(MakeArg(DNNL_ARG_DIFF_SRC, true, d.src, pd.diff_src_desc()));
  return b;
}

BoundPrimitive BindBackwardWeights(const Descs& d, bool with_bias) {
  auto fwd = ForwardPd(d, with_bias);
  auto desc = with_bias ? dnnl::convolution_backward_weights::desc(
                              dnnl::algorithm::convolution_direct, d.io_src, d.any_weights,
                              d.bias, d.any_dst, d.strides, d.dilates, d.pad, d.pad)
                        : dnnl::convolution_backward_weights::desc(
                              dnnl::algorithm::convolution_direct, d.io_src, d.any_weights,
                              d.any_dst, d.strides, d.dilates, d.pad, d.pad);
  dnnl::convolution_backward_weights::primitive_desc pd(desc, UserScratchpad(), CpuEngine(),
                                                        fwd);
  BoundPrimitive b{dnnl::convolution_backward_weights(pd), {}, pd.scratchpad_desc()};
  b.args.push_back(MakeArg(DNNL_ARG_SRC, false, d.src, pd.src_desc()));
  b.args.push_back(MakeArg(DNNL_ARG_DIFF_DST, false, d.dst, pd.diff_dst_desc()));
  b.args.push_back(MakeArg(DNNL_ARG_DIFF_WEIGHTS, true, d.weights, pd.diff_weights_desc()));
  if (with_bias) b.args.push_back(MakeArg(DNNL_ARG_DIFF_BIAS, true, d.bias, pd.diff_bias_desc()));
  return b;
}

enum class Pass { kForward, kBackwardData, kBackwardWeights };

// A primitive's threading is fixed when it is built (it starts that many OpenMP threads
// whatever the caller's limit later is), so the thread count is part of the key.
struct Key {
  ConvGeom g;
  bool bias;
  Pass pass;
  int threads = omp_get_max_threads();
  auto Tie() const {
    return std::make_tuple(g.n, g.c, g.d, g.h, g.w, g.f, g.od, g.oh, g.ow, g.kd, g.kh, g.kw,
                           g.sd, g.sh, g.sw, g.pd, g.ph, g.pw, g.dd, g.dh, g.dw, g.groups, g.nsp,
                           bias, pass, threads);
  }
  bool operator==(const Key& o) const { return Tie() == o.Tie(); }
  template <typename H>
  friend H AbslHashValue(H h, const Key& k) {
    return H::combine(std::move(h), k.Tie());
  }
};

// The calling thread's primitive for `key`, built on first use. The cache is dropped whole
// when it reaches kMaxEntries (shapes that keep changing).
const BoundPrimitive& Cached(const Key& key) {
  constexpr size_t kMaxEntries = 256;
  thread_local absl::flat_hash_map<Key, std::unique_ptr<BoundPrimitive>> cache;
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  if (cache.size() >= kMaxEntries) cache.clear();
  const Descs d(key.g);
  BoundPrimitive b = key.pass == Pass::kForward       ? BindForward(d, key.bias)
                     : key.pass == Pass::kBackwardData ? BindBackwardData(d)
                                                       : BindBackwardWeights(d, key.bias);
  auto [pos, inserted] = cache.emplace(key, std::make_unique<BoundPrimitive>(std::move(b)));
  return *pos->second;
}

absl::Status OutOfMemory(const char* what) {
  return absl::ResourceExhaustedError(
      absl::StrCat("Convolution: out of memory for the ", what, " pass's scratch buffers"));
}

}  // namespace

absl::Status DnnlConvForward(const ConvGeom& g, const float* x, const float* w,
                             const float* bias, float* y) {
  try {
    const bool with_bias = bias != nullptr;
    const BoundPrimitive& b = Cached({g, with_bias, Pass::kForward});
    Run(b, with_bias ? std::vector<const float*>{x, w, bias, y}
                     : std::vector<const float*>{x, w, y});
  } catch (const std::bad_alloc&) {
    return OutOfMemory("forward");
  } catch (const std::exception& e) {
    return dnnl_util::Error("Convolution", "forward", e);
  }
  return absl::OkStatus();
}

absl::Status DnnlConvBackward(const ConvGeom& g, const float* x, const float* w,
                              const float* dy, float* dx, float* dw, float* dbias) {
  // The data pass's slots are 0-3 (dy, w, dx, scratchpad), the weight pass's start at 4: the
  // blocked dy of the first stays intact for the second.
  constexpr size_t kWeightSlots = 4;
  try {
    std::vector<Reordered> reordered;
    if (dx != nullptr) Run(Cached({g, false, Pass::kBackwardData}), {dy, w, dx}, 0, &reordered);
    if (dw == nullptr) return absl::OkStatus();
    const bool with_bias = dbias != nullptr;
    const BoundPrimitive& b = Cached({g, with_bias, Pass::kBackwardWeights});
    Run(b,
        with_bias ? std::vector<const float*>{x, dy, dw, dbias}
                  : std::vector<const float*>{x, dy, dw},
        kWeightSlots, &reordered);
  } catch (const std::bad_alloc&) {
    return OutOfMemory("backward");
  } catch (const std::exception& e) {
    return dnnl_util::Error("Convolution", "backward", e);
  }
  return absl::OkStatus();
}

}  // namespace mxgrid::ops::conv_internal
