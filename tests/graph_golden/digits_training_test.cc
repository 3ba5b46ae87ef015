// Training on a real data set as MXNet users do it: an MLP and a LeNet, built with the Symbol
// API, bound with SimpleBind and trained with momentum SGD on sklearn's 8x8 digits, classify
// the 360 held-out images with at least 95% accuracy. Each epoch's loss and accuracy print.
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "libs/graph/symbol.h"
#include "tests/graph_golden/digits_trainer.h"

namespace mxgrid::digits {
namespace {

const char kDir[] = "tests/graph_golden/data/digits/";

void PrintEpoch(const char* net, const EpochStats& s) {
  std::printf("%s epoch %2d  train loss %.4f  train acc %.4f  test acc %.4f\n", net, s.epoch,
              s.train_loss, s.train_accuracy, s.test_accuracy);
  std::fflush(stdout);
}

class DigitsTrainingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<DigitsData> train = LoadDigits(std::string(kDir) + "train.params");
    ASSERT_TRUE(train.ok()) << train.status();
    absl::StatusOr<DigitsData> test = LoadDigits(std::string(kDir) + "test.params");
    ASSERT_TRUE(test.ok()) << test.status();
    train_ = *std::move(train);
    test_ = *std::move(test);
  }

  // Trains `net` and checks that learning happened and the final held-out accuracy.
  void TrainAndCheck(const char* name, const graph::Symbol& net, int epochs) {
    TrainOptions options;
    options.epochs = epochs;
    options.on_epoch = [name](const EpochStats& s) { PrintEpoch(name, s); };
    absl::StatusOr<std::vector<EpochStats>> history = TrainDigits(net, train_, test_, options);
    ASSERT_TRUE(history.ok()) << history.status();
    ASSERT_EQ(history->size(), static_cast<size_t>(epochs));
    // Untrained, the loss is about ln 10 = 2.30; it must fall well below that.
    EXPECT_LT(history->back().train_loss, history->front().train_loss);
    EXPECT_LT(history->back().train_loss, 0.1);
    // Held-out accuracy at the end, and not by luck of one epoch: the last three all pass.
    for (size_t i = history->size() - 3; i < history->size(); ++i) {
      EXPECT_GE((*history)[i].test_accuracy, 0.95) << name << " epoch " << i + 1;
    }
  }

  DigitsData train_, test_;
};

TEST_F(DigitsTrainingTest, DataHasTheExportedSplits) {
  EXPECT_EQ(train_.size(), 1437);
  EXPECT_EQ(test_.size(), 360);
  EXPECT_EQ(train_.pixels.size(), 1437u * kDigitsFeatures);
  EXPECT_EQ(test_.pixels.size(), 360u * kDigitsFeatures);
}

TEST_F(DigitsTrainingTest, MlpReachesNinetyFivePercent) {
  absl::StatusOr<graph::Symbol> net = DigitsMlp();
  ASSERT_TRUE(net.ok()) << net.status();
  EXPECT_EQ(net->ListArguments(),
            (std::vector<std::string>{"data", "fc1_weight", "fc1_bias", "fc2_weight",
                                      "fc2_bias", "fc3_weight", "fc3_bias",
                                      "softmax_label"}));
  TrainAndCheck("mlp", *net, /*epochs=*/15);
}

TEST_F(DigitsTrainingTest, LeNetReachesNinetyFivePercent) {
  absl::StatusOr<graph::Symbol> net = DigitsLeNet();
  ASSERT_TRUE(net.ok()) << net.status();
  EXPECT_EQ(net->ListArguments(),
            (std::vector<std::string>{"data", "conv1_weight", "conv1_bias", "conv2_weight",
                                      "conv2_bias", "fc1_weight", "fc1_bias", "fc2_weight",
                                      "fc2_bias", "softmax_label"}));
  TrainAndCheck("lenet", *net, /*epochs=*/15);
}

TEST_F(DigitsTrainingTest, TrainDigitsRejectsABatchLargerThanTheData) {
  TrainOptions options;
  options.batch_size = train_.size() + 1;
  absl::StatusOr<std::vector<EpochStats>> history =
      TrainDigits(*DigitsMlp(), train_, test_, options);
  EXPECT_EQ(history.status().code(), absl::StatusCode::kInvalidArgument) << history.status();
}

TEST(DigitsTrainerTest, LoadDigitsRejectsAFileWithoutTheKeys) {
  // A golden fixture of another test is a valid .params file without "data"/"label" keys.
  absl::StatusOr<DigitsData> bad = LoadDigits("tests/graph_golden/data/mlp/grads.params");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << bad.status();
}

}  // namespace
}  // namespace mxgrid::digits
