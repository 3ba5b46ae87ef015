#include "libs/ops/params.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mxgrid::ops {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ParamsTest, ParsesMXNetValueSyntax) {
  int64_t i = 0;
  EXPECT_TRUE(ParseInt("128", &i));
  EXPECT_EQ(i, 128);
  EXPECT_TRUE(ParseInt(" 2.0 ", &i));
  EXPECT_EQ(i, 2);
  EXPECT_FALSE(ParseInt("2.5", &i));
  EXPECT_FALSE(ParseInt("abc", &i));
  double d = 0;
  EXPECT_TRUE(ParseFloat("1e-3", &d));
  EXPECT_DOUBLE_EQ(d, 1e-3);
  EXPECT_FALSE(ParseFloat("", &d));
  bool b = false;
  for (const char* t : {"True", "true", "1"}) EXPECT_TRUE(ParseBool(t, &b) && b) << t;
  for (const char* f : {"False", "false", "0"}) EXPECT_TRUE(ParseBool(f, &b) && !b) << f;
  EXPECT_FALSE(ParseBool("maybe", &b));
  std::vector<int64_t> t;
  EXPECT_TRUE(ParseIntTuple("(3, 3)", &t));
  EXPECT_THAT(t, ElementsAre(3, 3));
  EXPECT_TRUE(ParseIntTuple("[1,2,3]", &t));
  EXPECT_THAT(t, ElementsAre(1, 2, 3));
  EXPECT_TRUE(ParseIntTuple("(3,)", &t));
  EXPECT_THAT(t, ElementsAre(3));
  EXPECT_TRUE(ParseIntTuple("5", &t));
  EXPECT_THAT(t, ElementsAre(5));
  EXPECT_TRUE(ParseIntTuple("()", &t));
  EXPECT_TRUE(t.empty());
  EXPECT_FALSE(ParseIntTuple("(3, x)", &t));
  EXPECT_FALSE(ParseIntTuple("(3, 3", &t));
}

TEST(ParamsTest, ReaderAppliesDefaultsAndRejectsBadInput) {
  AttrMap attrs = {{"num_hidden", "128"}, {"no_bias", "True"}, {"__lr_mult__", "2"}};
  ParamReader r("FullyConnected", attrs);
  int64_t num_hidden = 0;
  bool no_bias = false, flatten = false;
  ASSERT_TRUE(r.Int("num_hidden", &num_hidden).ok());
  ASSERT_TRUE(r.Bool("no_bias", &no_bias, false).ok());
  ASSERT_TRUE(r.Bool("flatten", &flatten, true).ok());
  EXPECT_EQ(num_hidden, 128);
  EXPECT_TRUE(no_bias);
  EXPECT_TRUE(flatten);
  EXPECT_TRUE(r.Finish().ok());  // hidden __lr_mult__ is ignored

  AttrMap bad = {{"num_hidden", "abc"}, {"bogus", "1"}};
  ParamReader r2("FullyConnected", bad);
  absl::Status s = r2.Int("num_hidden", &num_hidden);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("FullyConnected: parameter 'num_hidden' = 'abc'"));
  absl::Status unknown = r2.Finish();
  EXPECT_EQ(unknown.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.message(), HasSubstr("unknown parameter 'bogus'"));

  AttrMap none;
  ParamReader r3("Activation", none);
  std::string act;
  absl::Status missing = r3.Enum("act_type", &act, {"relu", "tanh"});
  EXPECT_EQ(missing.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.message(), HasSubstr("'act_type' is missing"));
  AttrMap wrong = {{"act_type", "bogus"}};
  ParamReader r4("Activation", wrong);
  EXPECT_THAT(r4.Enum("act_type", &act, {"relu", "tanh"}).message(), HasSubstr("one of {relu, tanh}"));
  std::optional<int64_t> axis;
  AttrMap opt = {{"axis", "None"}};
  ParamReader r5("argmax", opt);
  ASSERT_TRUE(r5.OptionalInt("axis", &axis).ok());
  EXPECT_FALSE(axis.has_value());
}

}  // namespace
}  // namespace mxgrid::ops
