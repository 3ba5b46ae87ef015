// Error propagation on both engine kinds: errors flow along written variables, dependents
// are skipped, WaitForVar / WaitForAll surface and clear them, exceptions become Internal.
#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/base/context.h"
#include "libs/engine/engine.h"
#include "libs/engine/engine_test_util.h"

namespace mxgrid::engine {
namespace {

using ::testing::HasSubstr;

// The status is built inside the operation: a Status object shared with the test thread
// would have its (uninstrumented, in Debian's Abseil) reference count touched by two
// threads, which ThreadSanitizer reports as a race.
SyncFn Fail(absl::StatusCode code, const char* message) {
  return [code, message](const RunContext&) { return absl::Status(code, message); };
}

SyncFn Mark(std::atomic<bool>* ran) {
  return [ran](const RunContext&) {
    *ran = true;
    return absl::OkStatus();
  };
}

class EngineErrorTest : public testing::BothEnginesTest {};

INSTANTIATE_TEST_SUITE_P(AllKinds, EngineErrorTest, testing::AllEngineKinds(),
                         testing::KindParamName);

TEST_P(EngineErrorTest, WaitForVarReturnsTheErrorOnceWithCodeAndMessage) {
  VarHandle a = engine_->NewVariable();
  engine_->PushSync(Fail(absl::StatusCode::kNotFound, "no such key 'w'"), cpu_, {}, {a});
  absl::Status status = engine_->WaitForVar(a);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(), "no such key 'w'");
  EXPECT_TRUE(engine_->WaitForVar(a).ok()) << "WaitForVar must clear the error";
  EXPECT_EQ(engine_->VarVersion(a), 1u);
}

TEST_P(EngineErrorTest, ErrorPayloadsArePreserved) {
  VarHandle a = engine_->NewVariable();
  engine_->PushSync(
      [](const RunContext&) {
        absl::Status status = absl::FailedPreconditionError("not bound");
        status.SetPayload("type.mxgrid/op", absl::Cord("conv1"));
        return status;
      },
      cpu_, {}, {a});
  absl::Status status = engine_->WaitForVar(a);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(status.GetPayload("type.mxgrid/op").has_value());
  EXPECT_EQ(std::string(*status.GetPayload("type.mxgrid/op")), "conv1");
}

TEST_P(EngineErrorTest, DependentsAreSkippedAndInheritTheError) {
  VarHandle a = engine_->NewVariable();
  VarHandle b = engine_->NewVariable();
  VarHandle c = engine_->NewVariable();
  VarHandle unrelated = engine_->NewVariable();
  std::atomic<bool> reader_ran{false}, writer_ran{false}, chained_ran{false}, unrelated_ran{false};
  engine_->PushSync(Fail(absl::StatusCode::kResourceExhausted, "out of memory"), cpu_, {}, {a});
  engine_->PushSync(Mark(&reader_ran), cpu_, {a}, {b});   // reads a: skipped
  engine_->PushSync(Mark(&writer_ran), cpu_, {}, {a});    // writes a: skipped
  engine_->PushSync(Mark(&chained_ran), cpu_, {b}, {c});  // reads b: skipped
  engine_->PushSync(Mark(&unrelated_ran), cpu_, {}, {unrelated});
  for (VarHandle v : {a, b, c}) {
    absl::Status status = engine_->WaitForVar(v);
    EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
    EXPECT_EQ(status.message(), "out of memory");
  }
  EXPECT_TRUE(engine_->WaitForVar(unrelated).ok());
  EXPECT_FALSE(reader_ran.load());
  EXPECT_FALSE(writer_ran.load());
  EXPECT_FALSE(chained_ran.load());
  EXPECT_TRUE(unrelated_ran.load());
  // Skipped writes still complete (and count as writes).
  EXPECT_EQ(engine_->VarVersion(a), 2u);
  // Once cleared, the variable works again.
  std::atomic<bool> after{false};
  engine_->PushSync(Mark(&after), cpu_, {a}, {b});
  EXPECT_TRUE(engine_->WaitForVar(b).ok());
  EXPECT_TRUE(after.load());
}

TEST_P(EngineErrorTest, ErrorIsInheritedWhenTheReadsTurnComesNotWhenItStarts) {
  if (GetParam() == EngineKind::kNaive) GTEST_SKIP() << "needs an operation held back";
  VarHandle b = engine_->NewVariable();
  VarHandle gate = engine_->NewVariable();
  VarHandle c = engine_->NewVariable();
  testing::Event release;
  std::atomic<bool> ran{false};
  engine_->PushSync(
      [&release](const RunContext&) {
        EXPECT_TRUE(release.WaitFor());
        return absl::OkStatus();
      },
      cpu_, {}, {gate});
  engine_->PushSync(Fail(absl::StatusCode::kAborted, "b failed"), cpu_, {}, {b});
  // Its turn on b comes right after the failure, but it cannot start before the gate opens.
  engine_->PushSync(Mark(&ran), cpu_, {b, gate}, {c});
  // Clearing b's error now must not change what the queued reader inherited.
  EXPECT_EQ(engine_->WaitForVar(b).code(), absl::StatusCode::kAborted);
  release.Notify();
  EXPECT_EQ(engine_->WaitForVar(c).code(), absl::StatusCode::kAborted);
  EXPECT_FALSE(ran.load());
}

TEST_P(EngineErrorTest, ReadOnlyOperationsDoNotPassErrorsToTheirReads) {
  VarHandle a = engine_->NewVariable();
  VarHandle b = engine_->NewVariable();
  engine_->PushSync(Fail(absl::StatusCode::kInvalidArgument, "bad shape"), cpu_, {a}, {});
  EXPECT_TRUE(engine_->WaitForVar(a).ok());
  engine_->PushSync(Fail(absl::StatusCode::kInvalidArgument, "bad shape"), cpu_, {a}, {b});
  EXPECT_TRUE(engine_->WaitForVar(a).ok());
  EXPECT_EQ(engine_->WaitForVar(b).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(engine_->WaitForAll().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(EngineErrorTest, WaitForAllReturnsTheFirstErrorThenOk) {
  VarHandle a = engine_->NewVariable();
  VarHandle b = engine_->NewVariable();
  engine_->PushSync(Fail(absl::StatusCode::kAborted, "first"), cpu_, {}, {a});
  ASSERT_FALSE(engine_->WaitForVar(a).ok());  // completes it before the second one
  engine_->PushSync(Fail(absl::StatusCode::kDataLoss, "second"), cpu_, {}, {b});
  absl::Status status = engine_->WaitForAll();
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(status.message(), "first");
  EXPECT_TRUE(engine_->WaitForAll().ok());
  // The variable errors are separate from the global list.
  EXPECT_EQ(engine_->WaitForVar(b).code(), absl::StatusCode::kDataLoss);
}

TEST_P(EngineErrorTest, ExceptionsBecomeInternalErrorsNamingTheOperation) {
  VarHandle a = engine_->NewVariable();
  VarHandle b = engine_->NewVariable();
  engine_->PushSync([](const RunContext&) -> absl::Status { throw std::runtime_error("kaboom"); },
                    cpu_, {}, {a}, {FnProperty::kNormal, 0, "exploding_op"});
  engine_->PushSync([](const RunContext&) -> absl::Status { throw 7; }, cpu_, {}, {b},
                    {FnProperty::kNormal, 0, "int_thrower"});
  absl::Status status = engine_->WaitForVar(a);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(status.message()), HasSubstr("exploding_op"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("kaboom"));
  status = engine_->WaitForVar(b);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(status.message()), HasSubstr("int_thrower"));
  EXPECT_EQ(engine_->WaitForAll().code(), absl::StatusCode::kInternal);
}

TEST_P(EngineErrorTest, NoSkipOperationsRunDespiteAnInputError) {
  VarHandle a = engine_->NewVariable();
  VarHandle b = engine_->NewVariable();
  VarHandle c = engine_->NewVariable();
  std::atomic<bool> cleanup_ran{false}, normal_ran{false};
  engine_->PushSync(Fail(absl::StatusCode::kUnavailable, "peer down"), cpu_, {}, {a});
  engine_->PushSync(Mark(&cleanup_ran), cpu_, {a}, {b}, {FnProperty::kNoSkip, 0, "free"});
  engine_->PushSync(Mark(&normal_ran), cpu_, {a}, {c});
  ASSERT_TRUE(engine_->WaitForAll().code() == absl::StatusCode::kUnavailable);
  EXPECT_TRUE(cleanup_ran.load());
  EXPECT_FALSE(normal_ran.load());
  // The no-skip operation still passes the input's error on.
  EXPECT_EQ(engine_->WaitForVar(b).code(), absl::StatusCode::kUnavailable);
  // Its own failure wins over the inherited one.
  engine_->PushSync(Fail(absl::StatusCode::kInternal, "free failed"), cpu_, {a}, {b},
                    {FnProperty::kNoSkip});
  EXPECT_EQ(engine_->WaitForVar(b).message(), "free failed");
}

TEST_P(EngineErrorTest, AsyncOperationsReportErrorsThroughTheirCallback) {
  VarHandle a = engine_->NewVariable();
  VarHandle b = engine_->NewVariable();
  std::atomic<bool> ran{false};
  engine_->PushAsync(
      [](const RunContext&, CallbackOnComplete on_complete) {
        on_complete(absl::DeadlineExceededError("copy timed out"));
      },
      cpu_, {}, {a}, {FnProperty::kAsync});
  engine_->PushAsync(
      [&ran](const RunContext&, CallbackOnComplete on_complete) {
        ran = true;
        on_complete();
      },
      cpu_, {a}, {b}, {FnProperty::kAsync});
  EXPECT_EQ(engine_->WaitForVar(b).code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_FALSE(ran.load());
  EXPECT_EQ(engine_->WaitForVar(a).message(), "copy timed out");
  // An async function that throws (without calling back) fails its operation.
  engine_->PushAsync([](const RunContext&, CallbackOnComplete) { throw std::logic_error("x"); },
                     cpu_, {}, {a}, {FnProperty::kAsync, 0, "async_thrower"});
  EXPECT_THAT(std::string(engine_->WaitForVar(a).message()), HasSubstr("async_thrower"));
}

TEST_P(EngineErrorTest, DeleteVariableRunsOnDeleteDespiteAnError) {
  VarHandle a = engine_->NewVariable();
  std::atomic<bool> deleted{false};
  engine_->PushSync(Fail(absl::StatusCode::kAborted, "failed write"), cpu_, {}, {a});
  engine_->DeleteVariable([&](const RunContext&) { deleted = true; }, cpu_, a);
  EXPECT_EQ(engine_->WaitForAll().code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(deleted.load());
}

}  // namespace
}  // namespace mxgrid::engine
