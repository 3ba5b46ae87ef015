// cuDNN (legacy API) convolutions for Convolution and Deconvolution's CUDA kernels.
//
// A CudnnConv holds the descriptors of one convolution x (n, c, spatial) -> y (n, f, out
// spatial) with weight (f, c / groups, kernel), in the ConvGeom form (conv_internal.h):
// 1-D and 2-D convolutions as 4-D NCHW tensors (unit height for 1-D), 3-D ones as 5-D NCDHW.
// Algorithms come from cuDNN's heuristics (cudnnGet*Algorithm_v7: no benchmarking runs, no
// allocations), taking the first that cuDNN supports for the descriptors with a workspace of
// at most kMaxWorkspaceBytes; float32 convolutions use FMA math only (full FP32) unless
// MXGRID_GPU_ALLOW_TF32=1 was set in the environment (read once). Workspaces come from
// gpu::ThreadWorkspace.
//
//   MXGRID_ASSIGN_OR_RETURN(CudnnConv* conv, CudnnConv::Get(device, dtype, geom));
//   MXGRID_RETURN_IF_ERROR(conv->Prepare(handle, ConvPasses{true, false, false}));
//   MXGRID_RETURN_IF_ERROR(conv->Forward(device, handle, x, w, /*beta=*/0, y));
//
// Thread-safety: each thread has its own cache of CudnnConvs (keyed by device, dtype and
// geometry), so a training loop queries the heuristics once per shape. A pointer Get
// returned is valid until the thread's next Get.
#ifndef MXGRID_LIBS_OPS_CONV_CONV_CUDNN_CUH_
#define MXGRID_LIBS_OPS_CONV_CONV_CUDNN_CUH_

#include <cudnn.h>

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/base/dtype.h"
#include "libs/ops/conv/conv_internal.h"
#include "libs/ops/op.h"

namespace mxgrid::ops::conv_internal {

// The calling thread's cuDNN handle on ctx's device, bound to ctx.stream.
absl::StatusOr<cudnnHandle_t> CudnnOn(const OpContext& ctx);

// cuDNN's beta for a request: 1 accumulates (kAddTo), 0 overwrites.
inline double BetaOf(OpReq req) { return req == OpReq::kAddTo ? 1.0 : 0.0; }

// True when some view has no elements (cuDNN describes no empty tensor).
inline bool AnyEmpty(absl::Span<const TensorView> views) {
  for (const TensorView& v : views) {
    if (v.size() == 0) return true;
  }
  return false;
}

// Which passes a call will run (their algorithms are chosen before anything is launched).
struct ConvPasses {
  bool forward = false;
  bool backward_data = false;
  bool backward_filter = false;
};

class CudnnConv {
 public:
  // The largest workspace an algorithm may ask for.
  static constexpr size_t kMaxWorkspaceBytes = size_t{1} << 30;

  // The calling thread's CudnnConv for `g` on `device` with arrays of `dtype` (float32,
  // float64 or float16). Unimplemented for geometries cuDNN cannot describe (a dimension
  // beyond int32); the cuDNN error of a descriptor it refuses.
  static absl::StatusOr<CudnnConv*> Get(int device, DType dtype, const ConvGeom& g);

  ~CudnnConv();
  CudnnConv(const CudnnConv&) = delete;
  CudnnConv& operator=(const CudnnConv&) = delete;

  // Chooses the algorithms of `passes` not chosen yet. Unimplemented when cuDNN supports
  // no algorithm for a pass (the caller may then run the CPU kernels instead); nothing is
  // launched.
  absl::Status Prepare(cudnnHandle_t handle, const ConvPasses& passes);

  // y = conv(x, w) + beta * y. REQUIRES: Prepare with forward.
  absl::Status Forward(int device, cudnnHandle_t handle, const void* x, const void* w,
                       double beta, void* y);
  // dx = conv_transpose(dy, w) + beta * dx. REQUIRES: Prepare with backward_data.
  absl::Status BackwardData(int device, cudnnHandle_t handle, const void* dy, const void* w,
                            double beta, void* dx);
  // dw = the weight gradient of (x, dy) + beta * dw. REQUIRES: Prepare with backward_filter.
  absl::Status BackwardFilter(int device, cudnnHandle_t handle, const void* x, const void* dy,
                              double beta, void* dw);
  // t[:, ch, ...] += bias[ch] for t the convolution's output y (on_output) or input x.
  absl::Status AddBias(cudnnHandle_t handle, bool on_output, const void* bias, void* t);
  // db = sum of t over all but the channel axis + beta * db, t being y (on_output) or x.
  absl::Status BiasGrad(cudnnHandle_t handle, bool on_output, const void* t, double beta,
                        void* db);

 private:
  CudnnConv() = default;
  absl::Status Init(DType dtype, const ConvGeom& g);
  // alpha / beta as cuDNN reads them for this dtype (double for float64, else float).
  const void* Scalar(double v, double* d, float* f) const;

  bool is_double_ = false;
  cudnnTensorDescriptor_t x_ = nullptr, y_ = nullptr, bias_x_ = nullptr, bias_y_ = nullptr;
  cudnnFilterDescriptor_t w_ = nullptr;
  cudnnConvolutionDescriptor_t conv_ = nullptr;
  bool have_fwd_ = false, have_bwd_data_ = false, have_bwd_filter_ = false;
  cudnnConvolutionFwdAlgo_t fwd_algo_{};
  cudnnConvolutionBwdDataAlgo_t bwd_data_algo_{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter_algo_{};
  size_t fwd_ws_ = 0, bwd_data_ws_ = 0, bwd_filter_ws_ = 0;
};

}  // namespace mxgrid::ops::conv_internal

#endif  // MXGRID_LIBS_OPS_CONV_CONV_CUDNN_CUH_
