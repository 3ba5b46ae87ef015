#include "libs/rpc/plan_codec.h"

#include <functional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/executor/executor.h"
#include "libs/graph/testing/models.h"
#include "libs/ops/builtin.h"

namespace mxgrid::rpc {
namespace {

using graph::Plan;
using ::testing::HasSubstr;

Plan TrainingPlan(const graph::Symbol& net, const Shape& data) {
  graph::PlanOptions options;
  options.shapes = {{"data", data}};
  for (const std::string& name : net.ListArguments()) {
    if (name != "data" && name != "softmax_label") options.grad_reqs[name] = ops::OpReq::kWriteTo;
  }
  absl::StatusOr<Plan> plan = graph::MakePlan(net, options);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return *plan;
}

void ExpectSamePlan(const Plan& a, const Plan& b) {
  ASSERT_EQ(a.entries.size(), b.entries.size());
  for (size_t e = 0; e < a.entries.size(); ++e) {
    EXPECT_EQ(a.entries[e].shape, b.entries[e].shape) << e;
    EXPECT_EQ(a.entries[e].dtype, b.entries[e].dtype) << e;
    EXPECT_EQ(a.entries[e].storage, b.entries[e].storage) << e;
  }
  ASSERT_EQ(a.steps.size(), b.steps.size());
  for (size_t i = 0; i < a.steps.size(); ++i) {
    EXPECT_EQ(a.steps[i].kind, b.steps[i].kind) << i;
    EXPECT_EQ(a.steps[i].node, b.steps[i].node) << i;
    EXPECT_EQ(a.steps[i].inputs, b.steps[i].inputs) << i;
    EXPECT_EQ(a.steps[i].outputs, b.steps[i].outputs) << i;
    EXPECT_EQ(a.steps[i].reqs, b.steps[i].reqs) << i;
  }
  EXPECT_EQ(a.num_forward_steps, b.num_forward_steps);
  EXPECT_EQ(a.storage_bytes, b.storage_bytes);
  EXPECT_EQ(a.arg_grad_entries, b.arg_grad_entries);
  EXPECT_EQ(a.head_grad_entries, b.head_grad_entries);
}

TEST(PlanCodecTest, TrainingPlansRoundTrip) {
  graph::NameManager names;
  const std::pair<absl::StatusOr<graph::Symbol>, Shape> nets[] = {
      {graph::models::Mlp({128, 64}, 10, &names), Shape{16, 784}},
      {graph::models::LeNet(&names), Shape{4, 1, 28, 28}},
      {graph::models::ResNet({.depth = 18}, &names), Shape{2, 3, 224, 224}},
  };
  for (const auto& [net, data] : nets) {
    ASSERT_TRUE(net.ok()) << net.status();
    const Plan plan = TrainingPlan(*net, data);
    v1::Plan proto;
    ToProto(plan, &proto);
    absl::StatusOr<Plan> back = FromProto(proto, ops::GlobalRegistry());
    ASSERT_TRUE(back.ok()) << back.status();
    ExpectSamePlan(plan, *back);
    v1::Plan again;
    ToProto(*back, &again);
    EXPECT_EQ(again.SerializeAsString(), proto.SerializeAsString());
  }
}

// Each tampering of a valid MLP plan must be refused, naming what is wrong.
TEST(PlanCodecTest, TamperedPlansAreInvalidArgument) {
  absl::StatusOr<graph::Symbol> net = graph::models::Mlp({8}, 4);
  ASSERT_TRUE(net.ok());
  v1::Plan good;
  ToProto(TrainingPlan(*net, Shape{2, 5}), &good);
  const int last_entry = good.entries_size() - 1;
  const std::pair<const char*, std::function<void(v1::Plan*)>> cases[] = {
      {"JSON", [](v1::Plan* p) { p->mutable_symbol()->set_json("{"); }},
      {"shape and type", [](v1::Plan* p) {
         for (auto& e : *p->mutable_entries()) {
           if (e.storage() >= 0) {
             e.mutable_meta()->set_shape(0, 3);
             return;
           }
         }
       }},
      {"block", [](v1::Plan* p) {
         for (auto& e : *p->mutable_entries()) {
           if (e.storage() >= 0) e.set_storage(1000);
         }
       }},
      {"bytes", [](v1::Plan* p) {
         for (auto& b : *p->mutable_storage_bytes()) b = 4;
       }},
      {"not an operator", [](v1::Plan* p) { p->mutable_steps(0)->set_node(0); }},
      {"forward inputs", [](v1::Plan* p) {
         auto* in = p->mutable_steps(0)->mutable_inputs();
         std::swap(in->at(0), in->at(1));
       }},
      {"backward input count", [&](v1::Plan* p) {
         p->mutable_steps(good.num_forward_steps() + 1)->add_inputs(0);
       }},
      {"out of place", [](v1::Plan* p) { p->set_num_forward_steps(0); }},
      {"unknown step kind", [](v1::Plan* p) {
         p->mutable_steps(0)->set_kind(static_cast<v1::Plan::StepKind>(9));
       }},
      {"neither a gradient nor bound", [&](v1::Plan* p) {
         for (auto& e : *p->mutable_arg_grad_entries()) {
           if (e == last_entry) e = -1;
         }
       }},
      {"gradient entry lists", [](v1::Plan* p) { p->add_head_grad_entries(-1); }},
  };
  for (const auto& [message, tamper] : cases) {
    v1::Plan bad = good;
    tamper(&bad);
    absl::StatusOr<Plan> r = FromProto(bad, ops::GlobalRegistry());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << message;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(message)) << r.status();
  }
}

// A plan that crossed the wire binds and runs exactly like the executor's own.
TEST(PlanCodecTest, DecodedPlanRunsLikeALocalOne) {
  using executor::Executor;
  using tensor::NDArray;
  absl::StatusOr<graph::Symbol> net = graph::models::Mlp({16}, 4);
  ASSERT_TRUE(net.ok());
  absl::StatusOr<std::unique_ptr<Executor>> local =
      Executor::SimpleBind(*net, Context::Cpu(), {{"data", Shape{3, 5}}});
  ASSERT_TRUE(local.ok()) << local.status();
  std::vector<NDArray> args, grads, remote_grads;
  const std::vector<std::string> names = net->ListArguments();
  for (size_t k = 0; k < names.size(); ++k) {
    NDArray a = (*local)->arg_arrays()[k];
    const int64_t n = a.size();
    std::vector<float> v(n);
    const bool label = names[k] == "softmax_label";
    for (int64_t i = 0; i < n; ++i) v[i] = label ? i % 4 : 0.1f * (i % 7) - 0.3f;
    ASSERT_TRUE(a.CopyFromHost(v.data(), v.size() * sizeof(float)).ok());
    args.push_back(*a.CopyTo(Context::Cpu()));
    remote_grads.push_back(*NDArray::Zeros(a.shape()));
  }
  graph::PlanOptions options;
  options.shapes = {{"data", Shape{3, 5}}};
  for (const std::string& name : names) options.grad_reqs[name] = ops::OpReq::kWriteTo;
  v1::Plan proto;
  ToProto(*graph::MakePlan(*net, options), &proto);
  absl::StatusOr<Plan> plan = FromProto(proto, ops::GlobalRegistry());
  ASSERT_TRUE(plan.ok()) << plan.status();

  absl::StatusOr<std::unique_ptr<Executor>> remote =
      Executor::BindPlan(*plan, Context::Cpu(), args, remote_grads, {});
  ASSERT_TRUE(remote.ok()) << remote.status();
  for (Executor* e : {local->get(), remote->get()}) {
    ASSERT_TRUE(e->Forward(/*is_train=*/true).ok());
    ASSERT_TRUE(e->Backward().ok());
  }
  EXPECT_EQ(*(*local)->outputs()[0].ToVector<float>(),
            *(*remote)->outputs()[0].ToVector<float>());
  for (size_t k = 0; k < names.size(); ++k) {
    EXPECT_EQ(*(*local)->grad_arrays()[k].ToVector<float>(), *remote_grads[k].ToVector<float>())
        << names[k];
  }

  // Arrays that do not fit the plan are refused, naming them.
  std::vector<NDArray> wrong = args;
  wrong[1] = *NDArray::Zeros({2, 2});
  absl::StatusOr<std::unique_ptr<Executor>> bad =
      Executor::BindPlan(*plan, Context::Cpu(), wrong, remote_grads, {});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr(names[1]));
  bad = Executor::BindPlan(*plan, Context::Cpu(), args, {}, {});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mxgrid::rpc
