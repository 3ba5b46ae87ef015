// RNN [MXNet 1.9.1]: the fused multi-layer recurrent operator (rnn_relu, rnn_tanh, lstm, gru;
// optionally bidirectional). This file holds the definition: parameters, argument and output
// names, shape inference (including the flat parameter vector's size). Kernels are in
// rnn_kernels.cc; the layout is documented in rnn_internal.h.
//
// Not supported, refused with InvalidArgument: projection_size, lstm_state_clip_*,
// use_sequence_length. Dropout between layers (p) draws from OpContext::rng in training.
#include <memory>
#include <string>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/nn/nn_util.h"
#include "libs/ops/nn/rnn_internal.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::nn {
namespace {

constexpr char kOp[] = "RNN";

// Options mxgrid does not implement: accepted only at their defaults.
absl::Status RefuseUnsupported(const AttrMap& attrs) {
  for (const char* key : {"projection_size", "lstm_state_clip_min", "lstm_state_clip_max"}) {
    auto it = attrs.find(key);
    if (it != attrs.end() && it->second != "None") {
      return absl::InvalidArgumentError(absl::StrCat(
          kOp, ": ", key, "=", it->second, " is not supported by mxgrid; leave it unset"));
    }
  }
  for (const char* key : {"lstm_state_clip_nan", "use_sequence_length"}) {
    auto it = attrs.find(key);
    if (it != attrs.end() && it->second != "False" && it->second != "0" &&
        it->second != "false") {
      return absl::InvalidArgumentError(absl::StrCat(
          kOp, ": ", key, "=", it->second,
          " is not supported by mxgrid; leave it False (use SequenceMask/SequenceLast on "
          "the outputs for variable-length sequences)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const OpParams>> Parse(const AttrMap& given) {
  MXGRID_RETURN_IF_ERROR(RefuseUnsupported(given));
  AttrMap attrs = given;
  for (const char* key : {"projection_size", "lstm_state_clip_min", "lstm_state_clip_max",
                          "lstm_state_clip_nan", "use_sequence_length"}) {
    attrs.erase(key);
  }
  auto p = std::make_shared<RnnParams>();
  ParamReader r(kOp, attrs);
  std::string mode;
  MXGRID_RETURN_IF_ERROR(r.Enum("mode", &mode, {"rnn_relu", "rnn_tanh", "lstm", "gru"}));
  MXGRID_RETURN_IF_ERROR(r.Int("state_size", &p->state_size));
  MXGRID_RETURN_IF_ERROR(r.Int("num_layers", &p->num_layers));
  MXGRID_RETURN_IF_ERROR(r.Bool("bidirectional", &p->bidirectional, false));
  MXGRID_RETURN_IF_ERROR(r.Float("p", &p->p, 0.0));
  MXGRID_RETURN_IF_ERROR(r.Bool("state_outputs", &p->state_outputs, false));
  MXGRID_RETURN_IF_ERROR(r.Finish());
  p->mode = mode == "rnn_relu" ? RnnMode::kRelu
            : mode == "rnn_tanh" ? RnnMode::kTanh
            : mode == "lstm"     ? RnnMode::kLstm
                                 : RnnMode::kGru;
  if (p->state_size <= 0 || p->state_size > (int64_t{1} << 20)) {
    return r.Error("state_size must be in [1, 2^20]");
  }
  if (p->num_layers <= 0 || p->num_layers > 1024) return r.Error("num_layers must be in [1, 1024]");
  if (!(p->p >= 0 && p->p <= 1)) return r.Error("p must be in [0, 1]");
  return std::shared_ptr<const OpParams>(std::move(p));
}

absl::Status Infer(const OpParams& params, std::vector<InferShape>* in,
                   std::vector<InferShape>* out) {
  const auto& p = ParamsAs<RnnParams>(params);
  const InferShape& data = (*in)[0];
  if (!data) return absl::OkStatus();
  if (data->ndim() != 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        kOp, ": data must be 3-d (sequence length, batch, channels), got ", data->ndim(),
        " dims"));
  }
  const int64_t t = (*data)[0], n = (*data)[1], c = (*data)[2];
  const int64_t h = p.state_size, ld = p.num_layers * p.directions();
  if (c >= 0) {
    MXGRID_ASSIGN_OR_RETURN(int64_t size, RnnParamSize(p, c));
    MXGRID_RETURN_IF_ERROR(MergeShape(kOp, "parameters", Shape{size}, &(*in)[1]));
  }
  MXGRID_RETURN_IF_ERROR(MergeShape(kOp, "state", Shape{ld, n, h}, &(*in)[2]));
  if (p.has_cell()) {
    MXGRID_RETURN_IF_ERROR(MergeShape(kOp, "state_cell", Shape{ld, n, h}, &(*in)[3]));
  }
  MXGRID_RETURN_IF_ERROR(MergeShape(kOp, "output", Shape{t, n, p.directions() * h}, &(*out)[0]));
  for (int i = 1; i < p.visible_outputs(); ++i) {
    MXGRID_RETURN_IF_ERROR(MergeShape(kOp, "state output", Shape{ld, n, h}, &(*out)[i]));
  }
  if (p.has_mask()) {
    MXGRID_RETURN_IF_ERROR(MergeShape(kOp, "dropout mask",
                                      Shape{p.num_layers - 1, t, n, p.directions() * h},
                                      &(*out)[p.visible_outputs()]));
  }
  return absl::OkStatus();
}

std::vector<std::string> OutputNames(const OpParams& params) {
  const auto& p = ParamsAs<RnnParams>(params);
  std::vector<std::string> names = {"output"};
  if (p.state_outputs) {
    names.push_back("state_output");
    if (p.has_cell()) names.push_back("statecell_output");
  }
  return names;
}

}  // namespace

absl::StatusOr<int64_t> RnnParamSize(const RnnParams& p, int64_t c) {
  // In 128 bits: state_size, num_layers and c are request-controlled.
  using Wide = __int128;
  const Wide g = p.gates(), h = p.state_size, d = p.directions();
  Wide size = d * (g * h * (Wide{c} + h) + 2 * g * h);
  size += Wide{p.num_layers - 1} * d * (g * h * (d * h + h) + 2 * g * h);
  if (size > (Wide{1} << 60)) {
    return absl::InvalidArgumentError(absl::StrCat(
        kOp, ": the parameter vector for input size ", c, ", state_size ", p.state_size,
        " and num_layers ", p.num_layers, " would exceed 2^60 elements"));
  }
  return static_cast<int64_t>(size);
}

OpDef MakeRNNOp() {
  OpDef d = NewOp(kOp, "Fused multi-layer recurrent network (rnn_relu, rnn_tanh, lstm, gru).");
  d.params = {
      Spec("state_size", "int (non-negative)", "", "Size of the state of each layer."),
      Spec("num_layers", "int (non-negative)", "", "Number of stacked layers."),
      Spec("bidirectional", "boolean", "0", "Bidirectional recurrent layers."),
      Spec("mode", "{'gru', 'lstm', 'rnn_relu', 'rnn_tanh'}", "", "The cell type."),
      Spec("p", "float", "0", "Dropout rate on the outputs of every layer but the last."),
      Spec("state_outputs", "boolean", "0", "Also output the final states."),
      Spec("projection_size", "int or None", "None", "LSTMP projection (unsupported)."),
      Spec("lstm_state_clip_min", "double or None", "None", "Cell clip (unsupported)."),
      Spec("lstm_state_clip_max", "double or None", "None", "Cell clip (unsupported)."),
      Spec("lstm_state_clip_nan", "boolean", "0", "Clip NaN cells (unsupported)."),
      Spec("use_sequence_length", "boolean", "0", "Per-sequence lengths (unsupported)."),
  };
  d.parse = Parse;
  d.input_names = [](const OpParams& params) {
    std::vector<std::string> names = {"data", "parameters", "state"};
    if (ParamsAs<RnnParams>(params).has_cell()) names.push_back("state_cell");
    return names;
  };
  d.output_names = OutputNames;
  d.variable_outputs = true;
  d.num_outputs = [](const OpParams& params) {
    const auto& p = ParamsAs<RnnParams>(params);
    return p.visible_outputs() + (p.has_mask() ? 1 : 0);
  };
  d.infer_shape = Infer;
  d.forward = RnnForward;
  d.backward = RnnBackward;
  d.backward_deps = {true, true};  // the dropout mask
  d.random = true;
  return d;
}

}  // namespace mxgrid::ops::nn
