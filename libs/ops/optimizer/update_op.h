// The shared shape of the *_update operators (private to libs/ops/optimizer): a spec lists
// the inputs, MXNet's parameters, which inputs the kernel writes in place and which are
// float32 master copies; MakeUpdateOp turns it into an OpDef whose forward dispatches on the
// weight's dtype (float16, float32, float64) and, for the mixed-precision variants, on the
// state's (float32; float64 too, for the float64 consistency suite).
//
// Every input has the weight's shape except `scalar_inputs` (LAMB's norms r1, r2: shape
// (1,)); the one output has the weight's shape, and the weight's dtype unless
// `float32_output`. The kernel writes its output with the request's semantics and updates
// the mutated inputs in place; MXNet calls these operators with out=weight.
//
// Thread-safety: specs and OpDefs are immutable once built; kernels are re-entrant.
#ifndef MXGRID_LIBS_OPS_OPTIMIZER_UPDATE_OP_H_
#define MXGRID_LIBS_OPS_OPTIMIZER_UPDATE_OP_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "libs/base/dtype.h"
#include "libs/ops/op.h"
#include "libs/ops/optimizer/update_rules.h"

namespace mxgrid::ops::optimizer {

// Parsed parameters: every declared parameter by name (booleans as 0/1, ints exact).
struct UpdateParams : OpParams {
  std::map<std::string, double> values;
  // REQUIRES: `name` is one of the op's parameters (a missing one is a bug: CHECK).
  double Get(const std::string& name) const;
  // OpParam<C>(Get(name)): MXNet's float parameter in the compute type.
  template <typename C>
  C Param(const std::string& name) const {
    return rules::OpParam<C>(Get(name));
  }
};

// A parameter: MXNet's name, type ("float", "int", "boolean"), default ("" when required).
struct UpdateParam {
  std::string name;
  std::string type;
  std::string default_value;
  std::string description;
};

// The common float parameters of most update ops, with MXNet's defaults.
UpdateParam Lr();
UpdateParam Wd();
UpdateParam RescaleGrad();
UpdateParam ClipGradient();
UpdateParam LazyUpdate();

// The kernel: inputs (args then aux, in input order), the output request and view.
using UpdateKernel = std::function<absl::Status(const UpdateParams&,
                                                absl::Span<const TensorView>, OpReq,
                                                const TensorView&)>;

struct UpdateOpSpec {
  std::string name;
  std::string description;
  std::vector<std::string> inputs;
  std::vector<UpdateParam> params;
  std::vector<int> aux;     // mutated trailing inputs: auxiliary states, as in MXNet
  std::vector<int> mutate;  // mutated inputs followed by read-only ones (OpDef::mutate_indices)
  std::vector<int> float32_inputs;  // master copies and mixed-precision states
  std::vector<int> scalar_inputs;   // shape (1,)
  bool float32_output = false;
  UpdateKernel kernel;
};

OpDef MakeUpdateOp(UpdateOpSpec spec);

// What the forward of MakeUpdateOp's OpDef checks before its kernel runs (the CUDA kernels
// check the same): every input but the scalar ones, and a requested output, has the
// weight's element count; the dtypes are the spec's (weight-typed inputs the weight's,
// float32 inputs the first float32 input's). InvalidArgument naming the input otherwise.
absl::Status CheckUpdateCall(const UpdateOpSpec& spec, absl::Span<const TensorView> in,
                             OpReq req, const TensorView& out);

// ---- element access and dispatch for the kernels ----

template <typename T>
struct ComputeOf {
  using type = float;
};
template <>
struct ComputeOf<double> {
  using type = double;
};

// Element i of `v` (storage T) in compute type C.
template <typename C, typename T>
inline C Ld(const TensorView& v, int64_t i) {
  if constexpr (std::is_same_v<T, Half>) {
    return static_cast<C>(HalfToFloat(v.as<Half>()[i]));
  } else {
    return static_cast<C>(v.as<T>()[i]);
  }
}

template <typename C, typename T>
inline void St(const TensorView& v, int64_t i, C x) {
  if constexpr (std::is_same_v<T, Half>) {
    v.as<Half>()[i] = FloatToHalf(static_cast<float>(x));
  } else {
    v.as<T>()[i] = static_cast<T>(x);
  }
}

// MXNet's KERNEL_ASSIGN: the output element by request.
template <typename C, typename T>
inline void Assign(OpReq req, const TensorView& v, int64_t i, C x) {
  if (req == OpReq::kNull) return;
  if (req == OpReq::kAddTo) x = Ld<C, T>(v, i) + x;
  St<C, T>(v, i, x);
}

// Calls fn(TypeTag<W>) for the weight dtype (float16, float32, float64).
template <typename Fn>
absl::Status DispatchWeight(const std::string& op, DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat16: return fn(TypeTag<Half>());
    case DType::kFloat32: return fn(TypeTag<float>());
    case DType::kFloat64: return fn(TypeTag<double>());
    default: break;
  }
  return absl::InvalidArgumentError(op + ": weight dtype " + std::string(DTypeName(dtype)) +
                                    " is not supported (float16, float32 or float64)");
}

// Calls fn(TypeTag<S>) for a mixed-precision state's dtype (float32; float64 for tests).
template <typename Fn>
absl::Status DispatchState(const std::string& op, DType dtype, Fn&& fn) {
  if (dtype == DType::kFloat32) return fn(TypeTag<float>());
  if (dtype == DType::kFloat64) return fn(TypeTag<double>());
  return absl::InvalidArgumentError(op + ": state dtype " + std::string(DTypeName(dtype)) +
                                    " is not supported (float32)");
}

// The compute type of a mixed-precision kernel: double when either side is.
template <typename W, typename S>
using MixedCompute =
    std::conditional_t<std::is_same_v<W, double> || std::is_same_v<S, double>, double, float>;

// Runs fn(TypeTag<W>(), TypeTag<C>()) for a same-dtype op: W the weight's storage type, C
// its compute type (float for float16 and float32, as MXNet's half_t arithmetic).
template <typename Fn>
absl::Status Plain(const std::string& op, absl::Span<const TensorView> in, Fn&& fn) {
  return DispatchWeight(op, in[0].dtype, [&](auto w) {
    using W = typename decltype(w)::type;
    fn(w, TypeTag<typename ComputeOf<W>::type>());
    return absl::OkStatus();
  });
}

// Runs fn(TypeTag<W>(), TypeTag<S>(), TypeTag<C>()) for a mixed-precision op whose input
// `state` is a float32 array.
template <typename Fn>
absl::Status Mixed(const std::string& op, absl::Span<const TensorView> in, int state, Fn&& fn) {
  return DispatchWeight(op, in[0].dtype, [&](auto w) {
    return DispatchState(op, in[state].dtype, [&](auto s) {
      using W = typename decltype(w)::type;
      using S = typename decltype(s)::type;
      fn(w, s, TypeTag<MixedCompute<W, S>>());
      return absl::OkStatus();
    });
  });
}

// Runs fn(i) for i in [0, n), in parallel for large n.
void ForEachElement(int64_t n, const std::function<void(int64_t, int64_t)>& range_fn);

}  // namespace mxgrid::ops::optimizer

#endif  // MXGRID_LIBS_OPS_OPTIMIZER_UPDATE_OP_H_
