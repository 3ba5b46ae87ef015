// CudnnConv (conv_cudnn.cuh): descriptors, algorithm choice (timed or heuristic), thread cache.
#include <climits>
#include <cstdlib>
#include <map>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/gpu/cuda_util.h"
#include "libs/ops/conv/conv_cudnn.cuh"

namespace mxgrid::ops::conv_internal {
namespace {

// Returns the cuDNN error of `expr` (naming it) from the enclosing function.
#define MXGRID_CUDNN_RETURN(expr)                                           \
  do {                                                                      \
    const cudnnStatus_t mxgrid_cudnn_status = (expr);                       \
    if (mxgrid_cudnn_status != CUDNN_STATUS_SUCCESS) {                      \
      return gpu::CudnnStatus(mxgrid_cudnn_status, "Convolution: " #expr); \
    }                                                                       \
  } while (0)

// MXGRID_GPU_ALLOW_TF32=1: float32 convolutions may use TF32 tensor-core math.
bool AllowTf32() {
  static const bool allow = [] {
    const char* v = std::getenv("MXGRID_GPU_ALLOW_TF32");
    return v != nullptr && v[0] == '1' && v[1] == '\0';
  }();
  return allow;
}

// MXNet's MXNET_CUDNN_AUTOTUNE_DEFAULT: 1 (the default) times cuDNN's algorithms on the
// first call of each geometry (cudnnFind*, buffers of cuDNN's own) and keeps the fastest;
// 0 takes cuDNN's heuristic order (cudnnGet*_v7) without running anything.
bool Autotune() {
  static const bool tune = [] {
    const char* v = std::getenv("MXNET_CUDNN_AUTOTUNE_DEFAULT");
    return v == nullptr || v[0] != '0';
  }();
  return tune;
}

// Cached CudnnConvs per thread; cleared whole when it would pass kMaxEntries (a training
// loop uses a handful of shapes; a stream of new shapes must not grow it without bound).
constexpr size_t kMaxEntries = 256;
using Cache = std::map<std::vector<int64_t>, std::unique_ptr<CudnnConv>>;

bool IsTensorOp(cudnnMathType_t m) {
  return m == CUDNN_TENSOR_OP_MATH || m == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
}

// Chooses the first algorithm of cuDNN's order (timed or heuristic; then every algorithm) it
// supports for the descriptors with a workspace of at most the limit. `perf` lists the
// results; `workspace(algo, &bytes)` asks cuDNN for an algorithm's workspace.
template <typename Algo, typename Perf, typename WorkspaceFn>
bool ChooseAlgo(const Perf* perf, int returned, int algo_count, bool strict_fp32,
                WorkspaceFn&& workspace, Algo* algo, size_t* bytes) {
  auto try_algo = [&](Algo a) {
    size_t b = 0;
    if (workspace(a, &b) != CUDNN_STATUS_SUCCESS || b > CudnnConv::kMaxWorkspaceBytes) {
      return false;
    }
    *algo = a;
    *bytes = b;
    return true;
  };
  for (int i = 0; i < returned; ++i) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS) continue;
    if (strict_fp32 && IsTensorOp(perf[i].mathType)) continue;
    if (try_algo(perf[i].algo)) return true;
  }
  for (int a = 0; a < algo_count; ++a) {
    if (try_algo(static_cast<Algo>(a))) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<cudnnHandle_t> CudnnOn(const OpContext& ctx) {
  absl::StatusOr<cudnnHandle_t> handle = gpu::Cudnn(ctx.ctx.device_id);
  if (!handle.ok()) return handle.status();
  MXGRID_CUDNN_RETURN(cudnnSetStream(*handle, gpu::StreamOf(ctx.stream)));
  return *handle;
}

absl::StatusOr<CudnnConv*> CudnnConv::Get(int device, DType dtype, const ConvGeom& g) {
  thread_local Cache cache;
  std::vector<int64_t> key = {device, static_cast<int64_t>(dtype), AllowTf32() ? 1 : 0,
                              g.nsp, g.n,  g.c,  g.d,  g.h,  g.w,  g.f,  g.od, g.oh, g.ow,
                              g.kd,  g.kh, g.kw, g.sd, g.sh, g.sw, g.pd, g.ph, g.pw, g.dd,
                              g.dh,  g.dw, g.groups};
  auto it = cache.find(key);
  if (it != cache.end()) return it->second.get();
  if (cache.size() >= kMaxEntries) cache.clear();
  std::unique_ptr<CudnnConv> conv(new CudnnConv());
  absl::Status s = conv->Init(dtype, g);
  if (!s.ok()) return s;
  CudnnConv* raw = conv.get();
  cache.emplace(std::move(key), std::move(conv));
  return raw;
}

CudnnConv::~CudnnConv() {
  if (x_ != nullptr) cudnnDestroyTensorDescriptor(x_);
  if (y_ != nullptr) cudnnDestroyTensorDescriptor(y_);
  if (bias_x_ != nullptr) cudnnDestroyTensorDescriptor(bias_x_);
  if (bias_y_ != nullptr) cudnnDestroyTensorDescriptor(bias_y_);
  if (w_ != nullptr) cudnnDestroyFilterDescriptor(w_);
  if (conv_ != nullptr) cudnnDestroyConvolutionDescriptor(conv_);
}

absl::Status CudnnConv::Init(DType dtype, const ConvGeom& g) {
  cudnnDataType_t data_type, compute_type;
  cudnnMathType_t math;
  switch (dtype) {
    case DType::kFloat32:
      data_type = compute_type = CUDNN_DATA_FLOAT;
      math = AllowTf32() ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
      break;
    case DType::kFloat64:
      data_type = compute_type = CUDNN_DATA_DOUBLE;
      math = CUDNN_DEFAULT_MATH;
      is_double_ = true;
      break;
    case DType::kFloat16:
      data_type = CUDNN_DATA_HALF;
      compute_type = CUDNN_DATA_FLOAT;  // half storage, float arithmetic
      math = CUDNN_TENSOR_OP_MATH;
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("Convolution: no cuDNN convolution for ", DTypeName(dtype), " arrays"));
  }
  for (int64_t v : {g.n, g.c, g.d, g.h, g.w, g.f, g.od, g.oh, g.ow, g.kd, g.kh, g.kw, g.sd,
                    g.sh, g.sw, g.pd, g.ph, g.pw, g.dd, g.dh, g.dw, g.groups}) {
    if (v > INT_MAX) {
      return absl::UnimplementedError("Convolution: a dimension exceeds cuDNN's int32 range");
    }
  }
  const int i = static_cast<int>(g.nsp == 3 ? 0 : 1);  // first spatial dim used (d or h)
  const int nsp = 3 - i;
  auto pick = [i](int64_t d, int64_t h, int64_t w) {
    const int64_t all[3] = {d, h, w};
    return std::vector<int>(all + i, all + 3);
  };
  auto dims = [&](int64_t a, int64_t b, std::vector<int> sp) {
    std::vector<int> out = {static_cast<int>(a), static_cast<int>(b)};
    out.insert(out.end(), sp.begin(), sp.end());
    return out;
  };
  const std::vector<int> xd = dims(g.n, g.c, pick(g.d, g.h, g.w));
  const std::vector<int> yd = dims(g.n, g.f, pick(g.od, g.oh, g.ow));
  const std::vector<int> wd = dims(g.f, g.c / g.groups, pick(g.kd, g.kh, g.kw));
  const std::vector<int> bxd = dims(1, g.c, std::vector<int>(nsp, 1));
  const std::vector<int> byd = dims(1, g.f, std::vector<int>(nsp, 1));
  const std::vector<int> pad = pick(g.pd, g.ph, g.pw);
  const std::vector<int> stride = pick(g.sd, g.sh, g.sw);
  const std::vector<int> dilate = pick(g.dd, g.dh, g.dw);
  const int nd = nsp + 2;
  MXGRID_CUDNN_RETURN(cudnnCreateTensorDescriptor(&x_));
  MXGRID_CUDNN_RETURN(cudnnCreateTensorDescriptor(&y_));
  MXGRID_CUDNN_RETURN(cudnnCreateTensorDescriptor(&bias_x_));
  MXGRID_CUDNN_RETURN(cudnnCreateTensorDescriptor(&bias_y_));
  MXGRID_CUDNN_RETURN(cudnnCreateFilterDescriptor(&w_));
  MXGRID_CUDNN_RETURN(cudnnCreateConvolutionDescriptor(&conv_));
  MXGRID_CUDNN_RETURN(
      cudnnSetTensorNdDescriptorEx(x_, CUDNN_TENSOR_NCHW, data_type, nd, xd.data()));
  MXGRID_CUDNN_RETURN(
      cudnnSetTensorNdDescriptorEx(y_, CUDNN_TENSOR_NCHW, data_type, nd, yd.data()));
  MXGRID_CUDNN_RETURN(
      cudnnSetTensorNdDescriptorEx(bias_x_, CUDNN_TENSOR_NCHW, data_type, nd, bxd.data()));
  MXGRID_CUDNN_RETURN(
      cudnnSetTensorNdDescriptorEx(bias_y_, CUDNN_TENSOR_NCHW, data_type, nd, byd.data()));
  MXGRID_CUDNN_RETURN(cudnnSetFilterNdDescriptor(w_, data_type, CUDNN_TENSOR_NCHW, nd, wd.data()));
  MXGRID_CUDNN_RETURN(cudnnSetConvolutionNdDescriptor(conv_, nsp, pad.data(), stride.data(),
                                                      dilate.data(), CUDNN_CROSS_CORRELATION,
                                                      compute_type));
  MXGRID_CUDNN_RETURN(cudnnSetConvolutionGroupCount(conv_, static_cast<int>(g.groups)));
  MXGRID_CUDNN_RETURN(cudnnSetConvolutionMathType(conv_, math));
  return absl::OkStatus();
}

absl::Status CudnnConv::Prepare(cudnnHandle_t handle, const ConvPasses& passes) {
  const bool strict = !is_double_ && !AllowTf32();
  if (passes.forward && !have_fwd_) {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int returned = 0;
    MXGRID_CUDNN_RETURN((Autotune() ? cudnnFindConvolutionForwardAlgorithm
                                     : cudnnGetConvolutionForwardAlgorithm_v7)(
        handle, x_, w_, conv_, y_, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf));
    auto ws = [&](cudnnConvolutionFwdAlgo_t a, size_t* b) {
      return cudnnGetConvolutionForwardWorkspaceSize(handle, x_, w_, conv_, y_, a, b);
    };
    have_fwd_ = ChooseAlgo(perf, returned, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, strict, ws,
                           &fwd_algo_, &fwd_ws_);
    if (!have_fwd_) return absl::UnimplementedError("Convolution: no cuDNN forward algorithm");
  }
  if (passes.backward_data && !have_bwd_data_) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int returned = 0;
    MXGRID_CUDNN_RETURN((Autotune() ? cudnnFindConvolutionBackwardDataAlgorithm
                                     : cudnnGetConvolutionBackwardDataAlgorithm_v7)(
        handle, w_, y_, conv_, x_, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &returned, perf));
    auto ws = [&](cudnnConvolutionBwdDataAlgo_t a, size_t* b) {
      return cudnnGetConvolutionBackwardDataWorkspaceSize(handle, w_, y_, conv_, x_, a, b);
    };
    have_bwd_data_ = ChooseAlgo(perf, returned, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, strict,
                                ws, &bwd_data_algo_, &bwd_data_ws_);
    if (!have_bwd_data_) {
      return absl::UnimplementedError("Convolution: no cuDNN backward-data algorithm");
    }
  }
  if (passes.backward_filter && !have_bwd_filter_) {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int returned = 0;
    MXGRID_CUDNN_RETURN((Autotune() ? cudnnFindConvolutionBackwardFilterAlgorithm
                                     : cudnnGetConvolutionBackwardFilterAlgorithm_v7)(
        handle, x_, y_, conv_, w_, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &returned, perf));
    auto ws = [&](cudnnConvolutionBwdFilterAlgo_t a, size_t* b) {
      return cudnnGetConvolutionBackwardFilterWorkspaceSize(handle, x_, y_, conv_, w_, a, b);
    };
    have_bwd_filter_ = ChooseAlgo(perf, returned, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT,
                                  strict, ws, &bwd_filter_algo_, &bwd_filter_ws_);
    if (!have_bwd_filter_) {
      return absl::UnimplementedError("Convolution: no cuDNN backward-filter algorithm");
    }
  }
  return absl::OkStatus();
}

const void* CudnnConv::Scalar(double v, double* d, float* f) const {
  *d = v;
  *f = static_cast<float>(v);
  return is_double_ ? static_cast<const void*>(d) : static_cast<const void*>(f);
}

namespace {

absl::StatusOr<void*> Workspace(int device, size_t bytes) {
  if (bytes == 0) return static_cast<void*>(nullptr);
  return gpu::ThreadWorkspace(device, bytes);
}

}  // namespace

absl::Status CudnnConv::Forward(int device, cudnnHandle_t handle, const void* x, const void* w,
                                double beta, void* y) {
  absl::StatusOr<void*> ws = Workspace(device, fwd_ws_);
  if (!ws.ok()) return ws.status();
  double ad, bd;
  float af, bf;
  MXGRID_CUDNN_RETURN(cudnnConvolutionForward(handle, Scalar(1.0, &ad, &af), x_, x, w_, w, conv_,
                                              fwd_algo_, *ws, fwd_ws_, Scalar(beta, &bd, &bf),
                                              y_, y));
  return absl::OkStatus();
}

absl::Status CudnnConv::BackwardData(int device, cudnnHandle_t handle, const void* dy,
                                     const void* w, double beta, void* dx) {
  absl::StatusOr<void*> ws = Workspace(device, bwd_data_ws_);
  if (!ws.ok()) return ws.status();
  double ad, bd;
  float af, bf;
  MXGRID_CUDNN_RETURN(cudnnConvolutionBackwardData(
      handle, Scalar(1.0, &ad, &af), w_, w, y_, dy, conv_, bwd_data_algo_, *ws, bwd_data_ws_,
      Scalar(beta, &bd, &bf), x_, dx));
  return absl::OkStatus();
}

absl::Status CudnnConv::BackwardFilter(int device, cudnnHandle_t handle, const void* x,
                                       const void* dy, double beta, void* dw) {
  absl::StatusOr<void*> ws = Workspace(device, bwd_filter_ws_);
  if (!ws.ok()) return ws.status();
  double ad, bd;
  float af, bf;
  MXGRID_CUDNN_RETURN(cudnnConvolutionBackwardFilter(
      handle, Scalar(1.0, &ad, &af), x_, x, y_, dy, conv_, bwd_filter_algo_, *ws,
      bwd_filter_ws_, Scalar(beta, &bd, &bf), w_, dw));
  return absl::OkStatus();
}

absl::Status CudnnConv::AddBias(cudnnHandle_t handle, bool on_output, const void* bias,
                                void* t) {
  double ad, bd;
  float af, bf;
  MXGRID_CUDNN_RETURN(cudnnAddTensor(handle, Scalar(1.0, &ad, &af), on_output ? bias_y_ : bias_x_,
                                     bias, Scalar(1.0, &bd, &bf), on_output ? y_ : x_, t));
  return absl::OkStatus();
}

absl::Status CudnnConv::BiasGrad(cudnnHandle_t handle, bool on_output, const void* t,
                                 double beta, void* db) {
  double ad, bd;
  float af, bf;
  MXGRID_CUDNN_RETURN(cudnnConvolutionBackwardBias(handle, Scalar(1.0, &ad, &af),
                                                   on_output ? y_ : x_, t,
                                                   Scalar(beta, &bd, &bf),
                                                   on_output ? bias_y_ : bias_x_, db));
  return absl::OkStatus();
}

}  // namespace mxgrid::ops::conv_internal
