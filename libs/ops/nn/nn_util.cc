#include "libs/ops/nn/nn_util.h"

#include <vector>

#include "libs/base/status_macros.h"

namespace mxgrid::ops::nn {

absl::Status CheckArity(absl::string_view op, size_t n_in, size_t want_in, size_t n_out,
                        size_t want_out) {
  if (n_in != want_in || n_out != want_out) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": expected ", want_in, " inputs and ",
                                                   want_out, " outputs, got ", n_in, " and ",
                                                   n_out));
  }
  return absl::OkStatus();
}

OpDef NewOp(std::string name, std::string description) {
  OpDef d;
  d.name = std::move(name);
  d.description = std::move(description);
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  return d;
}

OpDef NewUnaryOp(const char* name, std::string description) {
  OpDef d = NewOp(name, std::move(description));
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"data"}; };
  d.infer_shape = [name](const OpParams&, std::vector<InferShape>* in,
                         std::vector<InferShape>* out) {
    MXGRID_RETURN_IF_ERROR(CheckArity(name, in->size(), 1, out->size(), 1));
    return InferSameShape(name, in, out);
  };
  return d;
}

ParamSpec Spec(std::string name, std::string type, std::string default_value,
               std::string description) {
  ParamSpec s;
  s.name = std::move(name);
  s.type = std::move(type);
  s.required = default_value.empty();
  s.default_value = std::move(default_value);
  s.description = std::move(description);
  return s;
}

absl::Status InferSameShape(absl::string_view op, std::vector<InferShape>* in,
                            std::vector<InferShape>* out) {
  // Merge every known shape into one, then write it back everywhere.
  InferShape merged;
  if ((*in)[0]) MXGRID_RETURN_IF_ERROR(MergeShape(op, "data", *(*in)[0], &merged));
  for (auto& o : *out) {
    if (o) MXGRID_RETURN_IF_ERROR(MergeShape(op, "output", *o, &merged));
  }
  if (!merged) return absl::OkStatus();
  MXGRID_RETURN_IF_ERROR(MergeShape(op, "data", *merged, &(*in)[0]));
  for (auto& o : *out) MXGRID_RETURN_IF_ERROR(MergeShape(op, "output", *merged, &o));
  return absl::OkStatus();
}

}  // namespace mxgrid::ops::nn
