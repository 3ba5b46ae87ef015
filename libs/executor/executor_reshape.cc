// Executor::Reshape: a new executor for new input shapes sharing this one's memory.
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/base/quote.h"
#include "libs/base/status_macros.h"
#include "libs/executor/executor.h"
#include "libs/graph/infer.h"

namespace mxgrid::executor {

absl::StatusOr<std::unique_ptr<Executor>> Executor::Reshape(
    const std::map<std::string, Shape>& shapes, bool partial_shaping,
    bool allow_up_sizing) const {
  const std::vector<std::string> arg_names = symbol_.ListArguments();
  const std::vector<std::string> aux_names = symbol_.ListAuxiliaryStates();
  std::map<std::string, ops::InferShape> known(shapes.begin(), shapes.end());
  MXGRID_ASSIGN_OR_RETURN(graph::ShapeInference s, graph::InferShape(symbol_, known));
  // Each array in its new shape: a view of the old one when it fits.
  auto resize = [&](const NDArray& old, const ops::InferShape& inferred,
                    const std::string& name) -> absl::StatusOr<NDArray> {
    if (old.is_none()) return old;
    if (!ops::IsKnown(inferred)) {
      return absl::InvalidArgumentError(absl::StrCat("reshape: cannot decide the shape of '",
                                                     name, "'"));
    }
    const Shape& want = *inferred;
    if (want == old.shape()) return old;
    if (!shapes.count(name) && !partial_shaping) {
      return absl::InvalidArgumentError(absl::StrCat(
          "reshape: the shape of unspecified argument ", Quoted(name), " changed from ",
          old.shape().ToString(), " to ", want.ToString(), "; pass partial_shaping=true"));
    }
    if (want.Size() <= old.size()) return old.ViewAs(want, old.dtype());
    if (!allow_up_sizing) {
      return absl::InvalidArgumentError(absl::StrCat(
          "reshape: the new shape of ", Quoted(name), " ", want.ToString(),
          " is larger than the original ", old.shape().ToString(),
          "; pass allow_up_sizing=true or bind a new executor"));
    }
    return NDArray::Zeros(want, ctx_, old.dtype());
  };
  std::vector<NDArray> args, grads, aux;
  for (size_t i = 0; i < arg_names.size(); ++i) {
    MXGRID_ASSIGN_OR_RETURN(NDArray a, resize(args_[i], s.arg_shapes[i], arg_names[i]));
    MXGRID_ASSIGN_OR_RETURN(NDArray g, resize(grads_[i], s.arg_shapes[i], arg_names[i]));
    args.push_back(std::move(a));
    grads.push_back(std::move(g));
  }
  for (size_t i = 0; i < aux_names.size(); ++i) {
    MXGRID_ASSIGN_OR_RETURN(NDArray a, resize(aux_[i], s.aux_shapes[i], aux_names[i]));
    aux.push_back(std::move(a));
  }
  graph::PlanOptions options;
  for (size_t i = 0; i < arg_names.size(); ++i) {
    options.shapes[arg_names[i]] = args[i].shape();
    options.dtypes[arg_names[i]] = args[i].dtype();
    if (reqs_[i] != GradReq::kNull) options.grad_reqs[arg_names[i]] = ToOpReq(reqs_[i]);
  }
  for (size_t i = 0; i < aux_names.size(); ++i) {
    options.shapes[aux_names[i]] = aux[i].shape();
    options.dtypes[aux_names[i]] = aux[i].dtype();
  }
  MXGRID_ASSIGN_OR_RETURN(graph::Plan plan, graph::MakePlan(symbol_, options));
  MXGRID_ASSIGN_OR_RETURN(std::unique_ptr<Executor> reshaped,
                          Create(std::move(plan), ctx_, std::move(args), std::move(grads),
                                 std::move(aux), reqs_, &blocks_));
  reshaped->random_ = random_;
  return reshaped;
}

}  // namespace mxgrid::executor
