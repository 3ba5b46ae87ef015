#include "tests/graph_golden/digits_trainer.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "libs/base/status_macros.h"
#include "libs/executor/executor.h"
#include "libs/kvstore/optimizer.h"
#include "libs/ops/builtin.h"
#include "libs/tensor/ndarray.h"
#include "libs/tensor/ndarray_io.h"

namespace mxgrid::digits {
namespace {

using executor::Executor;
using graph::NameManager;
using graph::Symbol;
using tensor::NDArray;

// One operator application with a single data input, as mx.sym.<Op>(data=x, name=..., ...).
absl::StatusOr<Symbol> Op(absl::string_view op, const Symbol& x, ops::AttrMap attrs,
                          NameManager* names, absl::string_view name = "") {
  return Symbol::Create(ops::GlobalRegistry(), op, attrs, {{}, {{"data", x}}}, name, names);
}

absl::StatusOr<Symbol> FullyConnected(const Symbol& x, int hidden, absl::string_view name,
                                      NameManager* names) {
  return Op("FullyConnected", x, {{"num_hidden", absl::StrCat(hidden)}}, names, name);
}

absl::StatusOr<Symbol> Relu(const Symbol& x, NameManager* names) {
  return Op("Activation", x, {{"act_type", "relu"}}, names);
}

absl::StatusOr<Symbol> ConvReluPool(const Symbol& x, int filters, absl::string_view name,
                                    NameManager* names) {
  MXGRID_ASSIGN_OR_RETURN(
      Symbol conv, Op("Convolution", x,
                      {{"kernel", "(3, 3)"}, {"num_filter", absl::StrCat(filters)},
                       {"pad", "(1, 1)"}},
                      names, name));
  MXGRID_ASSIGN_OR_RETURN(Symbol act, Relu(conv, names));
  return Op("Pooling", act, {{"kernel", "(2, 2)"}, {"pool_type", "max"}, {"stride", "(2, 2)"}},
            names);
}

absl::StatusOr<Symbol> SoftmaxHead(const Symbol& x, NameManager* names) {
  return Op("SoftmaxOutput", x, {}, names, "softmax");
}

// mx.init.Xavier() (rnd_type 'uniform', factor_type 'avg', magnitude 3) for "*weight"
// arguments; zero for the rest (biases).
absl::Status Initialize(const std::string& name, const NDArray& array, std::mt19937* rng) {
  if (!absl::EndsWith(name, "weight")) return array.Fill(0);
  const Shape& shape = array.shape();
  if (shape.ndim() < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("Xavier needs a weight of 2 or more dimensions; '", name, "' is ",
                     shape.ToString()));
  }
  const double receptive = static_cast<double>(shape.ProdRange(2, shape.ndim()));
  const double fan_in = static_cast<double>(shape[1]) * receptive;
  const double fan_out = static_cast<double>(shape[0]) * receptive;
  const float scale = static_cast<float>(std::sqrt(3.0 / ((fan_in + fan_out) / 2.0)));
  std::uniform_real_distribution<float> uniform(-scale, scale);
  std::vector<float> values(static_cast<size_t>(array.size()));
  for (float& v : values) v = uniform(*rng);
  return array.CopyFromHost(values.data(), values.size() * sizeof(float));
}

// Copies `rows` of `split`, in that order, into the staging arrays `data` and `label`.
absl::Status Gather(const DigitsData& split, absl::Span<const int64_t> rows, const NDArray& data,
                    const NDArray& label) {
  std::vector<float> pixels(rows.size() * kDigitsFeatures);
  std::vector<float> labels(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const float* src = split.pixels.data() + rows[i] * kDigitsFeatures;
    std::copy(src, src + kDigitsFeatures, pixels.begin() + i * kDigitsFeatures);
    labels[i] = split.labels[rows[i]];
  }
  MXGRID_RETURN_IF_ERROR(data.CopyFromHost(pixels.data(), pixels.size() * sizeof(float)));
  return label.CopyFromHost(labels.data(), labels.size() * sizeof(float));
}

// Summed cross-entropy and correct predictions of softmax `probs` (n x 10) against `labels`.
struct Score {
  double loss = 0;
  int64_t correct = 0;
};

Score ScoreBatch(absl::Span<const float> probs, absl::Span<const float> labels) {
  Score score;
  for (size_t i = 0; i < labels.size(); ++i) {
    const float* row = probs.data() + i * kDigitsClasses;
    const int label = static_cast<int>(labels[i]);
    const int predicted = static_cast<int>(std::max_element(row, row + kDigitsClasses) - row);
    score.loss -= std::log(std::max(row[label], 1e-12f));
    score.correct += predicted == label;
  }
  return score;
}

// Forward(is_train=false) over the whole split at once; the fraction classified correctly.
absl::StatusOr<double> Evaluate(Executor& exec, const DigitsData& split, const NDArray& data,
                                const NDArray& label) {
  std::vector<int64_t> rows(static_cast<size_t>(split.size()));
  std::iota(rows.begin(), rows.end(), 0);
  MXGRID_RETURN_IF_ERROR(Gather(split, rows, data, label));
  MXGRID_RETURN_IF_ERROR(
      exec.Forward(/*is_train=*/false, {{"data", data}, {"softmax_label", label}}));
  MXGRID_ASSIGN_OR_RETURN(std::vector<float> probs, exec.outputs()[0].ToVector<float>());
  const Score score = ScoreBatch(probs, split.labels);
  return static_cast<double>(score.correct) / static_cast<double>(split.size());
}

}  // namespace

absl::StatusOr<DigitsData> LoadDigits(const std::string& path) {
  MXGRID_ASSIGN_OR_RETURN(tensor::LoadedArrays loaded, tensor::Load(path));
  std::map<std::string, NDArray> by_name;
  for (size_t i = 0; i < loaded.names.size(); ++i) by_name[loaded.names[i]] = loaded.arrays[i];
  if (!by_name.count("data") || !by_name.count("label")) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": expected a dict with 'data' and 'label' (export_digits.py)"));
  }
  const NDArray& data = by_name["data"];
  const NDArray& label = by_name["label"];
  if (data.shape().ndim() != 2 || data.shape()[1] != kDigitsFeatures ||
      label.shape() != Shape{data.shape()[0]}) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": data ", data.shape().ToString(),
                                                   " and label ", label.shape().ToString(),
                                                   " are not (N, 64) and (N,)"));
  }
  DigitsData out;
  MXGRID_ASSIGN_OR_RETURN(out.pixels, data.ToVector<float>());
  MXGRID_ASSIGN_OR_RETURN(out.labels, label.ToVector<float>());
  for (float l : out.labels) {
    if (!(l >= 0 && l < kDigitsClasses) || l != std::floor(l)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": label ", l, " is not a class id"));
    }
  }
  return out;
}

absl::StatusOr<Symbol> DigitsMlp() {
  NameManager names;
  Symbol x = Symbol::Variable("data");
  MXGRID_ASSIGN_OR_RETURN(x, FullyConnected(x, 64, "fc1", &names));
  MXGRID_ASSIGN_OR_RETURN(x, Relu(x, &names));
  MXGRID_ASSIGN_OR_RETURN(x, FullyConnected(x, 32, "fc2", &names));
  MXGRID_ASSIGN_OR_RETURN(x, Relu(x, &names));
  MXGRID_ASSIGN_OR_RETURN(x, FullyConnected(x, kDigitsClasses, "fc3", &names));
  return SoftmaxHead(x, &names);
}

absl::StatusOr<Symbol> DigitsLeNet() {
  NameManager names;
  Symbol x = Symbol::Variable("data");
  MXGRID_ASSIGN_OR_RETURN(x, Op("Reshape", x, {{"shape", "(-1, 1, 8, 8)"}}, &names));
  MXGRID_ASSIGN_OR_RETURN(x, ConvReluPool(x, 16, "conv1", &names));
  MXGRID_ASSIGN_OR_RETURN(x, ConvReluPool(x, 32, "conv2", &names));
  MXGRID_ASSIGN_OR_RETURN(x, Op("Flatten", x, {}, &names));
  MXGRID_ASSIGN_OR_RETURN(x, FullyConnected(x, 64, "fc1", &names));
  MXGRID_ASSIGN_OR_RETURN(x, Relu(x, &names));
  MXGRID_ASSIGN_OR_RETURN(x, FullyConnected(x, kDigitsClasses, "fc2", &names));
  return SoftmaxHead(x, &names);
}

absl::StatusOr<std::vector<EpochStats>> TrainDigits(const Symbol& net, const DigitsData& train,
                                                    const DigitsData& test,
                                                    const TrainOptions& options) {
  const int64_t batch = options.batch_size;
  if (batch <= 0 || batch > train.size() || options.epochs <= 0 || test.size() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "need 0 < batch_size <= ", train.size(), " training rows, epochs > 0 and a non-empty "
        "test split; got batch_size ", batch, ", epochs ", options.epochs));
  }
  // mod.bind(data_shapes=[('data', (batch, 64))], label_shapes=[('softmax_label', (batch,))]).
  MXGRID_ASSIGN_OR_RETURN(
      std::unique_ptr<Executor> exec,
      Executor::SimpleBind(net, Context::Cpu(),
                           {{"data", Shape{batch, kDigitsFeatures}},
                            {"softmax_label", Shape{batch}}}));
  // The evaluation executor shares the weights (same shapes, so the same arrays) as
  // Module.reshape does for a different batch size.
  MXGRID_ASSIGN_OR_RETURN(
      std::unique_ptr<Executor> eval,
      exec->Reshape({{"data", Shape{test.size(), kDigitsFeatures}},
                     {"softmax_label", Shape{test.size()}}},
                    /*partial_shaping=*/false, /*allow_up_sizing=*/true));

  // Parameters in list_arguments() order; the optimizer's index is the position here.
  std::mt19937 rng(options.seed);
  std::vector<std::pair<NDArray, NDArray>> params;  // (weight, gradient)
  const std::map<std::string, NDArray> grads = exec->grad_dict();
  const std::map<std::string, NDArray> args = exec->arg_dict();
  for (const std::string& name : net.ListArguments()) {
    if (name == "data" || name == "softmax_label") continue;
    const NDArray& weight = args.at(name);
    MXGRID_RETURN_IF_ERROR(Initialize(name, weight, &rng));
    params.emplace_back(weight, grads.at(name));
  }
  MXGRID_ASSIGN_OR_RETURN(
      std::unique_ptr<kvstore::Optimizer> sgd,
      kvstore::Optimizer::Create(
          "sgd", {{"learning_rate", absl::StrCat(options.learning_rate)},
                  {"momentum", absl::StrCat(options.momentum)},
                  {"wd", absl::StrCat(options.wd)},
                  {"rescale_grad", absl::StrCat(1.0 / static_cast<double>(batch))}}));

  MXGRID_ASSIGN_OR_RETURN(NDArray data, NDArray::Empty({batch, kDigitsFeatures}));
  MXGRID_ASSIGN_OR_RETURN(NDArray label, NDArray::Empty({batch}));
  MXGRID_ASSIGN_OR_RETURN(NDArray test_data, NDArray::Empty({test.size(), kDigitsFeatures}));
  MXGRID_ASSIGN_OR_RETURN(NDArray test_label, NDArray::Empty({test.size()}));
  std::vector<int64_t> order(static_cast<size_t>(train.size()));
  std::iota(order.begin(), order.end(), 0);
  const int64_t batches = train.size() / batch;

  std::vector<EpochStats> history;
  for (int epoch = 1; epoch <= options.epochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), rng);
    Score total;
    for (int64_t b = 0; b < batches; ++b) {
      absl::Span<const int64_t> rows = absl::MakeConstSpan(order).subspan(b * batch, batch);
      MXGRID_RETURN_IF_ERROR(Gather(train, rows, data, label));
      MXGRID_RETURN_IF_ERROR(
          exec->Forward(/*is_train=*/true, {{"data", data}, {"softmax_label", label}}));
      MXGRID_RETURN_IF_ERROR(exec->Backward());
      for (size_t i = 0; i < params.size(); ++i) {
        MXGRID_RETURN_IF_ERROR(
            sgd->Update(static_cast<int>(i), params[i].first, params[i].second));
      }
      // Reading the output waits for this batch's forward only; the updates run meanwhile.
      MXGRID_ASSIGN_OR_RETURN(std::vector<float> probs, exec->outputs()[0].ToVector<float>());
      std::vector<float> labels(rows.size());
      for (size_t i = 0; i < rows.size(); ++i) labels[i] = train.labels[rows[i]];
      const Score score = ScoreBatch(probs, labels);
      total.loss += score.loss;
      total.correct += score.correct;
    }
    const double seen = static_cast<double>(batches * batch);
    EpochStats stats;
    stats.epoch = epoch;
    stats.train_loss = total.loss / seen;
    stats.train_accuracy = static_cast<double>(total.correct) / seen;
    MXGRID_ASSIGN_OR_RETURN(stats.test_accuracy, Evaluate(*eval, test, test_data, test_label));
    if (options.on_epoch) options.on_epoch(stats);
    history.push_back(stats);
  }
  // Leave nothing pending on the arrays the executors and optimizer share.
  for (const auto& [weight, grad] : params) MXGRID_RETURN_IF_ERROR(weight.WaitToRead());
  return history;
}

}  // namespace mxgrid::digits
