// A small MXNet-style training loop over sklearn's 8x8 digits (data/digits/*.params), shared
// by digits_training_test and examples/train_digits: build a net with the Symbol API, bind it
// with SimpleBind, initialize weights as mx.init.Xavier does, and train with an Optimizer —
// what a Python user writes with mx.sym, simple_bind and mx.optimizer.
//
//   MXGRID_ASSIGN_OR_RETURN(DigitsData train, LoadDigits(dir + "/train.params"));
//   MXGRID_ASSIGN_OR_RETURN(DigitsData test, LoadDigits(dir + "/test.params"));
//   MXGRID_ASSIGN_OR_RETURN(graph::Symbol net, DigitsMlp());
//   MXGRID_ASSIGN_OR_RETURN(std::vector<EpochStats> stats,
//                           TrainDigits(net, train, test, TrainOptions{}));
//
// Thread-safety: the functions are thread-compatible; TrainDigits runs its own executors.
#ifndef MXGRID_TESTS_GRAPH_GOLDEN_DIGITS_TRAINER_H_
#define MXGRID_TESTS_GRAPH_GOLDEN_DIGITS_TRAINER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/graph/symbol.h"

namespace mxgrid::digits {

// A split held on the host: `pixels` row-major (size() x 64) in [0, 1], `labels` the class ids.
struct DigitsData {
  std::vector<float> pixels;
  std::vector<float> labels;
  int64_t size() const { return static_cast<int64_t>(labels.size()); }
};

inline constexpr int64_t kDigitsFeatures = 64;
inline constexpr int kDigitsClasses = 10;

// Reads an mx.nd.save dict with "data" (N, 64) and "label" (N,) float32 (export_digits.py).
// InvalidArgument when a key is missing or a shape is wrong; Load's errors otherwise.
absl::StatusOr<DigitsData> LoadDigits(const std::string& path);

// data(64) -> FC 64 -> relu -> FC 32 -> relu -> FC 10 -> SoftmaxOutput(name='softmax').
absl::StatusOr<graph::Symbol> DigitsMlp();
// data reshaped to (N, 1, 8, 8) -> conv 3x3x16 pad 1 -> relu -> max pool 2 -> conv 3x3x32
// pad 1 -> relu -> max pool 2 -> flatten -> FC 64 -> relu -> FC 10 -> SoftmaxOutput.
absl::StatusOr<graph::Symbol> DigitsLeNet();

// One epoch's results. Loss and accuracy on the training set are averaged over the batches
// the epoch trained on (computed from the training forward pass, as mx.metric does).
struct EpochStats {
  int epoch = 0;                // from 1
  double train_loss = 0;        // mean cross-entropy
  double train_accuracy = 0;
  double test_accuracy = 0;     // the whole held-out split, forward(is_train=False)
};

struct TrainOptions {
  int64_t batch_size = 32;  // the last partial batch of each epoch is dropped
  int epochs = 15;
  // Optimizer::Create("sgd", ...) parameters; rescale_grad is 1 / batch_size. At 0.1 with
  // momentum 0.9 both nets oscillate (real MXNet's Module.fit too); 0.05 converges smoothly.
  double learning_rate = 0.05;
  double momentum = 0.9;
  double wd = 1e-4;
  uint32_t seed = 42;  // weight initialization and per-epoch shuffling
  // Called after each epoch (e.g. to print progress); may be empty.
  std::function<void(const EpochStats&)> on_epoch;
};

// Trains `net` (inputs "data" (batch, 64) and "softmax_label"; one softmax output) on `train`
// and evaluates on `test` after every epoch. Weights: Xavier uniform (magnitude 3, average
// fan), biases zero. Returns every epoch's stats. InvalidArgument for bad options or a net
// that does not bind; errors of the executor and optimizer otherwise.
absl::StatusOr<std::vector<EpochStats>> TrainDigits(const graph::Symbol& net,
                                                    const DigitsData& train,
                                                    const DigitsData& test,
                                                    const TrainOptions& options);

}  // namespace mxgrid::digits

#endif  // MXGRID_TESTS_GRAPH_GOLDEN_DIGITS_TRAINER_H_
