// Monitored Forward / Backward: every operator's outputs copied as it ran, under the names
// MXNet's monitor callback uses (checked against MXNet 1.9.1 by
// tests/python/client/test_monitor_cse_states.py).
#include <algorithm>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/executor/executor.h"
#include "libs/ops/builtin.h"

namespace mxgrid::executor {
namespace {

using graph::Symbol;
using ::testing::ElementsAre;

std::vector<float> Values(const NDArray& a) {
  absl::StatusOr<std::vector<float>> v = a.ToVector<float>();
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : std::vector<float>();
}

const NDArray& Find(const std::vector<MonitoredArray>& m, const std::string& name) {
  auto it = std::find_if(m.begin(), m.end(), [&](const MonitoredArray& a) { return a.name == name; });
  EXPECT_NE(it, m.end()) << name;
  return it->value;
}

class ExecutorMonitorTest : public ::testing::Test {
 protected:
  Symbol Op(const std::string& op, ops::AttrMap attrs, Symbol data, const std::string& name) {
    Symbol::Inputs in;
    in.named = {{"data", data}};
    absl::StatusOr<Symbol> s = Symbol::Create(ops::GlobalRegistry(), op, attrs, in, name, &names_);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *s : Symbol();
  }
  graph::NameManager names_;
};

TEST_F(ExecutorMonitorTest, CopiesEveryOperatorOutputWithMxnetNames) {
  Symbol net = Op("FullyConnected", {{"num_hidden", "3"}}, Symbol::Variable("data"), "fc1");
  net = Op("Activation", {{"act_type", "relu"}}, net, "relu1");
  net = Op("FullyConnected", {{"num_hidden", "2"}}, net, "fc2");
  net = Op("SoftmaxOutput", {}, net, "softmax");
  absl::StatusOr<std::unique_ptr<Executor>> exec = Executor::SimpleBind(
      net, Context::Cpu(), {{"data", Shape{4, 5}}, {"softmax_label", Shape{4}}}, GradReq::kWrite,
      {{"data", GradReq::kNull}, {"softmax_label", GradReq::kNull}});
  ASSERT_TRUE(exec.ok()) << exec.status();
  for (const auto& [name, a] : (*exec)->arg_dict()) {
    std::vector<float> v(a.size());
    for (size_t i = 0; i < v.size(); ++i) v[i] = 0.1f * static_cast<float>((i * 7) % 11) - 0.4f;
    ASSERT_TRUE(a.CopyFromHost(v.data(), v.size() * sizeof(float)).ok());
  }
  std::vector<MonitoredArray> m;
  ASSERT_TRUE((*exec)->Forward(true, {}, &m).ok());
  ASSERT_TRUE((*exec)->Backward({}, &m).ok());
  std::vector<std::string> names;
  for (const MonitoredArray& a : m) names.push_back(a.name);
  EXPECT_THAT(names, ElementsAre("fc1_output", "relu1_output", "fc2_output", "softmax_output",
                                 "softmax_backward_output0", "softmax_backward_output1",
                                 "fc2_backward_output0", "fc2_backward_output1",
                                 "fc2_backward_output2", "relu1_backward_output",
                                 "fc1_backward_output0", "fc1_backward_output1",
                                 "fc1_backward_output2"));
  // Each copy holds what its operator wrote, though the planner reused the memory since.
  const std::vector<float> fc1 = Values(Find(m, "fc1_output"));
  const std::vector<float> relu1 = Values(Find(m, "relu1_output"));
  ASSERT_EQ(fc1.size(), relu1.size());
  for (size_t i = 0; i < fc1.size(); ++i) EXPECT_FLOAT_EQ(relu1[i], std::max(fc1[i], 0.0f));
  EXPECT_EQ(Values(Find(m, "softmax_output")), Values((*exec)->outputs()[0]));
  EXPECT_EQ(Values(Find(m, "fc1_backward_output1")), Values((*exec)->grad_dict().at("fc1_weight")));
  // The data gradient nobody asked for reads as zeros, with data's shape.
  const NDArray& dx = Find(m, "fc1_backward_output0");
  EXPECT_EQ(dx.shape(), (Shape{4, 5}));
  EXPECT_THAT(Values(dx), ::testing::Each(0.0f));
}

TEST_F(ExecutorMonitorTest, UnmonitoredRunsCopyNothing) {
  Symbol net = Op("Activation", {{"act_type", "relu"}}, Symbol::Variable("x"), "r");
  absl::StatusOr<std::unique_ptr<Executor>> exec =
      Executor::SimpleBind(net, Context::Cpu(), {{"x", Shape{3}}});
  ASSERT_TRUE(exec.ok()) << exec.status();
  std::vector<MonitoredArray> m;
  ASSERT_TRUE((*exec)->Forward(false).ok());
  ASSERT_TRUE((*exec)->Forward(false, {}, &m).ok());
  EXPECT_EQ(m.size(), 1u);
}

}  // namespace
}  // namespace mxgrid::executor
