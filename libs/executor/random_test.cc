// Seeding: RandomSource streams, imperative samplers (zero inputs, a context from `ctx`),
// and bound executors' random nodes (a sampler node, Dropout) reproducible after a seed.
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "libs/executor/executor.h"
#include "libs/executor/imperative.h"
#include "libs/executor/random_source.h"
#include "libs/ops/builtin.h"

namespace mxgrid::executor {
namespace {

using graph::Symbol;

std::shared_ptr<const ops::ParsedOp> Parse(const char* name, const ops::AttrMap& attrs) {
  absl::StatusOr<ops::ParsedOp> op = ops::GlobalRegistry().Parse(name, attrs);
  EXPECT_TRUE(op.ok()) << op.status();
  return op.ok() ? std::make_shared<const ops::ParsedOp>(*op) : nullptr;
}

std::vector<float> Values(const NDArray& a) {
  absl::StatusOr<std::vector<float>> v = a.ToVector<float>();
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : std::vector<float>();
}

TEST(RandomSourceTest, SeedFixesEachDevicesStream) {
  RandomSource a, b;
  a.Seed(42);
  b.Seed(42);
  const uint64_t first = a.NextSeed(Context::Cpu());
  EXPECT_EQ(first, b.NextSeed(Context::Cpu()));
  EXPECT_NE(a.NextSeed(Context::Cpu()), first);  // the stream moves on
  // Devices seeded alike still differ (as MXNet mixes in the device id); a device first
  // used after Seed(all) follows it too.
  EXPECT_EQ(a.NextSeed(Context::Cpu(3)), b.NextSeed(Context::Cpu(3)));
  RandomSource c;
  c.Seed(42);
  EXPECT_NE(c.NextSeed(Context::Cpu(1)), first);
  // Seeding one device leaves the others' streams alone.
  RandomSource d, e;
  d.Seed(5);
  e.Seed(5);
  d.Seed(6, Context::Cpu(1));
  EXPECT_EQ(d.NextSeed(Context::Cpu()), e.NextSeed(Context::Cpu()));
  EXPECT_NE(d.NextSeed(Context::Cpu(1)), e.NextSeed(Context::Cpu(1)));
}

TEST(RandomSourceTest, UnseededSourcesDiffer) {
  RandomSource a, b;
  EXPECT_NE(a.NextSeed(Context::Cpu()), b.NextSeed(Context::Cpu()));
}

// n uniform samples (large enough to run on engine threads) from a source seeded by `seed`,
// repeated `calls` times; the values of every call.
std::vector<std::vector<float>> Draw(RandomSource* random, uint64_t seed, int calls) {
  random->Seed(seed);
  InvokeOptions options;
  options.random = random;
  std::vector<NDArray> outs;
  auto op = Parse("_random_uniform", {{"shape", "(64, 128)"}});
  for (int i = 0; i < calls; ++i) {
    absl::StatusOr<std::vector<NDArray>> r = Invoke(op, {}, options);
    EXPECT_TRUE(r.ok()) << r.status();
    if (r.ok()) outs.push_back((*r)[0]);
  }
  std::vector<std::vector<float>> values;
  for (const NDArray& o : outs) values.push_back(Values(o));
  return values;
}

TEST(ImperativeRandomTest, SameSeedSameValuesWhateverTheThreads) {
  RandomSource random;
  const auto a = Draw(&random, 7, 16), b = Draw(&random, 7, 16), c = Draw(&random, 8, 16);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a[0], a[1]);  // consecutive calls draw different values
}

TEST(ImperativeRandomTest, ZeroInputOpTakesItsContextFromCtxOrOut) {
  absl::StatusOr<std::vector<NDArray>> r =
      Invoke(Parse("_random_normal", {{"shape", "(3, 2)"}, {"ctx", "cpu(0)"}}), {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)[0].shape(), (Shape{3, 2}));
  EXPECT_EQ((*r)[0].context(), Context::Cpu());

  r = Invoke(Parse("_random_uniform", {{"shape", "(2,)"}, {"ctx", "gpu(0)"}}), {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();

  // No shape: `out` gives shape, dtype and device (MXNet's out= of nd.random.*).
  NDArray into = *NDArray::Zeros(Shape{4, 5}, Context::Cpu(), DType::kFloat64);
  InvokeOptions options;
  std::vector<NDArray> out = {into};
  options.out = out;
  r = Invoke(Parse("_random_uniform", {{"low", "2"}, {"high", "3"}}), {}, options);
  ASSERT_TRUE(r.ok()) << r.status();
  std::vector<double> v = *into.ToVector<double>();
  for (double x : v) {
    EXPECT_GE(x, 2);
    EXPECT_LT(x, 3);
  }
  // A shape unlike out's is refused.
  r = Invoke(Parse("_random_uniform", {{"shape", "(3,)"}}), {}, options);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ImperativeRandomTest, DropoutFollowsTheSeed) {
  RandomSource random;
  auto op = Parse("Dropout", {{"p", "0.5"}});
  NDArray x = *NDArray::Ones(Shape{1000});
  auto run = [&](uint64_t seed) {
    random.Seed(seed);
    InvokeOptions options;
    options.random = &random;
    options.is_train = true;
    return Values((*Invoke(op, {x}, options))[0]);
  };
  EXPECT_EQ(run(3), run(3));
  EXPECT_NE(run(3), run(4));
}

class ExecutorRandomTest : public ::testing::Test {
 protected:
  Symbol Op(const std::string& op, ops::AttrMap attrs, Symbol::Inputs in,
            const std::string& name) {
    absl::StatusOr<Symbol> s = Symbol::Create(ops::GlobalRegistry(), op, attrs, in, name, &names_);
    EXPECT_TRUE(s.ok()) << op << ": " << s.status();
    return s.ok() ? *s : Symbol();
  }
  graph::NameManager names_;
};

TEST_F(ExecutorRandomTest, SamplerNodeAndDropoutAreReproducibleAfterASeed) {
  // y = dropout(x + uniform(shape=(50, 40))): a zero-input node and Dropout in one graph.
  Symbol noise = Op("_random_uniform", {{"shape", "(50, 40)"}}, {}, "noise");
  Symbol sum = Op("elemwise_add", {}, {{Symbol::Variable("x"), noise}, {}}, "sum");
  Symbol net = Op("Dropout", {{"p", "0.5"}}, {{sum}, {}}, "drop");
  absl::StatusOr<std::unique_ptr<Executor>> exec =
      Executor::SimpleBind(net, Context::Cpu(), {{"x", Shape{50, 40}}}, GradReq::kNull);
  ASSERT_TRUE(exec.ok()) << exec.status();
  EXPECT_EQ((*exec)->outputs()[0].shape(), (Shape{50, 40}));
  auto random = std::make_shared<RandomSource>();
  (*exec)->set_random_source(random);
  auto forward = [&](uint64_t seed) {
    random->Seed(seed);
    EXPECT_TRUE((*exec)->Forward(true).ok());
    return Values((*exec)->outputs()[0]);
  };
  const std::vector<float> a = forward(1), b = forward(1), c = forward(2);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  int zeros = 0;
  for (float v : a) {
    if (v == 0) ++zeros;
    else EXPECT_LT(v, 2.0f);  // uniform in [0, 1) scaled by 1/(1-p)
  }
  EXPECT_GT(zeros, 700);
  EXPECT_LT(zeros, 1300);

  // A reshaped executor keeps the session's source.
  absl::StatusOr<std::unique_ptr<Executor>> small = (*exec)->Reshape({{"x", Shape{50, 40}}});
  ASSERT_TRUE(small.ok()) << small.status();
  random->Seed(1);
  ASSERT_TRUE((*small)->Forward(true).ok());
  EXPECT_EQ(Values((*small)->outputs()[0]), a);
}

}  // namespace
}  // namespace mxgrid::executor
