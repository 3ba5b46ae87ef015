#include "libs/graph/testing/models.h"

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"
#include "libs/ops/builtin.h"

namespace mxgrid::graph::models {
namespace {

// Operator applications on one NameManager (a fresh one when none is given).
class Builder {
 public:
  explicit Builder(NameManager* names) : names_(names != nullptr ? names : &own_) {}

  absl::StatusOr<Symbol> Op(absl::string_view op, const ops::AttrMap& attrs,
                            const Symbol& data, absl::string_view name = "") {
    return Symbol::Create(ops::GlobalRegistry(), op, attrs, {{}, {{"data", data}}}, name,
                          names_);
  }

  absl::StatusOr<Symbol> Conv(const Symbol& data, int filters, int kernel, int stride, int pad,
                              absl::string_view name) {
    const std::string k = absl::StrCat("(", kernel, ", ", kernel, ")");
    return Op("Convolution",
              {{"num_filter", std::to_string(filters)},
               {"kernel", k},
               {"stride", absl::StrCat("(", stride, ", ", stride, ")")},
               {"pad", absl::StrCat("(", pad, ", ", pad, ")")},
               {"no_bias", "True"}},
              data, name);
  }

  absl::StatusOr<Symbol> BatchNorm(const Symbol& data, absl::string_view name,
                                   bool fix_gamma = false) {
    return Op("BatchNorm",
              {{"fix_gamma", fix_gamma ? "True" : "False"}, {"eps", "2e-05"}, {"momentum", "0.9"}},
              data, name);
  }

  absl::StatusOr<Symbol> Relu(const Symbol& data, absl::string_view name) {
    return Op("Activation", {{"act_type", "relu"}}, data, name);
  }

  absl::StatusOr<Symbol> Add(const Symbol& a, const Symbol& b) {
    return Apply(Arith::kAdd, a, b, names_);
  }

  NameManager* names() { return names_; }

 private:
  NameManager own_;
  NameManager* names_;
};

// symbols/resnet.py's residual_unit: pre-activation (BatchNorm -> relu -> conv) units; the
// shortcut is the input when dim_match, else a 1x1 strided convolution of the first
// activation.
absl::StatusOr<Symbol> ResidualUnit(Builder* b, const Symbol& data, int filters, int stride,
                                    bool dim_match, const std::string& name, bool bottleneck) {
  MXGRID_ASSIGN_OR_RETURN(Symbol bn1, b->BatchNorm(data, name + "_bn1"));
  MXGRID_ASSIGN_OR_RETURN(Symbol act1, b->Relu(bn1, name + "_relu1"));
  Symbol body;
  if (bottleneck) {
    const int inner = filters / 4;
    MXGRID_ASSIGN_OR_RETURN(Symbol conv1, b->Conv(act1, inner, 1, 1, 0, name + "_conv1"));
    MXGRID_ASSIGN_OR_RETURN(Symbol bn2, b->BatchNorm(conv1, name + "_bn2"));
    MXGRID_ASSIGN_OR_RETURN(Symbol act2, b->Relu(bn2, name + "_relu2"));
    MXGRID_ASSIGN_OR_RETURN(Symbol conv2, b->Conv(act2, inner, 3, stride, 1, name + "_conv2"));
    MXGRID_ASSIGN_OR_RETURN(Symbol bn3, b->BatchNorm(conv2, name + "_bn3"));
    MXGRID_ASSIGN_OR_RETURN(Symbol act3, b->Relu(bn3, name + "_relu3"));
    MXGRID_ASSIGN_OR_RETURN(body, b->Conv(act3, filters, 1, 1, 0, name + "_conv3"));
  } else {
    MXGRID_ASSIGN_OR_RETURN(Symbol conv1, b->Conv(act1, filters, 3, stride, 1, name + "_conv1"));
    MXGRID_ASSIGN_OR_RETURN(Symbol bn2, b->BatchNorm(conv1, name + "_bn2"));
    MXGRID_ASSIGN_OR_RETURN(Symbol act2, b->Relu(bn2, name + "_relu2"));
    MXGRID_ASSIGN_OR_RETURN(body, b->Conv(act2, filters, 3, 1, 1, name + "_conv2"));
  }
  Symbol shortcut = data;
  if (!dim_match) {
    MXGRID_ASSIGN_OR_RETURN(shortcut, b->Conv(act1, filters, 1, stride, 0, name + "_sc"));
  }
  return b->Add(body, shortcut);
}

}  // namespace

absl::StatusOr<Symbol> Mlp(const std::vector<int>& hidden, int num_classes, NameManager* names) {
  Builder b(names);
  Symbol net = Symbol::Variable("data");
  int layer = 1;
  for (int h : hidden) {
    if (h <= 0) return absl::InvalidArgumentError(absl::StrCat("Mlp: hidden size ", h, " <= 0"));
    MXGRID_ASSIGN_OR_RETURN(net, b.Op("FullyConnected", {{"num_hidden", std::to_string(h)}},
                                      net, absl::StrCat("fc", layer)));
    MXGRID_ASSIGN_OR_RETURN(net, b.Relu(net, absl::StrCat("relu", layer)));
    ++layer;
  }
  if (num_classes <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("Mlp: num_classes ", num_classes, " <= 0"));
  }
  MXGRID_ASSIGN_OR_RETURN(net, b.Op("FullyConnected", {{"num_hidden", std::to_string(num_classes)}},
                                    net, absl::StrCat("fc", layer)));
  return b.Op("SoftmaxOutput", {}, net, "softmax");
}

absl::StatusOr<Symbol> LeNet(NameManager* names) {
  Builder b(names);
  const ops::AttrMap tanh = {{"act_type", "tanh"}};
  const ops::AttrMap pool = {{"pool_type", "max"}, {"kernel", "(2, 2)"}, {"stride", "(2, 2)"}};
  Symbol net = Symbol::Variable("data");
  MXGRID_ASSIGN_OR_RETURN(
      net, b.Op("Convolution", {{"kernel", "(5, 5)"}, {"num_filter", "20"}}, net, "conv1"));
  MXGRID_ASSIGN_OR_RETURN(net, b.Op("Activation", tanh, net, "tanh1"));
  MXGRID_ASSIGN_OR_RETURN(net, b.Op("Pooling", pool, net, "pool1"));
  MXGRID_ASSIGN_OR_RETURN(
      net, b.Op("Convolution", {{"kernel", "(5, 5)"}, {"num_filter", "50"}}, net, "conv2"));
  MXGRID_ASSIGN_OR_RETURN(net, b.Op("Activation", tanh, net, "tanh2"));
  MXGRID_ASSIGN_OR_RETURN(net, b.Op("Pooling", pool, net, "pool2"));
  MXGRID_ASSIGN_OR_RETURN(net, b.Op("Flatten", {}, net, "flatten"));
  MXGRID_ASSIGN_OR_RETURN(net, b.Op("FullyConnected", {{"num_hidden", "500"}}, net, "fc1"));
  MXGRID_ASSIGN_OR_RETURN(net, b.Op("Activation", tanh, net, "tanh3"));
  MXGRID_ASSIGN_OR_RETURN(net, b.Op("FullyConnected", {{"num_hidden", "10"}}, net, "fc2"));
  return b.Op("SoftmaxOutput", {}, net, "softmax");
}

absl::StatusOr<Symbol> ResNet(const ResNetOptions& options, NameManager* names) {
  std::vector<int> units;
  switch (options.depth) {
    case 18: units = {2, 2, 2, 2}; break;
    case 34: units = {3, 4, 6, 3}; break;
    case 50: units = {3, 4, 6, 3}; break;
    case 101: units = {3, 4, 23, 3}; break;
    case 152: units = {3, 8, 36, 3}; break;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "ResNet: depth ", options.depth, " is not one of 18, 34, 50, 101, 152"));
  }
  const bool bottleneck = options.depth >= 50;
  const std::vector<int> filters = bottleneck ? std::vector<int>{64, 256, 512, 1024, 2048}
                                              : std::vector<int>{64, 64, 128, 256, 512};
  Builder b(names);
  Symbol body = Symbol::Variable("data");
  MXGRID_ASSIGN_OR_RETURN(body, b.BatchNorm(body, "bn_data", /*fix_gamma=*/true));
  MXGRID_ASSIGN_OR_RETURN(body, b.Conv(body, filters[0], 7, 2, 3, "conv0"));
  MXGRID_ASSIGN_OR_RETURN(body, b.BatchNorm(body, "bn0"));
  MXGRID_ASSIGN_OR_RETURN(body, b.Relu(body, "relu0"));
  MXGRID_ASSIGN_OR_RETURN(body, b.Op("Pooling",
                                     {{"kernel", "(3, 3)"}, {"stride", "(2, 2)"},
                                      {"pad", "(1, 1)"}, {"pool_type", "max"}},
                                     body));
  for (size_t stage = 0; stage < units.size(); ++stage) {
    for (int unit = 0; unit < units[stage]; ++unit) {
      const std::string name = absl::StrCat("stage", stage + 1, "_unit", unit + 1);
      const int stride = unit == 0 && stage > 0 ? 2 : 1;
      MXGRID_ASSIGN_OR_RETURN(body, ResidualUnit(&b, body, filters[stage + 1], stride,
                                                 /*dim_match=*/unit > 0, name, bottleneck));
    }
  }
  MXGRID_ASSIGN_OR_RETURN(body, b.BatchNorm(body, "bn1"));
  MXGRID_ASSIGN_OR_RETURN(body, b.Relu(body, "relu1"));
  MXGRID_ASSIGN_OR_RETURN(body, b.Op("Pooling",
                                     {{"global_pool", "True"}, {"kernel", "(7, 7)"},
                                      {"pool_type", "avg"}},
                                     body, "pool1"));
  MXGRID_ASSIGN_OR_RETURN(body, b.Op("Flatten", {}, body));
  MXGRID_ASSIGN_OR_RETURN(body, b.Op("FullyConnected",
                                     {{"num_hidden", std::to_string(options.num_classes)}},
                                     body, "fc1"));
  return b.Op("SoftmaxOutput", {}, body, "softmax");
}

}  // namespace mxgrid::graph::models
