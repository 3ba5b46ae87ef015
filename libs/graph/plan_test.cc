// MakePlan: the gradient steps (aggregation, loss heads, null requests), the memory plan
// (savings, in-place writes, and a liveness checker proving no two simultaneously live
// entries share a block) and its errors. Gradient values are checked through the executor.
#include "libs/graph/plan.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/executor/executor.h"
#include "libs/ops/builtin.h"
#include "libs/tensor/ndarray.h"

namespace mxgrid::graph {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using StepKind = Plan::StepKind;
using executor::Executor;
using executor::GradReq;
using tensor::NDArray;

class PlanTest : public ::testing::Test {
 protected:
  Symbol Op(const std::string& op, ops::AttrMap attrs, Symbol::Inputs in,
            const std::string& name = "") {
    absl::StatusOr<Symbol> s = Symbol::Create(ops::GlobalRegistry(), op, attrs, in, name, &names_);
    EXPECT_TRUE(s.ok()) << op << ": " << s.status();
    return s.ok() ? *s : Symbol();
  }
  Symbol Fc(const Symbol& data, int hidden, const std::string& name) {
    return Op("FullyConnected", {{"num_hidden", absl::StrCat(hidden)}}, {{}, {{"data", data}}},
              name);
  }
  Symbol Relu(const Symbol& data, const std::string& name) {
    return Op("Activation", {{"act_type", "relu"}}, {{}, {{"data", data}}}, name);
  }

  // data -> (FC, relu) per hidden layer -> FC -> SoftmaxOutput.
  Symbol Mlp(const std::vector<int>& hidden, int classes) {
    Symbol net = Symbol::Variable("data");
    for (size_t i = 0; i < hidden.size(); ++i) {
      net = Relu(Fc(net, hidden[i], absl::StrCat("fc", i + 1)), absl::StrCat("relu", i + 1));
    }
    net = Fc(net, classes, "fc_out");
    return Op("SoftmaxOutput", {}, {{}, {{"data", net}}}, "softmax");
  }

  // conv -> BN -> relu -> max pool -> flatten -> FC -> SoftmaxOutput.
  Symbol ConvNet() {
    Symbol net = Op("Convolution", {{"kernel", "(3, 3)"}, {"num_filter", "8"}, {"pad", "(1, 1)"}},
                    {{}, {{"data", Symbol::Variable("data")}}}, "conv1");
    net = Op("BatchNorm", {{"fix_gamma", "False"}}, {{}, {{"data", net}}}, "bn1");
    net = Relu(net, "relu1");
    net = Op("Pooling", {{"kernel", "(2, 2)"}, {"stride", "(2, 2)"}, {"pool_type", "max"}},
             {{}, {{"data", net}}}, "pool1");
    net = Op("Flatten", {}, {{}, {{"data", net}}}, "flat");
    net = Fc(net, 10, "fc");
    return Op("SoftmaxOutput", {}, {{}, {{"data", net}}}, "softmax");
  }

  // Two FC branches joined by Concat and, separately, elemwise_add; a non-loss head.
  Symbol Branching() {
    Symbol data = Symbol::Variable("data");
    Symbol a = Relu(Fc(data, 32, "fa"), "ra");
    Symbol b = Op("Activation", {{"act_type", "tanh"}}, {{}, {{"data", Fc(data, 32, "fb")}}},
                  "tb");
    Symbol cat = Op("Concat", {{"dim", "1"}}, {{a, b}, {}}, "cat");
    Symbol sum = Op("elemwise_add", {}, {{}, {{"lhs", a}, {"rhs", b}}}, "sum");
    Symbol c = Fc(cat, 32, "fc_cat");
    return Op("elemwise_add", {}, {{}, {{"lhs", c}, {"rhs", sum}}}, "out");
  }

  // Every argument except `except` gets `req`.
  static std::map<std::string, ops::OpReq> AllReqs(const Symbol& s, ops::OpReq req,
                                                   const std::vector<std::string>& except) {
    std::map<std::string, ops::OpReq> reqs;
    for (const std::string& name : s.ListArguments()) {
      if (std::find(except.begin(), except.end(), name) == except.end()) reqs[name] = req;
    }
    return reqs;
  }

  NameManager names_;
};

int CountSteps(const Plan& plan, StepKind kind) {
  return static_cast<int>(std::count_if(plan.steps.begin(), plan.steps.end(),
                                        [&](const Plan::Step& s) { return s.kind == kind; }));
}

// Index into plan.graph's arguments of `name`.
int ArgIndex(const Symbol& s, const std::string& name) {
  std::vector<std::string> args = s.ListArguments();
  return static_cast<int>(std::find(args.begin(), args.end(), name) - args.begin());
}

// Node id of the operator node called `name`.
int NodeId(const Plan& plan, const std::string& name) {
  for (int id = 0; id < plan.graph->num_nodes(); ++id) {
    if (plan.graph->node(id).node->name == name) return id;
  }
  return -1;
}

// Replays the steps and reports every way the memory plan could corrupt data: a planned
// entry read before (or never) written, written twice, larger than its block, or sharing a
// block with an entry whose [first write, last read] interval overlaps its own (graph
// outputs live to the end). Touching intervals are allowed only for an in-place write: the
// later entry is written with kWriteInplace by the step that last reads the earlier one,
// from an input slot the operator declares in-place for that output slot.
std::vector<std::string> CheckLiveness(const Plan& plan) {
  const int n = static_cast<int>(plan.entries.size());
  const int end = static_cast<int>(plan.steps.size());
  std::vector<std::string> errors;
  std::vector<int> write(n, -1), last(n, -1);
  for (int k = 0; k < end; ++k) {
    const Plan::Step& step = plan.steps[k];
    for (int e : step.inputs) {
      if (e == Plan::kNone) continue;
      if (plan.entries[e].storage >= 0 && write[e] < 0) {
        errors.push_back(absl::StrCat("entry ", e, " read at step ", k, " before any write"));
      }
      last[e] = k;
    }
    for (int e : step.outputs) {
      if (e == Plan::kNone) continue;
      if (plan.entries[e].storage >= 0 && write[e] >= 0) {
        errors.push_back(absl::StrCat("entry ", e, " written at steps ", write[e], " and ", k));
      }
      write[e] = k;
    }
  }
  for (int e : plan.graph->outputs()) last[e] = end;
  std::vector<int> planned;
  for (int e = 0; e < n; ++e) {
    const int s = plan.entries[e].storage;
    if (s < 0) continue;
    planned.push_back(e);
    if (s >= static_cast<int>(plan.storage_bytes.size())) {
      errors.push_back(absl::StrCat("entry ", e, " has no block ", s));
      continue;
    }
    if (write[e] < 0) errors.push_back(absl::StrCat("entry ", e, " is never written"));
    if (EntryBytes(plan.entries[e]) > plan.storage_bytes[s]) {
      errors.push_back(absl::StrCat("entry ", e, " needs ", EntryBytes(plan.entries[e]),
                                    " bytes, block ", s, " has ", plan.storage_bytes[s]));
    }
    last[e] = std::max(last[e], write[e]);
  }
  auto inplace_pair = [&](int a, int b) {  // b overwrites a in place at a's last read
    const Plan::Step& step = plan.steps[write[b]];
    if (step.node < 0) return false;
    const ops::OpDef& def = plan.graph->node(step.node).node->op->def();
    const bool forward = step.kind == StepKind::kForward;
    for (const auto& [in, out] : forward ? def.inplace : def.backward_inplace) {
      if (in < static_cast<int>(step.inputs.size()) && step.inputs[in] == a &&
          out < static_cast<int>(step.outputs.size()) && step.outputs[out] == b &&
          step.reqs[out] == ops::OpReq::kWriteInplace) {
        return true;
      }
    }
    return false;
  };
  for (size_t i = 0; i < planned.size(); ++i) {
    for (size_t j = i + 1; j < planned.size(); ++j) {
      int a = planned[i], b = planned[j];
      if (plan.entries[a].storage != plan.entries[b].storage) continue;
      if (write[a] < 0 || write[b] < 0) continue;  // reported above
      if (write[b] < write[a]) std::swap(a, b);
      if (last[a] < write[b]) continue;
      if (last[a] == write[b] && write[a] < write[b] && inplace_pair(a, b)) continue;
      errors.push_back(absl::StrCat("entries ", a, " [", write[a], ", ", last[a], "] and ", b,
                                    " [", write[b], ", ", last[b], "] share block ",
                                    plan.entries[a].storage, " while both live"));
    }
  }
  return errors;
}

// ---- gradient graph ----

TEST_F(PlanTest, ReusedVariableGradientsAreSummed) {
  // y = a * a + a: a feeds the product twice and the sum once.
  Symbol a = Symbol::Variable("a");
  Symbol y = *Apply(Arith::kAdd, *Apply(Arith::kMul, a, a, &names_), a, &names_);
  PlanOptions options;
  options.shapes = {{"a", Shape{5}}};
  options.grad_reqs = {{"a", ops::OpReq::kWriteTo}};
  absl::StatusOr<Plan> plan = MakePlan(y, options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->arg_grad_entries.size(), 1u);
  const int grad = plan->arg_grad_entries[0];
  ASSERT_NE(grad, Plan::kNone);
  EXPECT_EQ(plan->entries[grad].storage, Plan::kExternal);
  std::vector<const Plan::Step*> sums;
  for (const Plan::Step& s : plan->steps) {
    if (s.kind == StepKind::kSum) sums.push_back(&s);
  }
  ASSERT_EQ(sums.size(), 1u);
  EXPECT_EQ(sums[0]->inputs.size(), 3u);
  EXPECT_EQ(sums[0]->outputs, std::vector<int>{grad});
  EXPECT_EQ(sums[0]->reqs, std::vector<ops::OpReq>{ops::OpReq::kWriteTo});
  // The three terms are distinct internal entries, each written by a backward step.
  std::vector<int> terms = sums[0]->inputs;
  std::sort(terms.begin(), terms.end());
  EXPECT_EQ(std::unique(terms.begin(), terms.end()), terms.end());
  for (int t : terms) EXPECT_GE(plan->entries[t].storage, 0);
  EXPECT_THAT(CheckLiveness(*plan), IsEmpty());
  // The sum is the last step: every contribution precedes it.
  EXPECT_EQ(&plan->steps.back(), sums[0]);
}

TEST_F(PlanTest, ReusedVariableGradientIsTwoAPlusOne) {
  Symbol a = Symbol::Variable("a");
  Symbol y = *Apply(Arith::kAdd, *Apply(Arith::kMul, a, a, &names_), a, &names_);
  const std::vector<float> av = {-2, -0.5, 0, 1, 3};
  for (GradReq req : {GradReq::kWrite, GradReq::kAdd}) {
    NDArray arg = *NDArray::FromVector<float>(Shape{5}, av);
    NDArray g = *NDArray::Full(Shape{5}, req == GradReq::kAdd ? 10.0 : -7.0);
    absl::StatusOr<std::unique_ptr<Executor>> exec =
        Executor::Bind(y, Context::Cpu(), {arg}, {g}, {req}, {});
    ASSERT_TRUE(exec.ok()) << exec.status();
    ASSERT_TRUE((*exec)->Forward(true).ok());
    absl::Status s = (*exec)->Backward({*NDArray::Ones(Shape{5})});
    ASSERT_TRUE(s.ok()) << s;
    std::vector<float> y_out = *(*exec)->outputs()[0].ToVector<float>();
    std::vector<float> grad = *g.ToVector<float>();
    for (size_t i = 0; i < av.size(); ++i) {
      EXPECT_FLOAT_EQ(y_out[i], av[i] * av[i] + av[i]) << i;
      const float base = req == GradReq::kAdd ? 10.0f : 0.0f;
      EXPECT_FLOAT_EQ(grad[i], base + 2 * av[i] + 1) << i;
    }
  }
}

TEST_F(PlanTest, LossHeadsNeedNoHeadGradientOthersDo) {
  Symbol data = Symbol::Variable("data");
  Symbol fc = Fc(data, 4, "fc");
  Symbol loss = Op("SoftmaxOutput", {}, {{}, {{"data", fc}}}, "softmax");
  Symbol act = Op("Activation", {{"act_type", "tanh"}}, {{}, {{"data", fc}}}, "act");
  Symbol both = Symbol::Group({loss, act});
  PlanOptions options;
  options.shapes = {{"data", Shape{2, 3}}};
  options.grad_reqs = AllReqs(both, ops::OpReq::kWriteTo, {"data", "softmax_label"});
  absl::StatusOr<Plan> plan = MakePlan(both, options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->head_grad_entries.size(), 2u);
  EXPECT_EQ(plan->head_grad_entries[0], Plan::kNone);
  ASSERT_NE(plan->head_grad_entries[1], Plan::kNone);
  const Plan::Entry& head = plan->entries[plan->head_grad_entries[1]];
  EXPECT_EQ(head.storage, Plan::kExternal);
  EXPECT_EQ(head.shape, (Shape{2, 4}));
  // fc's gradient sums the loss's and the tanh's contributions.
  EXPECT_EQ(CountSteps(*plan, StepKind::kSum), 1);
  EXPECT_THAT(CheckLiveness(*plan), IsEmpty());

  // The loss alone: no head gradient at all.
  options.grad_reqs = AllReqs(loss, ops::OpReq::kWriteTo, {"data", "softmax_label"});
  plan = MakePlan(loss, options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->head_grad_entries, std::vector<int>{Plan::kNone});
  // The loss's backward gets no out-grad input.
  const Plan::Step& first_back = plan->steps[plan->num_forward_steps];
  EXPECT_EQ(first_back.kind, StepKind::kBackward);
  EXPECT_EQ(first_back.node, NodeId(*plan, "softmax"));
  EXPECT_EQ(first_back.inputs[0], Plan::kNone);
}

TEST_F(PlanTest, DuplicatedOutputsGetOwnHeadGradients) {
  // Group([fc, fc]): each output has its own head gradient and fc's gradient sums both.
  Symbol fc = Fc(Symbol::Variable("data"), 4, "fc");
  Symbol twice = Symbol::Group({fc, fc});
  PlanOptions options;
  options.shapes = {{"data", Shape{2, 3}}};
  options.grad_reqs = {{"fc_weight", ops::OpReq::kWriteTo}};
  absl::StatusOr<Plan> plan = MakePlan(twice, options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->head_grad_entries.size(), 2u);
  EXPECT_NE(plan->head_grad_entries[0], Plan::kNone);
  EXPECT_NE(plan->head_grad_entries[1], Plan::kNone);
  EXPECT_NE(plan->head_grad_entries[0], plan->head_grad_entries[1]);
  ASSERT_EQ(CountSteps(*plan, StepKind::kSum), 1);
  const Plan::Step& sum = plan->steps[plan->num_forward_steps];
  EXPECT_EQ(sum.kind, StepKind::kSum);
  EXPECT_EQ(sum.inputs, plan->head_grad_entries);
  EXPECT_THAT(CheckLiveness(*plan), IsEmpty());
}

TEST_F(PlanTest, NullRequestsPruneBackwardSteps) {
  // data -> fc1 -> relu -> fc2 -> loss, gradient for fc2's parameters only: nothing below
  // fc2 runs backward and fc2 writes no data gradient.
  Symbol net = Op("SoftmaxOutput", {}, {{}, {{"data", Fc(Relu(Fc(Symbol::Variable("data"), 8,
                                                                     "fc1"), "relu1"), 3, "fc2")}}},
                  "softmax");
  PlanOptions options;
  options.shapes = {{"data", Shape{4, 5}}};
  options.grad_reqs = {{"fc2_weight", ops::OpReq::kWriteTo},
                       {"fc2_bias", ops::OpReq::kAddTo},
                       {"fc1_weight", ops::OpReq::kNull}};
  absl::StatusOr<Plan> plan = MakePlan(net, options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::vector<int> backward_nodes;
  for (const Plan::Step& s : plan->steps) {
    if (s.kind == StepKind::kBackward) backward_nodes.push_back(s.node);
    EXPECT_NE(s.kind, StepKind::kZero);
  }
  EXPECT_EQ(backward_nodes,
            (std::vector<int>{NodeId(*plan, "softmax"), NodeId(*plan, "fc2")}));
  const Plan::Step& fc2 = plan->steps.back();
  ASSERT_EQ(fc2.outputs.size(), 3u);
  EXPECT_EQ(fc2.outputs[0], Plan::kNone);  // no data gradient
  EXPECT_EQ(fc2.reqs[0], ops::OpReq::kNull);
  EXPECT_EQ(fc2.outputs[1], plan->arg_grad_entries[ArgIndex(net, "fc2_weight")]);
  EXPECT_EQ(fc2.reqs[1], ops::OpReq::kWriteTo);
  EXPECT_EQ(fc2.outputs[2], plan->arg_grad_entries[ArgIndex(net, "fc2_bias")]);
  EXPECT_EQ(fc2.reqs[2], ops::OpReq::kAddTo);
  for (const char* name : {"data", "fc1_weight", "fc1_bias", "softmax_label"}) {
    EXPECT_EQ(plan->arg_grad_entries[ArgIndex(net, name)], Plan::kNone) << name;
  }
  EXPECT_THAT(CheckLiveness(*plan), IsEmpty());
}

TEST_F(PlanTest, GradientStopsAtOperatorsWithoutOne) {
  // BlockGrad(relu(fc(data))): nothing passes a gradient through BlockGrad, so no backward
  // step runs, no head gradient is needed, and the requested gradients are zero-filled
  // (MXNet's zero-gradient pruning: the plan is the forward plan's size).
  Symbol net = Op("BlockGrad", {}, {{}, {{"data", Relu(Fc(Symbol::Variable("data"), 8, "fc"),
                                                       "relu")}}},
                  "stop");
  PlanOptions options;
  options.shapes = {{"data", Shape{4, 5}}};
  options.grad_reqs = AllReqs(net, ops::OpReq::kWriteTo, {});
  absl::StatusOr<Plan> plan = MakePlan(net, options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  int zeros = 0;
  for (const Plan::Step& s : plan->steps) {
    EXPECT_NE(s.kind, StepKind::kBackward);
    zeros += s.kind == StepKind::kZero;
  }
  EXPECT_EQ(zeros, 3);  // data, fc_weight, fc_bias
  for (int e : plan->head_grad_entries) EXPECT_EQ(e, Plan::kNone);
  PlanOptions forward_only;
  forward_only.shapes = options.shapes;
  absl::StatusOr<Plan> inference = MakePlan(net, forward_only);
  ASSERT_TRUE(inference.ok()) << inference.status();
  EXPECT_EQ(plan->planned_bytes(), inference->planned_bytes());
  EXPECT_THAT(CheckLiveness(*plan), IsEmpty());
}

TEST_F(PlanTest, ForwardOnlyPlanHasNoBackward) {
  Symbol net = Mlp({16, 16}, 4);
  PlanOptions options;
  options.shapes = {{"data", Shape{8, 10}}};
  absl::StatusOr<Plan> plan = MakePlan(net, options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_FALSE(plan->has_backward());
  EXPECT_EQ(static_cast<int>(plan->steps.size()), plan->num_forward_steps);
  for (const Plan::Step& s : plan->steps) EXPECT_EQ(s.kind, StepKind::kForward);
  for (int e : plan->arg_grad_entries) EXPECT_EQ(e, Plan::kNone);
  for (int e : plan->head_grad_entries) EXPECT_EQ(e, Plan::kNone);
  // Explicit null requests are the same as none.
  options.grad_reqs = AllReqs(net, ops::OpReq::kNull, {});
  plan = MakePlan(net, options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_FALSE(plan->has_backward());
}

// ---- memory ----

TEST_F(PlanTest, MlpTrainingPlanHalvesMemory) {
  Symbol net = Mlp({512, 512, 512}, 10);
  PlanOptions options;
  options.shapes = {{"data", Shape{64, 784}}, {"softmax_label", Shape{64}}};
  options.grad_reqs = AllReqs(net, ops::OpReq::kWriteTo, {"data", "softmax_label"});
  absl::StatusOr<Plan> plan = MakePlan(net, options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_TRUE(plan->has_backward());
  EXPECT_GT(plan->unplanned_bytes(), 0);
  EXPECT_LE(plan->planned_bytes(), plan->unplanned_bytes() / 2)
      << "planned " << plan->planned_bytes() << " of " << plan->unplanned_bytes();
  EXPECT_THAT(CheckLiveness(*plan), IsEmpty());

  options.share_memory = false;
  absl::StatusOr<Plan> flat = MakePlan(net, options);
  ASSERT_TRUE(flat.ok()) << flat.status();
  EXPECT_EQ(flat->planned_bytes(), flat->unplanned_bytes());
  EXPECT_EQ(flat->unplanned_bytes(), plan->unplanned_bytes());
  for (const Plan::Step& s : flat->steps) {
    for (ops::OpReq r : s.reqs) EXPECT_NE(r, ops::OpReq::kWriteInplace);
  }
  EXPECT_THAT(CheckLiveness(*flat), IsEmpty());
}

TEST_F(PlanTest, ActivationWritesInPlaceInInference) {
  Symbol net = Mlp({32}, 4);
  PlanOptions options;
  options.shapes = {{"data", Shape{8, 16}}};
  absl::StatusOr<Plan> plan = MakePlan(net, options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  const int relu = NodeId(*plan, "relu1"), fc1 = NodeId(*plan, "fc1");
  const Plan::Step* step = nullptr;
  for (const Plan::Step& s : plan->steps) {
    if (s.node == relu) step = &s;
  }
  ASSERT_NE(step, nullptr);
  EXPECT_EQ(step->reqs[0], ops::OpReq::kWriteInplace);
  EXPECT_EQ(plan->entries[step->outputs[0]].storage,
            plan->entries[plan->graph->entry(fc1, 0)].storage);
  EXPECT_THAT(CheckLiveness(*plan), IsEmpty());
  // Inference values are unaffected (relu over the shared block): fc1 weight 1, bias -1,
  // data 0.1 gives relu(1.6 - 1) = 0.6 in every hidden unit.
  absl::StatusOr<std::unique_ptr<Executor>> exec = Executor::SimpleBind(
      Relu(Fc(Symbol::Variable("data"), 32, "fc1"), "relu1"), Context::Cpu(),
      {{"data", Shape{8, 16}}}, GradReq::kNull);
  ASSERT_TRUE(exec.ok()) << exec.status();
  std::map<std::string, NDArray> args = (*exec)->arg_dict();
  ASSERT_TRUE(args["fc1_weight"].Fill(1).ok());
  ASSERT_TRUE(args["fc1_bias"].Fill(-1).ok());
  ASSERT_TRUE((*exec)->Forward(false, {{"data", *NDArray::Full(Shape{8, 16}, 0.1)}}).ok());
  absl::StatusOr<std::vector<float>> out = (*exec)->outputs()[0].ToVector<float>();
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 8u * 32);
  for (float v : *out) EXPECT_NEAR(v, 0.6f, 1e-5);
}

TEST_F(PlanTest, NoLiveEntriesShareABlock) {
  struct Case {
    std::string name;
    Symbol net;
    std::map<std::string, ops::InferShape> shapes;
    std::vector<std::string> no_grad;
  };
  std::vector<Case> cases = {
      {"mlp", Mlp({64, 64, 64}, 10), {{"data", Shape{16, 32}}}, {"data", "softmax_label"}},
      {"conv", ConvNet(), {{"data", Shape{2, 3, 8, 8}}}, {"data", "softmax_label"}},
      {"branching", Branching(), {{"data", Shape{4, 16}}}, {"data"}},
  };
  for (const Case& c : cases) {
    for (bool train : {false, true}) {
      PlanOptions options;
      options.shapes = c.shapes;
      if (train) options.grad_reqs = AllReqs(c.net, ops::OpReq::kWriteTo, c.no_grad);
      absl::StatusOr<Plan> plan = MakePlan(c.net, options);
      ASSERT_TRUE(plan.ok()) << c.name << ": " << plan.status();
      EXPECT_EQ(plan->has_backward(), train) << c.name;
      EXPECT_LT(plan->planned_bytes(), plan->unplanned_bytes()) << c.name << " train " << train;
      EXPECT_THAT(CheckLiveness(*plan), IsEmpty()) << c.name << " train " << train;
    }
  }
}

TEST_F(PlanTest, LivenessCheckerCatchesOverlap) {
  // Both inputs of the final elemwise_add are live at that step: putting them in one block
  // must be reported (guards the checker itself).
  PlanOptions options;
  options.shapes = {{"data", Shape{4, 16}}};
  absl::StatusOr<Plan> plan = MakePlan(Branching(), options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_THAT(CheckLiveness(*plan), IsEmpty());
  const Plan::Step& last = plan->steps[plan->num_forward_steps - 1];
  ASSERT_EQ(last.inputs.size(), 2u);
  const int lhs = last.inputs[0], rhs = last.inputs[1];
  ASSERT_GE(plan->entries[lhs].storage, 0);
  ASSERT_NE(plan->entries[lhs].storage, plan->entries[rhs].storage);
  Plan broken = *plan;
  broken.entries[rhs].storage = broken.entries[lhs].storage;
  EXPECT_THAT(CheckLiveness(broken), testing::Not(IsEmpty()));
  // An in-place write the operator does not declare is reported too.
  broken = *plan;
  const int out = last.outputs[0];
  broken.entries[out].storage = broken.entries[lhs].storage;
  broken.steps[plan->num_forward_steps - 1].reqs[0] = ops::OpReq::kWriteTo;
  EXPECT_THAT(CheckLiveness(broken), testing::Not(IsEmpty()));
}

// ---- errors ----

TEST_F(PlanTest, UnknownShapeNameIsInvalidArgument) {
  PlanOptions options;
  options.shapes = {{"data", Shape{2, 3}}, {"dtaa", Shape{2, 3}}};
  absl::StatusOr<Plan> plan = MakePlan(Mlp({4}, 2), options);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(plan.status().message(), HasSubstr("dtaa"));
}

TEST_F(PlanTest, ConflictingShapesNameNodeOperatorAndBothShapes) {
  PlanOptions options;
  options.shapes = {{"data", Shape{2, 100}}, {"fc1_weight", Shape{10, 99}}};
  absl::StatusOr<Plan> plan = MakePlan(Fc(Symbol::Variable("data"), 10, "fc1"), options);
  ASSERT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument) << plan.status();
  const std::string msg(plan.status().message());
  EXPECT_THAT(msg, HasSubstr("fc1"));
  EXPECT_THAT(msg, HasSubstr("FullyConnected"));
  EXPECT_THAT(msg, HasSubstr(Shape{10, 99}.ToString()));
  EXPECT_THAT(msg, HasSubstr(Shape{10, 100}.ToString()));
}

TEST_F(PlanTest, ShapesLeftUnknownAreListed) {
  // No data shape: every entry downstream stays unknown.
  absl::StatusOr<Plan> plan = MakePlan(Mlp({4}, 2), PlanOptions());
  ASSERT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument) << plan.status();
  EXPECT_THAT(plan.status().message(), HasSubstr("data"));
  EXPECT_THAT(plan.status().message(), HasSubstr("fc1_output"));
  // Partly known: the batch dimension stays -1.
  PlanOptions options;
  options.shapes = {{"data", Shape{-1, 3}}};
  plan = MakePlan(Mlp({4}, 2), options);
  ASSERT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument) << plan.status();
  EXPECT_THAT(plan.status().message(), HasSubstr("-1"));
  EXPECT_THAT(plan.status().message(), HasSubstr("data"));
}

TEST_F(PlanTest, GradReqForNonArgumentIsInvalidArgument) {
  Symbol bn = Op("BatchNorm", {}, {{}, {{"data", Symbol::Variable("data")}}}, "bn");
  PlanOptions options;
  options.shapes = {{"data", Shape{2, 3}}};
  for (const char* name : {"nope", "bn_moving_mean"}) {
    options.grad_reqs = {{"bn_gamma", ops::OpReq::kWriteTo}, {name, ops::OpReq::kWriteTo}};
    absl::StatusOr<Plan> plan = MakePlan(bn, options);
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_THAT(plan.status().message(), HasSubstr(name));
  }
  options.grad_reqs = {{"bn_gamma", ops::OpReq::kWriteInplace}};
  EXPECT_EQ(MakePlan(bn, options).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mxgrid::graph
