// Executors whose arguments have gradients for only some inputs of an operator: the
// backward of a node then gets kNull requests for the others (views with their input's
// shape and no data, as ops::BackwardArgs says). Concat with one of its inputs' gradients
// wanted used to kill the process (its backward indexed the missing gradient's shape).
#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/executor/executor.h"
#include "libs/graph/plan.h"
#include "libs/ops/builtin.h"

namespace mxgrid::executor {
namespace {

using graph::Symbol;

NDArray Array(const Shape& shape, const std::vector<float>& values) {
  absl::StatusOr<NDArray> a = NDArray::FromVector<float>(shape, values);
  EXPECT_TRUE(a.ok()) << a.status();
  return a.ok() ? *a : NDArray();
}

NDArray Zeros(const Shape& shape) { return *NDArray::Zeros(shape, Context::Cpu()); }

std::vector<float> Values(const NDArray& a) {
  absl::StatusOr<std::vector<float>> v = a.ToVector<float>();
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : std::vector<float>();
}

std::vector<float> Ramp(int64_t n, float start, float step) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = start + step * i;
  return v;
}

class PartialGradTest : public ::testing::Test {
 protected:
  Symbol Op(const std::string& op, ops::AttrMap attrs, Symbol::Inputs in,
            const std::string& name) {
    absl::StatusOr<Symbol> s = Symbol::Create(ops::GlobalRegistry(), op, attrs, in, name, &names_);
    EXPECT_TRUE(s.ok()) << op << ": " << s.status();
    return s.ok() ? *s : Symbol();
  }
  Symbol Concat(std::vector<Symbol> inputs, int dim) {
    return Op("Concat", {{"num_args", absl::StrCat(inputs.size())}, {"dim", absl::StrCat(dim)}},
              {inputs, {}}, "concat");
  }

  graph::NameManager names_;
};

TEST_F(PartialGradTest, ConcatWithAGradientForTheFirstInputOnly) {
  Symbol net = Concat({Symbol::Variable("a"), Symbol::Variable("b")}, 0);
  const NDArray a = Array(Shape{2, 3}, Ramp(6, 1, 1)), b = Array(Shape{1, 3}, {7, 8, 9});
  const NDArray ga = Zeros(Shape{2, 3});
  absl::StatusOr<std::unique_ptr<Executor>> exec =
      Executor::Bind(net, Context::Cpu(), {a, b}, {ga, NDArray()}, {}, {});
  ASSERT_TRUE(exec.ok()) << exec.status();
  EXPECT_EQ((*exec)->grad_dict().count("b"), 0u);
  ASSERT_TRUE((*exec)->Forward(/*is_train=*/true).ok());
  ASSERT_TRUE((*exec)->Backward({Array(Shape{3, 3}, Ramp(9, 10, 10))}).ok());
  EXPECT_EQ(Values((*exec)->outputs()[0]), Ramp(9, 1, 1));
  EXPECT_EQ(Values(ga), (std::vector<float>{10, 20, 30, 40, 50, 60}));
}

// The one wanted gradient sits after two unwanted ones, whose lengths along `dim` (from the
// unwanted gradients' shapes) give its offset in the head gradient; `add` accumulates.
TEST_F(PartialGradTest, ConcatWithAGradientForTheLastInputOnlyAccumulates) {
  Symbol net =
      Concat({Symbol::Variable("a"), Symbol::Variable("b"), Symbol::Variable("c")}, 1);
  const NDArray a = Array(Shape{2, 1}, {1, 2}), b = Array(Shape{2, 2}, {3, 4, 5, 6});
  const NDArray c = Array(Shape{2, 1}, {7, 8});
  const NDArray gc = Array(Shape{2, 1}, {1000, 2000});
  absl::StatusOr<std::unique_ptr<Executor>> exec = Executor::Bind(
      net, Context::Cpu(), {a, b, c}, {NDArray(), NDArray(), gc},
      {GradReq::kNull, GradReq::kWrite, GradReq::kAdd}, {});
  ASSERT_TRUE(exec.ok()) << exec.status();
  ASSERT_TRUE((*exec)->Forward(/*is_train=*/true).ok());
  // Rows of the head gradient: [a | b b | c].
  const NDArray head = Array(Shape{2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  ASSERT_TRUE((*exec)->Backward({head}).ok());
  EXPECT_EQ(Values((*exec)->outputs()[0]), (std::vector<float>{1, 3, 4, 7, 2, 5, 6, 8}));
  EXPECT_EQ(Values(gc), (std::vector<float>{1004, 2008}));
  ASSERT_TRUE((*exec)->Backward({head}).ok());
  EXPECT_EQ(Values(gc), (std::vector<float>{1008, 2016}));
}

// data -> [relu(fc_a) | fc_b] -> BatchNorm -> fc_out -> SoftmaxOutput, bound the way the
// worker binds a Bind request (a plan whose gradients are exactly the arguments that came
// with a gradient array, then BindPlan). Each partial binding's gradients must equal those
// of a binding with every gradient.
class PartialGradNetTest : public PartialGradTest {
 protected:
  Symbol Net() {
    Symbol data = Symbol::Variable("data");
    Symbol fa = Op("FullyConnected", {{"num_hidden", "5"}}, {{}, {{"data", data}}}, "fc_a");
    Symbol ra = Op("Activation", {{"act_type", "relu"}}, {{}, {{"data", fa}}}, "relu_a");
    Symbol fb = Op("FullyConnected", {{"num_hidden", "3"}}, {{}, {{"data", data}}}, "fc_b");
    Symbol bn = Op("BatchNorm", {{"fix_gamma", "False"}}, {{}, {{"data", Concat({ra, fb}, 1)}}},
                   "bn");
    Symbol out = Op("FullyConnected", {{"num_hidden", "4"}}, {{}, {{"data", bn}}}, "fc_out");
    return Op("SoftmaxOutput", {}, {{}, {{"data", out}}}, "softmax");
  }

  // Binds `net` with gradient arrays for the arguments in `wanted` (all when empty) and runs
  // one training step; returns the gradients by argument name.
  std::map<std::string, std::vector<float>> Step(const Symbol& net,
                                                 const std::vector<std::string>& wanted) {
    const std::vector<std::string> arg_names = net.ListArguments();
    graph::PlanOptions options;
    options.shapes = {{"data", Shape{6, 7}}};
    for (const std::string& name : arg_names) {
      const bool want = wanted.empty() || std::count(wanted.begin(), wanted.end(), name) > 0;
      if (want) options.grad_reqs[name] = ops::OpReq::kWriteTo;
    }
    absl::StatusOr<graph::Plan> plan = graph::MakePlan(net, options);
    EXPECT_TRUE(plan.ok()) << plan.status();
    if (!plan.ok()) return {};
    std::vector<NDArray> args, grads, aux;
    const graph::IndexedGraph& g = *plan->graph;
    std::mt19937 gen(17);
    std::uniform_real_distribution<float> uniform(-1, 1);
    for (size_t k = 0; k < arg_names.size(); ++k) {
      const Shape& shape = plan->entries[g.entry(g.arg_nodes()[k], 0)].shape;
      std::vector<float> v(shape.Size());
      for (size_t i = 0; i < v.size(); ++i) {
        v[i] = arg_names[k] == "softmax_label" ? static_cast<float>(i % 4) : uniform(gen);
      }
      args.push_back(Array(shape, v));
      grads.push_back(options.grad_reqs.count(arg_names[k]) ? Zeros(shape) : NDArray());
    }
    for (int node : g.aux_nodes()) {
      const Shape& shape = plan->entries[g.entry(node, 0)].shape;
      aux.push_back(*NDArray::Full(shape, 0.5));
    }
    absl::StatusOr<std::unique_ptr<Executor>> exec =
        Executor::BindPlan(*std::move(plan), Context::Cpu(), args, grads, aux);
    EXPECT_TRUE(exec.ok()) << exec.status();
    if (!exec.ok()) return {};
    EXPECT_TRUE((*exec)->Forward(/*is_train=*/true).ok());
    EXPECT_TRUE((*exec)->Backward().ok());
    std::map<std::string, std::vector<float>> result;
    for (const auto& [name, grad] : (*exec)->grad_dict()) result[name] = Values(grad);
    return result;
  }
};

TEST_F(PartialGradNetTest, PartialGradientsEqualTheFullBackward) {
  Symbol net = Net();
  const std::map<std::string, std::vector<float>> full = Step(net, {});
  ASSERT_EQ(full.size(), net.ListArguments().size());
  const std::vector<std::vector<std::string>> partial = {
      // Concat's first input and fc_a get no gradient; BatchNorm's data gradient is wanted.
      {"fc_b_weight", "bn_beta", "fc_out_weight"},
      // Only BatchNorm's gamma and the last layer: no data gradient for BatchNorm, none for
      // Concat at all.
      {"bn_gamma", "fc_out_bias"},
      // The first branch only (Concat's second input unwanted), and the data.
      {"data", "fc_a_bias"},
  };
  for (const std::vector<std::string>& wanted : partial) {
    SCOPED_TRACE(absl::StrCat("gradients for ", wanted[0], ", ", wanted[1], "..."));
    const std::map<std::string, std::vector<float>> got = Step(net, wanted);
    ASSERT_EQ(got.size(), wanted.size());
    for (const std::string& name : wanted) {
      ASSERT_EQ(got.count(name), 1u) << name;
      const std::vector<float>& want = full.at(name);
      ASSERT_EQ(got.at(name).size(), want.size()) << name;
      float norm = 0;
      for (size_t i = 0; i < want.size(); ++i) {
        EXPECT_NEAR(got.at(name)[i], want[i], 1e-6 + 1e-5 * std::abs(want[i]))
            << name << " element " << i;
        norm += want[i] * want[i];
      }
      EXPECT_GT(norm, 0) << name << " (a zero gradient would prove nothing)";
    }
  }
}

}  // namespace
}  // namespace mxgrid::executor
