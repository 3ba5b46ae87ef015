// Trains a classifier on sklearn's 8x8 handwritten digits the way an MXNet user does it in
// Python — mx.sym to build the net, simple_bind, mx.init.Xavier, SGD with momentum, and
// forward(is_train=False) on the held-out split — in-process in C++ on mxgrid's libraries.
// Prints each epoch's training loss and accuracy and the held-out accuracy (about 97% for
// the MLP, 99% for LeNet after 15 epochs). The loop is tests/graph_golden/digits_trainer.cc.
//
//   bazel run //examples:train_digits [-- --net=lenet --epochs=15 --lr=0.05]
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "libs/base/status_macros.h"
#include "tests/graph_golden/digits_trainer.h"

namespace mxgrid {
namespace {

struct Flags {
  std::string dir = "tests/graph_golden/data/digits";  // train.params and test.params
  std::string net = "mlp";                              // mlp | lenet
  digits::TrainOptions train;
};

absl::Status Run(const Flags& flags) {
  MXGRID_ASSIGN_OR_RETURN(digits::DigitsData train,
                          digits::LoadDigits(flags.dir + "/train.params"));
  MXGRID_ASSIGN_OR_RETURN(digits::DigitsData test, digits::LoadDigits(flags.dir + "/test.params"));
  std::printf("digits: %lld training and %lld held-out images of 8x8 pixels\n",
              static_cast<long long>(train.size()), static_cast<long long>(test.size()));
  MXGRID_ASSIGN_OR_RETURN(graph::Symbol net,
                          flags.net == "lenet" ? digits::DigitsLeNet() : digits::DigitsMlp());
  std::printf("net %s, arguments:", flags.net.c_str());
  for (const std::string& name : net.ListArguments()) std::printf(" %s", name.c_str());
  std::printf("\nsgd: learning_rate %g, momentum %g, wd %g, batch %lld\n",
              flags.train.learning_rate, flags.train.momentum, flags.train.wd,
              static_cast<long long>(flags.train.batch_size));

  digits::TrainOptions options = flags.train;
  options.on_epoch = [](const digits::EpochStats& s) {
    std::printf("Epoch[%d] Train-loss=%.4f Train-accuracy=%.4f Validation-accuracy=%.4f\n",
                s.epoch, s.train_loss, s.train_accuracy, s.test_accuracy);
    std::fflush(stdout);
  };
  MXGRID_ASSIGN_OR_RETURN(std::vector<digits::EpochStats> history,
                          digits::TrainDigits(net, train, test, options));
  std::printf("final held-out accuracy: %.2f%%\n", 100 * history.back().test_accuracy);
  return absl::OkStatus();
}

// "--name=value" into the matching field; false for an unknown flag or a malformed value.
bool ParseFlag(absl::string_view arg, Flags* flags) {
  auto value = [&](absl::string_view name, absl::string_view* out) {
    if (!absl::StartsWith(arg, name)) return false;
    *out = arg.substr(name.size());
    return true;
  };
  absl::string_view v;
  if (value("--dir=", &v)) {
    flags->dir.assign(v.data(), v.size());
    return true;
  }
  if (value("--net=", &v)) {
    flags->net.assign(v.data(), v.size());
    return flags->net == "mlp" || flags->net == "lenet";
  }
  if (value("--epochs=", &v)) return absl::SimpleAtoi(v, &flags->train.epochs);
  if (value("--lr=", &v)) return absl::SimpleAtod(v, &flags->train.learning_rate);
  if (value("--momentum=", &v)) return absl::SimpleAtod(v, &flags->train.momentum);
  return false;
}

}  // namespace
}  // namespace mxgrid

int main(int argc, char** argv) {
  mxgrid::Flags flags;
  for (int i = 1; i < argc; ++i) {
    if (!mxgrid::ParseFlag(argv[i], &flags)) {
      std::fprintf(stderr,
                   "usage: %s [--net=mlp|lenet] [--epochs=N] [--lr=X] [--momentum=X] "
                   "[--dir=DIR]  (DIR holds train.params and test.params)\n",
                   argv[0]);
      return 2;
    }
  }
  absl::Status status = mxgrid::Run(flags);
  if (!status.ok()) {
    std::fprintf(stderr, "training failed: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
