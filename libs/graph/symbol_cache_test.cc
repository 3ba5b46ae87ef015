#include "libs/graph/symbol_cache.h"

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "libs/ops/builtin.h"

namespace mxgrid::graph {
namespace {

Symbol Fc(const Symbol& data, const std::string& name) {
  absl::StatusOr<Symbol> s = Symbol::Create(ops::GlobalRegistry(), "FullyConnected",
                                            {{"num_hidden", "4"}}, {.positional = {data}}, name);
  EXPECT_TRUE(s.ok()) << s.status();
  return *s;
}

TEST(SymbolCacheTest, HandsBackTheSameNodes) {
  SymbolCache cache(8);
  const Symbol x = Symbol::Variable("x");
  const std::string ref = cache.Put(x);
  EXPECT_EQ(ref.size(), 32u);
  std::optional<Symbol> got = cache.Get(ref);
  ASSERT_TRUE(got.has_value());
  // Node identity is kept: composing from the cached symbol shares x's node.
  const Symbol fc = Fc(*got, "fc1");
  EXPECT_EQ(fc.PostOrder().front(), x.outputs()[0].node.get());
  EXPECT_FALSE(cache.Get("0123456789abcdef0123456789abcdef").has_value());
  EXPECT_FALSE(cache.Get("").has_value());
}

TEST(SymbolCacheTest, HandlesAreDistinct) {
  SymbolCache cache(1000);
  std::set<std::string> refs;
  const Symbol x = Symbol::Variable("x");
  for (int i = 0; i < 1000; ++i) refs.insert(cache.Put(x));
  EXPECT_EQ(refs.size(), 1000u);
  EXPECT_EQ(cache.size(), 1000u);
}

TEST(SymbolCacheTest, EvictsTheLeastRecentlyUsed) {
  SymbolCache cache(2);
  const std::string a = cache.Put(Symbol::Variable("a"));
  const std::string b = cache.Put(Symbol::Variable("b"));
  ASSERT_TRUE(cache.Get(a).has_value());  // a is now the most recent
  const std::string c = cache.Put(Symbol::Variable("c"));
  EXPECT_TRUE(cache.Get(a).has_value());
  EXPECT_FALSE(cache.Get(b).has_value());
  EXPECT_TRUE(cache.Get(c).has_value());
  EXPECT_EQ(cache.size(), 2u);
}

TEST(SymbolCacheTest, ZeroCapacityKeepsNothing) {
  SymbolCache cache(0);
  EXPECT_EQ(cache.Put(Symbol::Variable("x")), "");
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.PutAs(std::string(32, 'a'), Symbol::Variable("x")).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(SymbolCacheTest, ClientHandlesAreThirtyTwoLowercaseHexDigits) {
  SymbolCache cache(8);
  const std::string ref = "0123456789abcdef0123456789abcdef";
  ASSERT_TRUE(cache.PutAs(ref, Symbol::Variable("x")).ok());
  std::optional<Symbol> held = cache.Get(ref);
  ASSERT_TRUE(held.has_value());
  EXPECT_EQ(held->ListArguments(), std::vector<std::string>{"x"});
  EXPECT_EQ(cache.PutAs(ref, Symbol::Variable("y")).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(cache.Get(ref)->ListArguments(), std::vector<std::string>{"x"});  // kept
  for (const std::string& bad : {std::string("0123456789ABCDEF0123456789abcdef"),
                                std::string("0123456789abcdef0123456789abcde"),
                                std::string("0123456789abcdef0123456789abcdefa"),
                                std::string("0123456789abcdef0123456789abcdeg"), std::string()}) {
    EXPECT_EQ(cache.PutAs(bad, Symbol::Variable("z")).code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
    EXPECT_FALSE(cache.Get(bad).has_value()) << bad;
  }
  // A handle differing in one digit, in either half, is another handle.
  EXPECT_FALSE(cache.Get("1123456789abcdef0123456789abcdef").has_value());
  EXPECT_FALSE(cache.Get("0123456789abcdef0123456789abcdee").has_value());
  // Handles the cache makes have the same form and can be held beside client ones.
  const std::string made = cache.Put(Symbol::Variable("w"));
  EXPECT_EQ(made.size(), 32u);
  EXPECT_EQ(made.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(cache.PutAs(made, Symbol::Variable("v")).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(cache.size(), 2u);
}

}  // namespace
}  // namespace mxgrid::graph
