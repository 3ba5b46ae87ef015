// Reference networks built with Symbol::Create, for benchmarks and tests: the MLP and LeNet of
// MXNet's tutorials and the ImageNet ResNets of MXNet's example/image-classification
// (symbols/resnet.py, pre-activation units with BatchNorm).
//
//   NameManager names;
//   MXGRID_ASSIGN_OR_RETURN(Symbol net, models::ResNet({.depth = 50}, &names));
//   // arguments: data, bn_data_gamma, ..., fc1_weight, fc1_bias, softmax_label
//
// Every net reads "data" and ends in SoftmaxOutput named "softmax" (label "softmax_label").
// Layer names follow the Python originals, so MXNet's peer scripts list the same arguments.
// Unnamed nodes (flatten, pooling, the residual additions) take names from `names` (a fresh
// manager when null).
//
// Thread-safety: pure functions (each call uses only its own NameManager).
#ifndef MXGRID_LIBS_GRAPH_TESTING_MODELS_H_
#define MXGRID_LIBS_GRAPH_TESTING_MODELS_H_

#include <vector>

#include "absl/status/statusor.h"
#include "libs/graph/symbol.h"

namespace mxgrid::graph::models {

// data -> FullyConnected(h) -> relu for each hidden size (fc1, relu1, fc2, ...), then
// FullyConnected(num_classes) -> SoftmaxOutput. Mlp({128, 64}) is the 784-128-64-10 tutorial
// net. InvalidArgument for a non-positive size.
absl::StatusOr<Symbol> Mlp(const std::vector<int>& hidden, int num_classes = 10,
                           NameManager* names = nullptr);

// LeNet for (N, 1, 28, 28): Convolution 5x5 20 -> tanh -> max pool 2x2/2 -> Convolution 5x5 50
// -> tanh -> max pool 2x2/2 -> Flatten -> FullyConnected 500 -> tanh -> FullyConnected 10 ->
// SoftmaxOutput.
absl::StatusOr<Symbol> LeNet(NameManager* names = nullptr);

struct ResNetOptions {
  // 18 and 34 use basic units, 50, 101 and 152 bottleneck units; InvalidArgument otherwise.
  int depth = 50;
  int num_classes = 1000;
};

// ImageNet-style ResNet for (N, 3, 224, 224): BatchNorm on the data, 7x7/2 convolution, 3x3/2
// max pooling, four stages of residual units, global average pooling, FullyConnected.
absl::StatusOr<Symbol> ResNet(const ResNetOptions& options, NameManager* names = nullptr);

}  // namespace mxgrid::graph::models

#endif  // MXGRID_LIBS_GRAPH_TESTING_MODELS_H_
