// EliminateCommonExpr against what MXNet 1.9.1's pass leaves of the same graphs (the counts
// of test_symbol.py::test_eliminate_common_expr, and the copies' names MXNet gives).
#include "libs/graph/cse.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/graph/plan.h"
#include "libs/ops/builtin.h"
#include "libs/ops/registry.h"

namespace mxgrid::graph {
namespace {

using ::testing::ElementsAre;

class CseTest : public ::testing::Test {
 protected:
  Symbol Op(const std::string& op, ops::AttrMap attrs, std::vector<Symbol> in) {
    Symbol::Inputs inputs;
    inputs.positional = std::move(in);
    absl::StatusOr<Symbol> s = Symbol::Create(ops::GlobalRegistry(), op, attrs, inputs, "", &names_);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *s : Symbol();
  }
  Symbol Add(const Symbol& a, const Symbol& b) { return Op("_Plus", {}, {a, b}); }
  Symbol Mul(const Symbol& a, const Symbol& b) { return Op("_Mul", {}, {a, b}); }
  static int Internals(const Symbol& s) { return static_cast<int>(s.GetInternals().num_outputs()); }
  static Symbol Cse(const Symbol& s) {
    absl::StatusOr<Symbol> out = EliminateCommonExpr(s, ops::GlobalRegistry());
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? *out : Symbol();
  }

  NameManager names_;
  Symbol a_ = Symbol::Variable("a"), b_ = Symbol::Variable("b"), c_ = Symbol::Variable("c");
};

TEST_F(CseTest, DifferentAttributesStayApart) {
  Symbol s = Add(Op("_PlusScalar", {{"scalar", "1"}}, {a_}), Op("_PlusScalar", {{"scalar", "2"}}, {a_}));
  EXPECT_EQ(Internals(Cse(s)), Internals(s));
}

TEST_F(CseTest, SameOperatorOnSameInputsMerges) {
  Symbol first = Add(a_, b_);
  Symbol second = Add(a_, b_);
  Symbol s = Add(first, second);  // _plus2(_plus0, _plus1)
  Symbol merged = Cse(s);
  EXPECT_EQ(Internals(merged), Internals(s) - 1);
  EXPECT_THAT(merged.GetInternals().ListOutputs(),
              ElementsAre("a", "b", "_plus0_output", "_plus2_output"));
  EXPECT_EQ(merged.ListArguments(), s.ListArguments());
}

TEST_F(CseTest, MergesPropagateToConsumers) {
  Symbol s = Add(Add(Add(a_, b_), c_), Add(Add(a_, b_), c_));
  EXPECT_EQ(Internals(Cse(s)), Internals(s) - 2);
}

TEST_F(CseTest, RepeatedHeadsGetNamedCopies) {
  Symbol d = Op("_PlusScalar", {{"scalar", "1"}}, {a_});
  Symbol s = Symbol::Group({Mul(a_, d), Mul(a_, d)});  // _mul0, _mul1
  Symbol merged = Cse(s);
  EXPECT_EQ(Internals(merged), Internals(s));  // _mul1 gone, a copy added
  EXPECT_THAT(merged.ListOutputs(), ElementsAre("_mul0_output", "_mul0_0_copy_output"));

  Symbol t = Symbol::Group({Add(Mul(a_, d), b_), Add(Mul(a_, d), b_)});
  EXPECT_EQ(Internals(Cse(t)), Internals(t) - 1);
}

TEST_F(CseTest, RandomOperatorsAreNeverMerged) {
  Symbol s = Add(Op("Dropout", {}, {a_}), Op("Dropout", {}, {a_}));
  EXPECT_EQ(Internals(Cse(s)), Internals(s));
}

TEST_F(CseTest, OperatorsWritingAuxStatesAreNeverMerged) {
  Symbol g = Symbol::Variable("g"), be = Symbol::Variable("be");
  Symbol mm = Symbol::Variable("mm"), mv = Symbol::Variable("mv");
  Symbol s = Add(Op("BatchNorm", {}, {a_, g, be, mm, mv}), Op("BatchNorm", {}, {a_, g, be, mm, mv}));
  EXPECT_EQ(Internals(Cse(s)), Internals(s));
}

TEST_F(CseTest, NothingMergedLeavesRepeatedHeadsAlone) {
  Symbol x = Add(a_, b_);
  Symbol s = Symbol::Group({x, x});
  EXPECT_THAT(Cse(s).ListOutputs(), ElementsAre("_plus0_output", "_plus0_output"));
}

TEST_F(CseTest, PlanRunsOnTheMergedGraph) {
  Symbol s = Add(Add(a_, b_), Add(a_, b_));
  PlanOptions options;
  options.shapes = {{"a", Shape{2, 3}}, {"b", Shape{2, 3}}};
  options.grad_reqs = {{"a", ops::OpReq::kWriteTo}};
  options.eliminate_common_expr = true;
  absl::StatusOr<Plan> plan = MakePlan(s, options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->num_forward_steps, 2);
  options.eliminate_common_expr = false;
  plan = MakePlan(s, options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->num_forward_steps, 3);
}

}  // namespace
}  // namespace mxgrid::graph
