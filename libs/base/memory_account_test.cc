#include "libs/base/memory_account.h"

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mxgrid::base {
namespace {

using ::testing::HasSubstr;

TEST(MemoryAccountTest, ChargesReachEveryAncestor) {
  auto process = std::make_shared<MemoryAccount>("process", 1000);
  auto session = std::make_shared<MemoryAccount>("session", 0, process);
  ASSERT_TRUE(session->Charge(300).ok());
  EXPECT_EQ(session->used(), 300);
  EXPECT_EQ(process->used(), 300);
  session->Release(100);
  EXPECT_EQ(session->used(), 200);
  EXPECT_EQ(process->used(), 200);
  EXPECT_EQ(session->peak(), 300);
}

TEST(MemoryAccountTest, AChargePastAnyLimitIsRefusedWhole) {
  auto process = std::make_shared<MemoryAccount>("process", 1000, nullptr, "--limit");
  auto a = std::make_shared<MemoryAccount>("session a", 600, process);
  auto b = std::make_shared<MemoryAccount>("session b", 600, process);
  ASSERT_TRUE(a->Charge(600).ok());
  const absl::Status own = a->Charge(1);
  EXPECT_EQ(own.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(own.message(), HasSubstr("session a"));
  const absl::Status parent = b->Charge(500);
  EXPECT_EQ(parent.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(parent.message(), HasSubstr("process"));
  EXPECT_THAT(parent.message(), HasSubstr("(--limit)"));
  EXPECT_EQ(b->used(), 0);
  EXPECT_EQ(process->used(), 600);
  EXPECT_TRUE(b->Charge(400).ok());
}

TEST(MemoryAccountTest, ForcedChargesCountAgainstLaterCharges) {
  auto process = std::make_shared<MemoryAccount>("process", 100);
  auto session = std::make_shared<MemoryAccount>("session", 0, process);
  session->ForceCharge(150);  // past the limit: bookkeeping only
  EXPECT_EQ(process->used(), 150);
  EXPECT_EQ(session->Charge(1).code(), absl::StatusCode::kResourceExhausted);
  session->Release(150);
  EXPECT_TRUE(session->Charge(100).ok());
}

TEST(MemoryAccountTest, DestroyingAnAccountGivesItsChargesBack) {
  auto process = std::make_shared<MemoryAccount>("process", 0);
  {
    auto session = std::make_shared<MemoryAccount>("session", 0, process);
    ASSERT_TRUE(session->Charge(64).ok());
  }
  EXPECT_EQ(process->used(), 0);
}

TEST(MemoryAccountTest, ConcurrentChargesNeverPassTheLimit) {
  auto process = std::make_shared<MemoryAccount>("process", 10000);
  std::vector<std::thread> threads;
  std::atomic<int> granted{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      auto s = std::make_shared<MemoryAccount>("s", 0, process);
      for (int i = 0; i < 10000; ++i) {
        if (s->Charge(7).ok()) granted.fetch_add(1);
      }
      s->Release(s->used());
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_GT(granted.load(), 0);
  EXPECT_EQ(process->used(), 0);
  EXPECT_LE(process->peak(), 10000);
}

}  // namespace
}  // namespace mxgrid::base
