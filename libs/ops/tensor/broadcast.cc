// broadcast_add/sub/mul/div/mod/maximum/minimum/power/hypot and the comparisons broadcast_equal,
// broadcast_not_equal, broadcast_greater, broadcast_greater_equal, broadcast_lesser,
// broadcast_lesser_equal: NumPy-style right-aligned broadcasting; the backward reduces each
// input's gradient over the axes it was broadcast along. Every forward also takes MXNet's
// integer dtypes with its integer semantics (int_math.h); an integer zero divisor of
// broadcast_div or broadcast_mod fails the call; add, sub, mul, maximum and minimum have
// integer gradients too. Comparisons write 1/0 in the input dtype and have no gradient.
#include <algorithm>
#include <cmath>

#include "libs/ops/tensor/elemwise_kernels.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace {

using tensor_internal::Add;
using tensor_internal::BroadcastIndex;
using tensor_internal::Div;
using tensor_internal::Hypot;
using tensor_internal::Mod;
using tensor_internal::Mul;
using tensor_internal::RejectIntegerZeroDivisor;
using tensor_internal::Sub;
using tensor_internal::DispatchFor;
using tensor_internal::Dtypes;
using tensor_internal::Flag;
using tensor_internal::Pow;
using tensor_internal::kInputDeps;
using tensor_internal::kNoDeps;
using tensor_internal::NoParamsParser;
using ops::Store;
using tensor_internal::Unify;

absl::Status BroadcastShapes(const std::string& op, std::vector<InferShape>* in,
                             std::vector<InferShape>* out) {
  const InferShape& l = (*in)[0];
  const InferShape& r = (*in)[1];
  if (l && r && *l == *r) return Unify(op, "output 0", l, &(*out)[0]);
  if (!IsKnown(l) || !IsKnown(r)) return absl::OkStatus();
  const int nd = std::max(l->ndim(), r->ndim());
  std::vector<int64_t> dims(nd);
  for (int i = 0; i < nd; ++i) {
    const int li = i - (nd - l->ndim()), ri = i - (nd - r->ndim());
    const int64_t a = li >= 0 ? (*l)[li] : 1, b = ri >= 0 ? (*r)[ri] : 1;
    if (a != b && a != 1 && b != 1) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": operands could not be broadcast "
                                                     "together with shapes ", l->ToString(),
                                                     " ", r->ToString()));
    }
    dims[i] = a == 1 ? b : a;
  }
  return Unify(op, "output 0", Shape(dims), &(*out)[0]);
}

// kDtypes: the forward's dtypes; kGrad: the backward's (integer gradients only where the
// gradient functors are plain sums and products, which wrap as MXNet's do).
template <Dtypes kDtypes = Dtypes::kReal, Dtypes kGrad = Dtypes::kReal, typename Fwd,
          typename GradA, typename GradB>
OpDef BroadcastOp(const std::string& name, std::vector<std::string> aliases, Fwd fwd,
                  GradA ga, GradB gb, BackwardDeps deps) {
  OpDef d;
  d.name = name;
  d.aliases = std::move(aliases);
  d.description = "Elementwise " + name + " with NumPy-style broadcasting.";
  d.parse = NoParamsParser(name);
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"lhs", "rhs"}; };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [name](const OpParams&, std::vector<InferShape>* in,
                         std::vector<InferShape>* out) { return BroadcastShapes(name, in, out); };
  d.forward = [name, fwd](const OpContext&, const OpParams&, absl::Span<const TensorView> in,
                          absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    // Same shapes (the common `a + b`): no index tables, which cost 16 bytes per element.
    if (in[0].shape == out[0].shape && in[1].shape == out[0].shape) {
      return tensor_internal::SameShapeBinaryForward<kDtypes>(name, fwd, in[0], in[1], reqs[0],
                                                              out[0]);
    }
    const auto li = BroadcastIndex(in[0].shape, out[0].shape);
    const auto ri = BroadcastIndex(in[1].shape, out[0].shape);
    return DispatchFor<kDtypes>(name, out[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* a = in[0].as<T>();
      const T* b = in[1].as<T>();
      T* y = out[0].as<T>();
      for (size_t k = 0; k < li.size(); ++k) {
        Store(reqs[0], y, k, static_cast<T>(fwd(a[li[k]], b[ri[k]])));
      }
      return absl::OkStatus();
    });
  };
  // Only the wanted gradients are computed (a kNull one gets neither a buffer nor a pass).
  d.backward = [name, ga, gb, deps](const OpContext&, const OpParams&,
                                    const BackwardArgs& args) -> absl::Status {
    const bool want_a = args.reqs[0] != OpReq::kNull, want_b = args.reqs[1] != OpReq::kNull;
    if (!want_a && !want_b) return absl::OkStatus();
    const Shape& os = args.out_grads[0].shape;
    const auto li = BroadcastIndex(args.in_grads[0].shape, os);
    const auto ri = BroadcastIndex(args.in_grads[1].shape, os);
    return DispatchFor<kGrad>(name, args.out_grads[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* a = deps.inputs ? args.inputs[0].as<T>() : nullptr;
      const T* b = deps.inputs ? args.inputs[1].as<T>() : nullptr;
      const T* dy = args.out_grads[0].as<T>();
      // Summed in temporaries: the destinations may alias dy.
      std::vector<T> da(want_a ? args.in_grads[0].size() : 0, T(0));
      std::vector<T> db(want_b ? args.in_grads[1].size() : 0, T(0));
      for (size_t k = 0; k < li.size(); ++k) {
        const T ak = a ? a[li[k]] : T(0), bk = b ? b[ri[k]] : T(0);
        if (want_a) da[li[k]] = Add(da[li[k]], static_cast<T>(ga(ak, bk, dy[k])));
        if (want_b) db[ri[k]] = Add(db[ri[k]], static_cast<T>(gb(ak, bk, dy[k])));
      }
      for (int j = 0; j < 2; ++j) {
        if (args.reqs[j] == OpReq::kNull) continue;
        const std::vector<T>& g = j == 0 ? da : db;
        T* dst = args.in_grads[j].as<T>();
        for (size_t i = 0; i < g.size(); ++i) Store(args.reqs[j], dst, i, g[i]);
      }
      return absl::OkStatus();
    });
  };
  d.backward_deps = deps;
  return d;
}

// A broadcast comparison: Flag(cmp(a, b)) in the input dtype, no backward.
template <typename Cmp>
OpDef BroadcastCompareOp(const std::string& name, Cmp cmp) {
  auto zero = [](auto, auto, auto g) { return decltype(g)(0); };
  OpDef d = BroadcastOp<Dtypes::kNumeric>(
      name, {}, [cmp](auto a, auto b) { return Flag<decltype(a)>(cmp(a, b)); }, zero, zero,
      kNoDeps);
  d.backward = nullptr;
  d.backward_deps = {};
  return d;
}

void AddPowerCompareOps(std::vector<OpDef>* defs) {
  defs->push_back(BroadcastOp<Dtypes::kNumeric>(
      "broadcast_power", {}, [](auto a, auto b) { return Pow(a, b); },
      [](auto a, auto b, auto g) { return g * b * Pow(a, b - 1); },
      [](auto a, auto b, auto g) { return g * Pow(a, b) * std::log(a); }, kInputDeps));
  defs->push_back(BroadcastCompareOp("broadcast_equal", [](auto a, auto b) { return a == b; }));
  defs->push_back(
      BroadcastCompareOp("broadcast_not_equal", [](auto a, auto b) { return a != b; }));
  defs->push_back(BroadcastCompareOp("broadcast_greater", [](auto a, auto b) { return a > b; }));
  defs->push_back(
      BroadcastCompareOp("broadcast_greater_equal", [](auto a, auto b) { return a >= b; }));
  defs->push_back(BroadcastCompareOp("broadcast_lesser", [](auto a, auto b) { return a < b; }));
  defs->push_back(
      BroadcastCompareOp("broadcast_lesser_equal", [](auto a, auto b) { return a <= b; }));
}

}  // namespace

absl::Status RegisterBroadcastOps(Registry* registry) {
  std::vector<OpDef> defs;
  constexpr Dtypes kNum = Dtypes::kNumeric;
  auto zero = [](auto g) { return decltype(g)(0); };
  defs.push_back(BroadcastOp<kNum, kNum>(
      "broadcast_add", {"broadcast_plus"}, [](auto a, auto b) { return Add(a, b); },
      [](auto, auto, auto g) { return g; }, [](auto, auto, auto g) { return g; }, kNoDeps));
  defs.push_back(BroadcastOp<kNum, kNum>(
      "broadcast_sub", {"broadcast_minus"}, [](auto a, auto b) { return Sub(a, b); },
      [](auto, auto, auto g) { return g; }, [](auto, auto, auto g) { return -g; }, kNoDeps));
  defs.push_back(BroadcastOp<kNum, kNum>(
      "broadcast_mul", {}, [](auto a, auto b) { return Mul(a, b); },
      [](auto, auto b, auto g) { return g * b; }, [](auto a, auto, auto g) { return g * a; },
      kInputDeps));
  defs.push_back(BroadcastOp<kNum>(
      "broadcast_div", {}, [](auto a, auto b) { return Div(a, b); },
      [](auto, auto b, auto g) { return g / b; },
      [](auto a, auto b, auto g) { return -g * a / (b * b); }, kInputDeps));
  RejectIntegerZeroDivisor(&defs.back(), 1);
  defs.push_back(BroadcastOp<kNum>(
      "broadcast_mod", {}, [](auto a, auto b) { return Mod(a, b); },
      [](auto, auto, auto g) { return g; },
      [](auto a, auto b, auto g) { return -g * std::floor(a / b); }, kInputDeps));
  // Mod by zero is 0, as in MXNet (in every dtype); only division rejects a zero divisor.
  defs.push_back(BroadcastOp<kNum, kNum>(
      // NaN in either operand gives NaN (MXNet's maximum/minimum functors).
      "broadcast_maximum", {}, [](auto a, auto b) { return a != a || a > b ? a : b; },
      [=](auto a, auto b, auto g) { return a >= b ? g : zero(g); },
      [=](auto a, auto b, auto g) { return a >= b ? zero(g) : g; }, kInputDeps));
  defs.push_back(BroadcastOp<kNum, kNum>(
      "broadcast_minimum", {}, [](auto a, auto b) { return a != a || a < b ? a : b; },
      [=](auto a, auto b, auto g) { return a <= b ? g : zero(g); },
      [=](auto a, auto b, auto g) { return a <= b ? zero(g) : g; }, kInputDeps));
  defs.push_back(BroadcastOp<kNum>(
      "broadcast_hypot", {}, [](auto a, auto b) { return Hypot(a, b); },
      [](auto a, auto b, auto g) { return g * a / std::hypot(a, b); },
      [](auto a, auto b, auto g) { return g * b / std::hypot(a, b); }, kInputDeps));
  AddPowerCompareOps(&defs);
  for (OpDef& d : defs) MXGRID_RETURN_IF_ERROR(registry->Register(std::move(d)));
  return absl::OkStatus();
}

}  // namespace mxgrid::ops
