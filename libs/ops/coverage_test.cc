// The consistency suite's completeness rule: every operator in the global registry has at
// least one case in some family's case list (each family's own test runs its cases through
// the harness). Adding an op without a case fails here.
#include <set>
#include <utility>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "libs/ops/conv/conv_cases.h"
#include "libs/ops/linalg/linalg_cases.h"
#include "libs/ops/nn/nn_cases.h"
#include "libs/ops/optimizer/optimizer_cases.h"
#include "libs/ops/random/random_cases.h"
#include "libs/ops/builtin.h"
#include "libs/ops/registry.h"
#include "libs/ops/tensor/tensor_cases.h"
#include "libs/ops/testing/op_checker.h"

namespace mxgrid::ops {
namespace {

TEST(OpCoverageTest, EveryRegisteredOperatorHasACase) {
  const Registry& registry = GlobalRegistry();
  std::vector<testing::OpCase> cases = NNCases();
  for (auto* more : {TensorCases, testing::ConvCases, OptimizerCases, RandomCases, LinalgCases}) {
    std::vector<testing::OpCase> c = more();
    cases.insert(cases.end(), c.begin(), c.end());
  }
  const std::set<std::string> covered = testing::CoveredOps(registry, cases);
  int missing = 0;
  for (const OpDef* def : registry.List()) {
    if (covered.count(def->name) == 0) {
      ADD_FAILURE() << "operator " << def->name << " has no case in the consistency suite";
      ++missing;
    }
  }
  EXPECT_EQ(missing, 0);
  EXPECT_GT(registry.List().size(), 0u);
}

TEST(OpCoverageTest, GlobalRegistryResolvesMXNetAliases) {
  const Registry& registry = GlobalRegistry();
  const std::pair<const char*, const char*> aliases[] = {
      {"Softmax", "SoftmaxOutput"},     {"_Plus", "elemwise_add"},
      {"flatten", "Flatten"},           {"split", "SliceChannel"},
      {"stop_gradient", "BlockGrad"},   {"ElementWiseSum", "add_n"},
      {"reshape", "Reshape"},           {"concat", "Concat"},
  };
  for (const auto& [alias, name] : aliases) {
    absl::StatusOr<const OpDef*> def = registry.Find(alias);
    ASSERT_TRUE(def.ok()) << alias << ": " << def.status();
    EXPECT_EQ((*def)->name, name);
  }
  for (const char* name : {"FullyConnected", "Convolution", "Pooling", "BatchNorm",
                           "Activation", "Dropout", "dot", "sum"}) {
    EXPECT_TRUE(registry.Find(name).ok()) << name;
  }
  EXPECT_EQ(registry.Find("NoSuchOperator").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace mxgrid::ops
