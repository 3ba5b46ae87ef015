// float32 element-wise activations (forward, backward) and softmax (forward) through oneDNN
// primitives (internal to libs/ops/nn).
//
// Every function treats its buffers as plain dense memory: eltwise data as a 1-D tensor of
// `n` floats, softmax data as (outer, n, inner) with the softmax over n. Each call builds its
// primitive and runs it on a stream of its own on a thread_local CPU engine; nothing is
// cached. The results overwrite the destination (callers handle kAddTo through a temporary).
//
// Aliasing (oneDNN's documented in-place support): forward functions allow dst == src;
// eltwise backward allows diff_src == diff_dst but not diff_src == dst (callers fall back to
// their loops then).
//
// Thread-safety: stateless; concurrent calls on different buffers are safe.
// Errors: a oneDNN failure is returned as absl::InternalError.
#ifndef MXGRID_LIBS_OPS_NN_NN_DNNL_H_
#define MXGRID_LIBS_OPS_NN_NN_DNNL_H_

#include <cstdint>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "libs/ops/op.h"

namespace mxgrid::ops::nn {

// The eltwise functions oneDNN implements with MXNet's Activation semantics.
enum class DnnlEltwise {
  kRelu,      // max(x, 0)
  kLogistic,  // 1 / (1 + exp(-x))
  kTanh,      // tanh(x)
  kSoftRelu,  // log(1 + exp(x)); forward only (its gradient needs the input)
};

// y = f(x) over n floats. REQUIRES: x and y hold n floats; y may equal x.
absl::Status DnnlEltwiseForward(DnnlEltwise f, const float* x, int64_t n, float* y);

// dx = dy * f'(x) computed from the forward output y. REQUIRES: f != kSoftRelu; dx != y
// (dx == dy is allowed).
absl::Status DnnlEltwiseBackward(DnnlEltwise f, const float* y, const float* dy, int64_t n,
                                 float* dx);

// The softmax's geometry: (outer, n, inner), softmax over n; `log` for log_softmax.
struct DnnlSoftmaxShape {
  int64_t outer = 1, n = 1, inner = 1;
  bool log = false;
};

// y = softmax(x) (or log_softmax) over the middle axis. y may equal x.
absl::Status DnnlSoftmaxForward(const DnnlSoftmaxShape& s, const float* x, float* y);

// Runs `compute`, which overwrites the n floats it is given, so that `dst` gets the result
// under `req`: kNull skips, kWriteTo/kWriteInplace compute into dst, kAddTo computes into a
// temporary and adds it.
absl::Status ComputeWithReq(OpReq req, float* dst, int64_t n,
                            absl::FunctionRef<absl::Status(float*)> compute);

}  // namespace mxgrid::ops::nn

#endif  // MXGRID_LIBS_OPS_NN_NN_DNNL_H_
