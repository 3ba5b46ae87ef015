#include "services/worker/internal/kvstore_shards.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "libs/base/mutex.h"
#include "libs/tensor/ndarray.h"

namespace mxgrid::services::internal {
namespace {

TEST(ResolveShardAddressesTest, ListsStayInOrder) {
  auto a = ResolveShardAddresses({"10.0.0.2:5,10.0.0.1:5", "h:7"});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(*a, (std::vector<std::string>{"10.0.0.2:5", "10.0.0.1:5", "h:7"}));
}

TEST(ResolveShardAddressesTest, OneNameWithOneAddressIsKept) {
  auto a = ResolveShardAddresses({"localhost:50053"});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(*a, std::vector<std::string>{"localhost:50053"});
  a = ResolveShardAddresses({"127.0.0.1:1"});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(*a, std::vector<std::string>{"127.0.0.1:1"});
}

TEST(ResolveShardAddressesTest, BadInputIsInvalidArgument) {
  for (const char* bad : {"", "host", "host:0", "host:99999", ":5", "a b:5", "h:x"}) {
    EXPECT_EQ(ResolveShardAddresses({bad}).status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
  EXPECT_EQ(ResolveShardAddresses({"a:1,a:1"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveShardAddresses({}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ResolveShardAddressesTest, UnknownNameIsUnavailable) {
  EXPECT_EQ(ResolveShardAddresses({"no-such-host.invalid:5"}).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(GrpcShardConnectionTest, NobodyListeningIsUnavailableWithinTheDeadline) {
  auto conn = GrpcShardConnection::Create("127.0.0.1:1", {});
  base::Mutex mu;
  base::CondVar cv(&mu);
  bool done = false;
  absl::Status status;
  conn->Heartbeat("job", 0, absl::Now() + absl::Seconds(5), [&](absl::Status s) {
    base::MutexLock lock(&mu);
    status = s;
    done = true;
    cv.SignalAll();
  });
  base::MutexLock lock(&mu);
  while (!done) cv.Wait();
  EXPECT_TRUE(status.code() == absl::StatusCode::kUnavailable ||
              status.code() == absl::StatusCode::kDeadlineExceeded)
      << status;
}

// PushPull's unary call and its stream fallback (a value above max_unary_bytes): UNAVAILABLE
// (or the deadline) from nobody listening, out untouched.
TEST(GrpcShardConnectionTest, PushPullToNobodyListeningFailsBothWays) {
  // The connections outlive the calls' completions (as a DistStore's do): a stream's
  // completion callback runs before gRPC has finished with the call.
  std::vector<std::unique_ptr<GrpcShardConnection>> conns;
  for (size_t max_unary_bytes : {size_t{4} << 20, size_t{4}}) {
    ShardConnectionOptions options;
    options.max_unary_bytes = max_unary_bytes;
    conns.push_back(GrpcShardConnection::Create("127.0.0.1:1", options));
    GrpcShardConnection* conn = conns.back().get();
    tensor::NDArray value = *tensor::NDArray::FromVector<float>(Shape{4}, {1, 2, 3, 4});
    tensor::NDArray out = *tensor::NDArray::FromVector<float>(Shape{4}, {0, 0, 0, 0});
    base::Mutex mu;
    base::CondVar cv(&mu);
    bool done = false;
    absl::Status status;
    conn->PushPull({.job = "job", .key = "k", .part = 0, .rank = 0}, value, out,
                   absl::Now() + absl::Seconds(5), [&](absl::Status s) {
                     base::MutexLock lock(&mu);
                     status = s;
                     done = true;
                     cv.SignalAll();
                   });
    {
      base::MutexLock lock(&mu);
      while (!done) cv.Wait();
    }
    EXPECT_TRUE(status.code() == absl::StatusCode::kUnavailable ||
                status.code() == absl::StatusCode::kDeadlineExceeded)
        << max_unary_bytes << ": " << status;
    EXPECT_EQ(*out.ToVector<float>(), (std::vector<float>{0, 0, 0, 0})) << max_unary_bytes;
  }
}

}  // namespace
}  // namespace mxgrid::services::internal
