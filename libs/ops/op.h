// The operator registry's vocabulary: what one MXNet operator is to mxgrid.
//
// An OpDef describes one operator (FullyConnected, Activation, elemwise_add, ...) the way
// MXNet's registry does: its name and aliases, a parameter struct parsed from MXNet's string
// attributes, its argument, auxiliary-state and output names, shape and type inference, and
// CPU forward and backward kernels over plain tensor views. Symbol, the executor and the
// worker's imperative calls all go through these definitions; nothing here knows about
// graphs or the engine.
//
//   const OpDef* fc = *registry.Find("FullyConnected");
//   MXGRID_ASSIGN_OR_RETURN(ParsedOp op, fc->Parse({{"num_hidden", "128"}}));
//   op.input_names();                      // {"data", "weight", "bias"}
//   MXGRID_RETURN_IF_ERROR(op.InferShape(&in_shapes, &out_shapes));
//   MXGRID_RETURN_IF_ERROR(op.Forward(ctx, inputs, reqs, outputs, aux));
//
// Backward follows MXNet's legacy OperatorProperty model: one backward call per forward node
// receives the output gradients and whichever forward inputs/outputs the op declares it
// needs (BackwardDeps), and writes the input gradients according to their OpReq.
//
// Thread-safety: OpDefs and parsed parameters are immutable and shared freely; kernels are
// re-entrant (all state is in their arguments).
#ifndef MXGRID_LIBS_OPS_OP_H_
#define MXGRID_LIBS_OPS_OP_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "libs/base/context.h"
#include "libs/base/dtype.h"
#include "libs/base/shape.h"

namespace mxgrid::ops {

// MXNet attributes: every value a string as Python's str() wrote it ("128", "(3, 3)",
// "True"). Sorted, as MXNet's JSON writes them.
using AttrMap = std::map<std::string, std::string>;

// A shape during inference: nullopt when nothing is known; otherwise dims of -1 are unknown.
using InferShape = std::optional<Shape>;
// A dtype during inference: nullopt when unknown.
using InferType = std::optional<DType>;

// True when `s` is known with every dimension known.
inline bool IsKnown(const InferShape& s) {
  if (!s) return false;
  for (int64_t d : s->dims()) {
    if (d < 0) return false;
  }
  return true;
}

// A dense array an operator reads or writes: C-order `shape` elements of `dtype` at `data`.
// Not owning (the caller keeps the memory alive for the call). Like MXNet's TBlob.
struct TensorView {
  void* data = nullptr;
  Shape shape;
  DType dtype = DType::kFloat32;
  Context ctx;

  int64_t size() const { return shape.Size(); }
  template <typename T>
  T* as() const { return static_cast<T*>(data); }
};

// How an output (or input gradient) is to be written (MXNet's OpReqType).
enum class OpReq {
  kNull,          // not needed: skip it
  kWriteTo,       // overwrite
  kWriteInplace,  // overwrite; the memory is shared with an input
  kAddTo,         // accumulate into what is there
};

// What a kernel knows about its call.
struct OpContext {
  bool is_train = false;
  Context ctx;
  // Random source of ops with OpDef::random (samplers, Dropout); never null when such an op
  // runs. Seeded per call from the session's generator when the call was pushed
  // (libs/executor/random_source.h), so one seed gives the same values on any thread.
  std::mt19937_64* rng = nullptr;
  // On a GPU context: the cudaStream_t every kernel of the call is launched on (the calling
  // engine thread's stream, libs/gpu/gpu.h). Null: ParsedOp uses the thread's stream and
  // synchronizes it before returning. Null on CPU.
  void* stream = nullptr;
};

// Base of every operator's parsed parameter struct.
class OpParams {
 public:
  virtual ~OpParams() = default;
};

// One parameter as ListOperators reports it (enough for a client to generate functions).
struct ParamSpec {
  std::string name;
  std::string type;           // e.g. "int", "float", "boolean", "Shape(tuple)", "{'relu', ...}"
  std::string default_value;  // empty when required
  bool required = false;
  std::string description;
};

// Which forward tensors an op's backward reads (for the memory planner's liveness).
struct BackwardDeps {
  bool inputs = false;
  bool outputs = false;
};

// The data of one backward call. out_grads has one entry per visible output (empty views
// for a loss op, which needs none). inputs (args then aux) and outputs (all, hidden ones
// included) are empty unless BackwardDeps asks for them (callers may pass them anyway).
// in_grads[i] / reqs[i] belong to forward input i.
//
// A gradient that is not wanted (reqs[i] == kNull; always so for aux states) still has a
// view with forward input i's shape and dtype, so that kernels can read every input's
// shape from in_grads whether or not BackwardDeps asks for the inputs; its `data` may be
// null (the executor passes null). A kernel must neither read nor write the data of a kNull
// gradient, and should skip the work that only it needs (MXNet's backward kernels do):
// Concat with one of two gradients wanted copies one block, FullyConnected without a data
// gradient runs no dX GEMM. Any subset of the gradients may be kNull, all of them included.
// Every other gradient has non-null data (or no elements) and its input's shape and dtype.
// ParsedOp::Backward checks what it can of this before a kernel runs.
struct BackwardArgs {
  absl::Span<const TensorView> out_grads;
  absl::Span<const TensorView> inputs;
  absl::Span<const TensorView> outputs;
  absl::Span<const TensorView> in_grads;
  absl::Span<const OpReq> reqs;
};

struct OpDef;

// An operator with parsed parameters: what a graph node or an imperative call holds.
class ParsedOp {
 public:
  // Computes the input and output counts once: Forward/Backward check against them on
  // every call, which must not build name lists each time.
  ParsedOp(const OpDef* def, std::shared_ptr<const OpParams> params, AttrMap attrs);

  const OpDef& def() const { return *def_; }
  const OpParams& params() const { return *params_; }
  // The attributes as given (defaults not materialized, as in MXNet's JSON).
  const AttrMap& attrs() const { return attrs_; }

  // Names of the inputs, arguments first then auxiliary states (BatchNorm: data, gamma,
  // beta, moving_mean, moving_var).
  std::vector<std::string> input_names() const;
  int num_inputs() const { return num_inputs_; }
  // Indices into input_names() of the auxiliary states (MXNet's FMutateInputs).
  std::vector<int> aux_indices() const;
  // Every input the forward kernel writes: aux_indices() and OpDef::mutate_indices.
  std::vector<int> mutated_indices() const;
  // Names of the visible outputs ("output" for most ops).
  std::vector<std::string> output_names() const;
  int num_visible_outputs() const { return num_visible_outputs_; }
  // All outputs, hidden ones included (Dropout's mask, BatchNorm's batch mean and var).
  int num_outputs() const { return num_outputs_; }

  // Fills unknown shapes (inputs too, as MXNet's FInferShape may); InvalidArgument with both
  // shapes when they conflict, and for any resulting shape no array can have (a dim below
  // -1, more than Shape::kMaxNdim dims, more than 2^60 elements). Sizes: num_inputs() and
  // num_outputs().
  absl::Status InferShapes(std::vector<InferShape>* in, std::vector<InferShape>* out) const;
  absl::Status InferTypes(std::vector<InferType>* in, std::vector<InferType>* out) const;

  // Kernels. inputs: args then aux (num_inputs()); outputs and reqs: num_outputs().
  absl::Status Forward(const OpContext& ctx, absl::Span<const TensorView> inputs,
                       absl::Span<const OpReq> reqs, absl::Span<const TensorView> outputs) const;
  // InvalidArgument, before any kernel runs, when the arguments break BackwardArgs'
  // contract: counts (out_grads: num_visible_outputs(); in_grads and reqs: num_inputs();
  // inputs/outputs: all or, unless BackwardDeps asks for them, none), a wanted gradient
  // without data or with a shape or dtype other than its input's (when inputs are given),
  // a gradient requested for an auxiliary state, or a missing head gradient of a non-loss
  // op. Forward likewise checks counts and that inputs and requested outputs have data.
  absl::Status Backward(const OpContext& ctx, const BackwardArgs& args) const;

 private:
  absl::Status CheckBackwardArgs(const BackwardArgs& args) const;

  const OpDef* def_;
  std::shared_ptr<const OpParams> params_;  // Shared by copies of one node's op.
  AttrMap attrs_;
  int num_inputs_ = 0;
  int num_visible_outputs_ = 0;
  int num_outputs_ = 0;
  std::vector<int> aux_;  // aux_indices(), computed once
};

// One operator. Function members take the parsed parameters (downcast by the op's own code).
struct OpDef {
  std::string name;
  std::vector<std::string> aliases;
  std::string description;
  std::vector<ParamSpec> params;

  // Parses every attribute: unknown keys, malformed values or a missing required one are
  // InvalidArgument naming the operator, the key and what was expected. Keys of the form
  // "__name__" (MXNet's hidden attributes such as __lr_mult__) are ignored.
  std::function<absl::StatusOr<std::shared_ptr<const OpParams>>(const AttrMap&)> parse;

  std::function<std::vector<std::string>(const OpParams&)> input_names;
  // Visible outputs; num_outputs counts hidden ones too (null: same as output_names).
  std::function<std::vector<std::string>(const OpParams&)> output_names;
  // True when output_names depends on the parameters (SliceChannel, BatchNorm): clients
  // cannot count the outputs from the schema alone.
  bool variable_outputs = false;
  std::function<int(const OpParams&)> num_outputs;
  // Auxiliary-state input indices; empty for most ops.
  std::function<std::vector<int>(const OpParams&)> aux_indices;
  // Further inputs the forward kernel writes in place although they are arguments, not
  // auxiliary states (MXNet's FMutateInputs where the mutated inputs are followed by a
  // read-only one: _adamw_update's mean and var before rescale_grad). Imperative calls
  // order them as writes. Null: none.
  std::function<std::vector<int>(const OpParams&)> mutate_indices;

  std::function<absl::Status(const OpParams&, std::vector<InferShape>*,
                             std::vector<InferShape>*)>
      infer_shape;
  // Null: every input and output shares one dtype (MXNet's ElemwiseType).
  std::function<absl::Status(const OpParams&, std::vector<InferType>*, std::vector<InferType>*)>
      infer_type;

  std::function<absl::Status(const OpContext&, const OpParams&, absl::Span<const TensorView>,
                             absl::Span<const OpReq>, absl::Span<const TensorView>)>
      forward;
  // Null for ops without a gradient (argmax, one_hot, BlockGrad ...): their inputs get zero.
  std::function<absl::Status(const OpContext&, const OpParams&, const BackwardArgs&)> backward;
  // CUDA kernels: the same contract on device memory, launched asynchronously on
  // OpContext::stream (the caller synchronizes). Used when every array of a call has one of
  // gpu_dtypes; otherwise, and when null, a GPU call runs the CPU kernels on host copies of
  // its arrays (gpu_fallback.h). Set by the CUDA build's RegisterCudaKernels.
  std::function<absl::Status(const OpContext&, const OpParams&, absl::Span<const TensorView>,
                             absl::Span<const OpReq>, absl::Span<const TensorView>)>
      gpu_forward;
  std::function<absl::Status(const OpContext&, const OpParams&, const BackwardArgs&)>
      gpu_backward;
  std::vector<DType> gpu_dtypes = {DType::kFloat32};
  BackwardDeps backward_deps;
  // The kernels draw from OpContext::rng (MXNet's ResourceRequest::kRandom): callers seed it
  // for each call from the session's per-device generator.
  bool random = false;
  // Loss ops (SoftmaxOutput, *RegressionOutput) ignore the head gradient: backward needs none.
  bool is_loss = false;
  // The kernels take float16/bfloat16 arrays themselves (Cast). Otherwise the registry runs
  // a call with half-precision arrays on float32 copies (half_in_float.h).
  bool native_half = false;
  // (input, output) pairs that may share memory (MXNet's FInplaceOption).
  std::vector<std::pair<int, int>> inplace;
  // (output gradient, input gradient) pairs the backward kernel may compute in place: it
  // reads element i of the one before writing element i of the other (as MXNet's
  // _backward_Activation's FInplaceOption).
  std::vector<std::pair<int, int>> backward_inplace;
};

}  // namespace mxgrid::ops

#endif  // MXGRID_LIBS_OPS_OP_H_
