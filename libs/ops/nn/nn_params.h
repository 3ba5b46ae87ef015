// The parsed parameters of the nn operators that have CUDA kernels (internal to libs/ops/nn):
// shared by the CPU kernels (*.cc, which parse them) and the CUDA kernels (*.cu, which read
// them), and the shape helpers both sides use (defined in the op's .cc). Plain structs; every
// default is MXNet 1.9.1's. Kept free of oneDNN and OpenMP so that nvcc can include it.
#ifndef MXGRID_LIBS_OPS_NN_NN_PARAMS_H_
#define MXGRID_LIBS_OPS_NN_NN_PARAMS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/base/shape.h"
#include "libs/ops/op.h"

namespace mxgrid::ops::nn {

// FullyConnected.
struct FCParams : OpParams {
  int64_t num_hidden = 0;
  bool no_bias = false;
  bool flatten = true;
};

// Activation's and LeakyReLU's functions.
enum class Act { kRelu, kSigmoid, kTanh, kSoftRelu, kSoftSign, kLeaky, kElu };

// Activation and LeakyReLU (slope: leaky's negative slope, elu's alpha).
struct ActParams : OpParams {
  Act act = Act::kRelu;
  double slope = 0.25;
};

// softmax, log_softmax, softmin and SoftmaxActivation.
struct SoftmaxParams : OpParams {
  int64_t axis = -1;
  double temperature = 1.0;
  bool log = false;
  bool negate = false;   // softmin: the softmax of -x.
  bool channel = false;  // SoftmaxActivation only; instance mode flattens d[1:].
  bool activation = false;
};

// SoftmaxOutput.
struct SoftmaxOutputParams : OpParams {
  double grad_scale = 1.0;
  double ignore_label = -1.0;
  bool multi_output = false;
  bool use_ignore = false;
  bool preserve_shape = false;
  std::string normalization = "null";
  bool out_grad = false;
  double smooth_alpha = 0.0;
};

// Linear/Logistic/MAERegressionOutput.
struct RegressionParams : OpParams {
  double grad_scale = 1.0;
};

// Dropout.
struct DropoutParams : OpParams {
  double p = 0.5;
  bool always = false;
  std::vector<int64_t> axes;
};

// MakeLoss.
struct MakeLossParams : OpParams {
  double grad_scale = 1, valid_thresh = 0;
  std::string normalization = "null";
};

// smooth_l1 (sigma = scalar).
struct SmoothL1Params : OpParams {
  double sigma = 1;
};

// LayerNorm.
struct LayerNormParams : OpParams {
  int64_t axis = -1;
  double eps = 1e-5;
  bool output_mean_var = false;
};

// Pad (pad.cc): mode 'constant', 'edge' or 'reflect'; pad: before/after per axis.
struct PadParams : OpParams {
  std::string mode;
  std::vector<int64_t> pad;
  double value = 0;
};

// InvalidArgument unless Pad can pad data of shape `s` with `p` (4-D/5-D, 2 widths per
// axis, the first two axes unpadded, reflect pads below the axis, edge pads of a non-empty
// axis). pad.cc.
absl::Status CheckPad(const PadParams& p, const Shape& s);

// SequenceMask, SequenceLast and SequenceReverse (sequence_ops.cc).
enum class SeqKind { kMask, kLast, kReverse };

struct SeqParams : OpParams {
  SeqKind kind = SeqKind::kMask;
  bool use_length = false;
  double value = 0;
  int64_t axis = 0;
};

// The operator's name ("SequenceMask", ...).
const char* SeqName(SeqKind k);

// InstanceNorm (l2 false) and L2Normalization (instance_l2_norm.cc).
struct NormParams : OpParams {
  bool l2 = false;
  double eps = 1e-3;
  std::string mode = "instance";
};

// The reduction groups of InstanceNorm/L2Normalization: group g (of outer * stride) holds
// x[(o * length + j) * stride + s], j < length, with o = g / stride, s = g % stride.
struct NormView {
  int64_t outer = 1, length = 1, stride = 1;
  int64_t At(int64_t g, int64_t j) const {
    return ((g / stride) * length + j) * stride + g % stride;
  }
  int64_t groups() const { return outer * stride; }
};

const char* NormName(const NormParams& p);
// The groups of data shaped `s` (InvalidArgument when it has too few dimensions).
absl::StatusOr<NormView> NormViewOf(const NormParams& p, const Shape& s);

// LRN (lrn.cc).
struct LRNParams : OpParams {
  double alpha = 1e-4, beta = 0.75, knorm = 2;
  int64_t nsize = 0;
};

// UpSampling (upsampling.cc).
struct UpParams : OpParams {
  int64_t scale = 1, num_filter = 0, num_args = 1, workspace = 512;
  bool sum = false;
  bool bilinear = false;
};

}  // namespace mxgrid::ops::nn

#endif  // MXGRID_LIBS_OPS_NN_NN_PARAMS_H_
