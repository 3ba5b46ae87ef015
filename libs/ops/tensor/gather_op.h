// Builder of "gather" OpDefs (internal to libs/ops/tensor): ops whose every output element
// is a copy of one input element (tile, repeat, reverse, SwapAxis, broadcast_axis, stack,
// take, pick, batch_take). The op supplies an output-shape function and a map from each
// output element to its source; forward gathers, backward scatter-adds the head gradient
// into the sources (index inputs get no gradient, as MXNet's take/pick give them zero).
//
//   OpDef d = GatherOp("tile", {}, Names({"data"}), /*num_index=*/0, parse, shape, map);
//
// Thread-safety: the builders and the OpDefs they return are stateless.
#ifndef MXGRID_LIBS_OPS_TENSOR_GATHER_OP_H_
#define MXGRID_LIBS_OPS_TENSOR_GATHER_OP_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/ops/op.h"
#include "libs/ops/tensor/elemwise_kernels.h"

namespace mxgrid::ops::tensor_internal {

// Where one output element comes from: input `input`, flat element `offset`; input -1
// means the element is zero (scatter_nd, diag's off-diagonal).
struct Source {
  int32_t input = 0;
  int64_t offset = 0;
};

// Output shape from the (possibly partial) input shapes: nullopt while too little is
// known; unknown dims are -1. May also fill input shapes (e.g. an index's shape).
using GatherShapeFn = std::function<absl::StatusOr<InferShape>(const OpParams&,
                                                               std::vector<InferShape>* in)>;
// The source of every output element (C order). `in` has every input's shape; index
// inputs (the last num_index) also have their data. InvalidArgument for a bad index.
using GatherMapFn = std::function<absl::StatusOr<std::vector<Source>>(
    const OpParams&, absl::Span<const TensorView> in, const Shape& out)>;

using NamesFn = std::function<std::vector<std::string>(const OpParams&)>;
// Fixed input names.
NamesFn Names(std::vector<std::string> names);

// A gather op whose inputs are data inputs (one dtype, also the output's) and then
// `num_index` index inputs (any numeric dtype; no gradient).
OpDef GatherOp(const std::string& name, std::vector<std::string> aliases, NamesFn inputs,
               int num_index, ParseFn parse, GatherShapeFn shape_fn, GatherMapFn map_fn);

// Reads element i of a numeric index tensor as int64, truncating toward zero as MXNet's
// static_cast<int> does.
int64_t IndexAt(const TensorView& t, int64_t i);

// Shape of `s` with axis `axis` replaced by `mid` (which may be empty or several dims).
Shape ReplaceAxis(const Shape& s, int axis, absl::Span<const int64_t> mid);

}  // namespace mxgrid::ops::tensor_internal

#endif  // MXGRID_LIBS_OPS_TENSOR_GATHER_OP_H_
