// The shape-op half of TensorCases (test-only, internal to libs/ops/tensor).
#ifndef MXGRID_LIBS_OPS_TENSOR_TENSOR_CASES_INTERNAL_H_
#define MXGRID_LIBS_OPS_TENSOR_TENSOR_CASES_INTERNAL_H_

#include <functional>
#include <string>
#include <vector>

#include "libs/ops/testing/op_checker.h"

namespace mxgrid::ops::tensor_cases_internal {

using Fn1 = std::function<double(double)>;
using Fn2 = std::function<double(double, double)>;

// The shapes every elementwise case runs on, and a case-name suffix for a shape ("_2_3").
const std::vector<Shape>& Shapes();
std::string Tag(const Shape& s);
// One case per Shapes() entry: out = f(x) (unary with `attrs`), f(a, b) (same shapes), or
// f(a, b) under broadcasting over a fixed list of shape pairs; inputs uniform in
// [low, high]. `grad` false skips the gradient check.
void AddUnary(std::vector<testing::OpCase>* cases, const std::string& op, const AttrMap& attrs,
              Fn1 f, double low, double high, bool grad = true);
void AddBinary(std::vector<testing::OpCase>* cases, const std::string& op, Fn2 f, double low,
               double high);
void AddBroadcast(std::vector<testing::OpCase>* cases, const std::string& op, Fn2 f,
                  double low, double high);
// Element of `in` (shape `s`) that broadcasts to flat index `k` of output shape `os`.
double BroadcastAt(const std::vector<double>& in, const Shape& s, const Shape& os, int64_t k);

// Flatten, Reshape, expand_dims, squeeze, transpose.
void MatrixCases(std::vector<testing::OpCase>* cases);
// Concat, SliceChannel, slice_axis.
void ConcatSliceCases(std::vector<testing::OpCase>* cases);
// dot, batch_dot.
void DotCases(std::vector<testing::OpCase>* cases);
// one_hot, Embedding, where.
void IndexCases(std::vector<testing::OpCase>* cases);
// _power, broadcast_power, the scalar powers, max/min scalars, every comparison, the mods
// (_mod, _mod_scalar, _rmod_scalar, broadcast_mod) and sign.
void PowerCompareCases(std::vector<testing::OpCase>* cases);
// shape_ops.cc and take_pick.cc: tile, repeat, reverse, SwapAxis, broadcast_axis, stack,
// take, pick, batch_take.
void GatherCases(std::vector<testing::OpCase>* cases);
// sort.cc: topk, sort, argsort.
void SortCases(std::vector<testing::OpCase>* cases);
// unary_math.cc: trigonometric, rounding, roots, special functions, logs.
void UnaryMathCases(std::vector<testing::OpCase>* cases);
// like_ops.cc and init_ops.cc: reshape_like, _identity_with_attr_like_rhs, shape_array,
// size_array, _zeros, _ones, _full, _arange, _linspace; argmax_channel; depth_to_space, space_to_depth;
// _split_v2; fill_element_0index.
void LikeInitCases(std::vector<testing::OpCase>* cases);
// slice [crop], broadcast_to, broadcast_like.
void SliceBroadcastToCases(std::vector<testing::OpCase>* cases);
// slice_assign.cc and _scatter_set_nd: _slice_assign, _slice_assign_scalar, _scatter_set_nd.
void SliceAssignCases(std::vector<testing::OpCase>* cases);

}  // namespace mxgrid::ops::tensor_cases_internal

#endif  // MXGRID_LIBS_OPS_TENSOR_TENSOR_CASES_INTERNAL_H_
