// The fused RNN operator's parameters, geometry and kernels (internal to libs/ops/nn).
//
// MXNet 1.9.1's `RNN`: `num_layers` stacked layers of one cell type (rnn_relu, rnn_tanh,
// lstm, gru), each optionally bidirectional, over data laid out (T, N, C) — time, batch,
// channels. Every weight and bias lives in one flat `parameters` vector in MXNet's layout:
// first the weights, for each layer and then each direction: W_i2h (G*H, I_l) then W_h2h
// (G*H, H), gates stacked in MXNet's order (lstm: i, f, c, o; gru: r, z, n); then the
// biases in the same order: b_i2h (G*H) then b_h2h (G*H). I_0 = C and I_l = D*H above.
// States are (L*D, N, H), row l*D + d for layer l, direction d.
//
// Thread-safety: stateless functions.
#ifndef MXGRID_LIBS_OPS_NN_RNN_INTERNAL_H_
#define MXGRID_LIBS_OPS_NN_RNN_INTERNAL_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "libs/ops/op.h"

namespace mxgrid::ops::nn {

enum class RnnMode { kRelu, kTanh, kLstm, kGru };

struct RnnParams : OpParams {
  RnnMode mode = RnnMode::kTanh;
  int64_t state_size = 0;  // H
  int64_t num_layers = 0;  // L
  bool bidirectional = false;
  double p = 0;  // dropout on the outputs of every layer but the last (training only)
  bool state_outputs = false;

  int gates() const { return mode == RnnMode::kLstm ? 4 : mode == RnnMode::kGru ? 3 : 1; }
  int directions() const { return bidirectional ? 2 : 1; }
  bool has_cell() const { return mode == RnnMode::kLstm; }
  // Outputs the graph sees: out, then hy and (lstm) cy with state_outputs.
  int visible_outputs() const { return state_outputs ? (has_cell() ? 3 : 2) : 1; }
  // Dropout between layers keeps its mask as one hidden output after the visible ones,
  // (L-1, T, N, D*H): 0 or 1/(1-p) in training, 1 otherwise; backward reads it.
  bool has_mask() const { return p > 0 && num_layers > 1; }
};

// Sizes of one call. REQUIRES: every field positive.
struct RnnDims {
  int64_t t = 0, n = 0, c = 0;  // sequence length, batch, input channels
};

// Elements of the flat parameter vector for input size `c` (>= 0); InvalidArgument when
// that is more than 2^60 (no array can hold it).
absl::StatusOr<int64_t> RnnParamSize(const RnnParams& p, int64_t c);

// The arrays of one call, as the kernels read them (layouts above). c0: lstm only, else
// null. mask: the dropout factors (L-1, T, N, D*H) applied to each lower layer's output, or
// null for none.
template <typename T>
struct RnnInputs {
  const T* x = nullptr;
  const T* params = nullptr;
  const T* h0 = nullptr;
  const T* c0 = nullptr;
  const T* mask = nullptr;
};

// What backward reads and writes. dy: required; dhy/dcy: the final states' head gradients,
// null for zero. dx: null when not wanted. dparams, dh0, dc0 (lstm): every element written.
template <typename T>
struct RnnGrads {
  const T* dy = nullptr;
  const T* dhy = nullptr;
  const T* dcy = nullptr;
  T* dx = nullptr;
  T* dparams = nullptr;
  T* dh0 = nullptr;
  T* dc0 = nullptr;
};

// float32 through oneDNN's RNN primitives (rnn_dnnl.cc). Forward writes y (T, N, D*H) and,
// when not null, hy and cy (L*D, N, H); keep_for_backward (training) leaves the state its
// backward reads. Backward takes `y`, the output the forward call gave (null: unknown), to
// find that state; without it, it runs the forward again. Internal when oneDNN fails,
// ResourceExhausted when its buffers cannot be allocated. REQUIRES: every dims field
// positive, arrays sized as the layout says.
absl::Status RnnDnnlForward(const RnnParams& p, RnnDims dims, const RnnInputs<float>& in,
                            bool keep_for_backward, float* y, float* hy, float* cy);
absl::Status RnnDnnlBackward(const RnnParams& p, RnnDims dims, const RnnInputs<float>& in,
                             const float* y, const RnnGrads<float>& g);

// The sizes of a kernel call with inputs `in` (data, parameters, state[, state_cell]),
// checked against the parameters (they come from the wire): InvalidArgument for a shape or
// dtype that does not fit, ResourceExhausted when the activations the kernels keep would
// exceed 2^40 elements. rnn_kernels.cc; the CUDA kernels (rnn.cu) check alike.
absl::StatusOr<RnnDims> RnnCheckInputs(const RnnParams& p, absl::Span<const TensorView> in);

// Where one (layer, direction) cell's weights sit in RNN's packed parameter vector, in
// elements: every cell's W_i2h (gates*H, in) and W_h2h (gates*H, H), layer by layer and
// direction by direction, then every cell's b_i2h and b_h2h (MXNet's layout). `in` is the
// cell's input size (the data's channels in layer 0, directions*H above).
struct RnnCellOffsets {
  int64_t in = 0, wx = 0, wh = 0, bx = 0, bh = 0;
};
// The offsets of every cell, layer-major then direction, for data with `channels` inputs;
// `*total` gets the vector's size. Shared by the CPU and CUDA kernels.
std::vector<RnnCellOffsets> RnnParamLayout(const RnnParams& p, int64_t channels,
                                           int64_t* total);

// Kernels: inputs data, parameters, state[, state_cell]; outputs out[, hy[, cy]].
absl::Status RnnForward(const OpContext& ctx, const OpParams& params,
                        absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                        absl::Span<const TensorView> out);
absl::Status RnnBackward(const OpContext& ctx, const OpParams& params, const BackwardArgs& a);

}  // namespace mxgrid::ops::nn

#endif  // MXGRID_LIBS_OPS_NN_RNN_INTERNAL_H_
