// The parsed parameters of the nn operators that have CUDA kernels (internal to libs/ops/nn):
// shared by the CPU kernels (*.cc, which parse them) and the CUDA kernels (*.cu, which read
// them). Plain structs; every default is MXNet 1.9.1's. Kept free of oneDNN and OpenMP so
// that nvcc can include it.
#ifndef MXGRID_LIBS_OPS_NN_NN_PARAMS_H_
#define MXGRID_LIBS_OPS_NN_NN_PARAMS_H_

#include <cstdint>
#include <string>
#include <vector>

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

}  // namespace mxgrid::ops::nn

#endif  // MXGRID_LIBS_OPS_NN_NN_PARAMS_H_
