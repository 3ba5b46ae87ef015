// The tensor family's CUDA registrations, one per .cu file (internal to libs/ops/tensor;
// --config=cuda builds only). RegisterTensorCudaKernels (../cuda_kernels.h) calls them all.
// Each attaches gpu_forward / gpu_backward / gpu_dtypes to operators the CPU registration
// made; NotFound when one is missing.
#ifndef MXGRID_LIBS_OPS_TENSOR_TENSOR_CUDA_H_
#define MXGRID_LIBS_OPS_TENSOR_TENSOR_CUDA_H_

#include "absl/status/status.h"
#include "libs/ops/registry.h"

namespace mxgrid::ops::tensor_cuda {

// elemwise_cuda.cu: elemwise_* and the comparisons, _grad_add, add_n.
absl::Status RegisterElemwiseCuda(Registry* registry);
// scalar_cuda.cu: the *_scalar ops.
absl::Status RegisterScalarCuda(Registry* registry);
// unary_cuda.cu: unary.cc's math, clip, copies, zeros_like/ones_like; unary_math.cc.
absl::Status RegisterUnaryCuda(Registry* registry);
// cast_cuda.cu: Cast.
absl::Status RegisterCastCuda(Registry* registry);
// broadcast_cuda.cu: broadcast_* binary ops, broadcast_to, broadcast_like.
absl::Status RegisterBroadcastCuda(Registry* registry);
// reduce_cuda.cu: sum, mean, max, min, prod, nansum, nanprod, norm, _square_sum, argmax,
// argmin, argmax_channel.
absl::Status RegisterReduceCuda(Registry* registry);
// dot_cuda.cu: dot, batch_dot (cuBLAS).
absl::Status RegisterDotCuda(Registry* registry);
// matrix_cuda.cu: Flatten, Reshape, expand_dims, squeeze, transpose, Concat, SliceChannel,
// slice_axis, and the init ops.
absl::Status RegisterMatrixCuda(Registry* registry);
// shape_cuda.cu: SwapAxis, reverse, slice_like, diag, tile, repeat, broadcast_axis, stack,
// _split_v2, depth_to_space, space_to_depth.
absl::Status RegisterShapeCuda(Registry* registry);
// index_nd_cuda.cu: gather_nd, scatter_nd, _scatter_set_nd, batch_take, _slice_assign,
// _slice_assign_scalar, fill_element_0index, shape_array, size_array.
absl::Status RegisterIndexNdCuda(Registry* registry);
// sort_cuda.cu: topk, sort, argsort.
absl::Status RegisterSortCuda(Registry* registry);
// index_cuda.cu: take, pick, one_hot, where, Embedding.
absl::Status RegisterIndexCuda(Registry* registry);

}  // namespace mxgrid::ops::tensor_cuda

#endif  // MXGRID_LIBS_OPS_TENSOR_TENSOR_CUDA_H_
