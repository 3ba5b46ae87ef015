#include "libs/base/context.h"

#include "gtest/gtest.h"

namespace mxgrid {
namespace {

TEST(ContextTest, PrintsLikeMXNet) {
  EXPECT_EQ(Context::Cpu().ToString(), "cpu(0)");
  EXPECT_EQ(Context::Gpu(2).ToString(), "gpu(2)");
  EXPECT_EQ(Context::CpuPinned(0).ToString(), "cpu_pinned(0)");
}

TEST(ContextTest, EqualityUsesTypeAndId) {
  EXPECT_EQ(Context::Cpu(0), Context::Cpu());
  EXPECT_NE(Context::Cpu(0), Context::Gpu(0));
  EXPECT_NE(Context::Gpu(0), Context::Gpu(1));
  EXPECT_TRUE(Context::Gpu(1).is_gpu());
  EXPECT_TRUE(Context::Cpu(1).is_cpu());
}

TEST(ContextTest, MakeValidatesNumbers) {
  EXPECT_EQ(*Context::Make(2, 3), Context::Gpu(3));
  EXPECT_EQ(Context::Make(7, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Context::Make(1, -1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ContextTest, FromStringReadsMXNetsPrintedForm) {
  EXPECT_EQ(*Context::FromString("cpu(0)"), Context::Cpu());
  EXPECT_EQ(*Context::FromString("gpu(2)"), Context::Gpu(2));
  EXPECT_EQ(*Context::FromString(" cpu_pinned(1) "), Context::CpuPinned(1));
  EXPECT_EQ(*Context::FromString("cpu"), Context::Cpu());
  for (const char* bad : {"", "tpu(0)", "cpu(-1)", "cpu(x)", "cpu(0", "gpu()", "cpu(1)x"}) {
    EXPECT_EQ(Context::FromString(bad).status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

}  // namespace
}  // namespace mxgrid
