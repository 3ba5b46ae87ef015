#include "services/common/internal/thread_stacks.h"

#include <pthread.h>

#include <cstddef>
#include <cstring>

#include "gtest/gtest.h"

namespace mxgrid::services::internal {
namespace {

// Static TLS of this test: 48 KiB that glibc carves out of every thread's stack. External
// linkage, so that the compiler keeps it.
extern thread_local char tls_block[48 << 10];
thread_local char tls_block[48 << 10];

size_t StackSizeOfNewThread(size_t requested) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  EXPECT_EQ(pthread_attr_setstacksize(&attr, requested), 0);
  size_t set = 0;
  pthread_attr_getstacksize(&attr, &set);
  pthread_attr_destroy(&attr);
  return set;
}

void* UseStack(void* bytes) {
  tls_block[0] = 1;
  if (tls_block[1] != 0) return nullptr;
  // Touches most of what the creator asked for, as a deep call chain would.
  const size_t n = *static_cast<size_t*>(bytes);
  char* volatile buffer = static_cast<char*>(__builtin_alloca(n));
  std::memset(buffer, 7, n);
  return buffer[n - 1] == 7 ? bytes : nullptr;
}

TEST(ThreadStacksTest, CountsStaticTls) {
  EXPECT_GE(StaticTlsBytes(), sizeof(tls_block));
}

TEST(ThreadStacksTest, ExplicitSizesGetTheirUsableStackOnTopOfStaticTls) {
  const size_t requested = 1 << 20;
  EXPECT_GE(StackSizeOfNewThread(requested), requested + sizeof(tls_block));
  EXPECT_EQ(AdjustedStackBytes(requested), requested + StaticTlsBytes());
}

TEST(ThreadStacksTest, SmallSizesAreRaisedToTheMinimum) {
  EXPECT_GE(StackSizeOfNewThread(64 << 10), kMinThreadStackBytes);
}

TEST(ThreadStacksTest, ThreadUsesNearlyAllOfASmallRequestedStack) {
  // Without the adjustment, 100 KiB minus 48 KiB of TLS leaves too little for 80 KiB.
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  ASSERT_EQ(pthread_attr_setstacksize(&attr, 100 << 10), 0);
  size_t use = 80 << 10;
  pthread_t thread;
  ASSERT_EQ(pthread_create(&thread, &attr, &UseStack, &use), 0);
  void* result = nullptr;
  pthread_join(thread, &result);
  pthread_attr_destroy(&attr);
  EXPECT_EQ(result, &use);
}

}  // namespace
}  // namespace mxgrid::services::internal
