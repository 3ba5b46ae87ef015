#include "libs/kvstore/job.h"

#include <memory>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/kvstore/job_table.h"

namespace mxgrid::kvstore {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using tensor::NDArray;

NDArray Floats(std::vector<float> values) {
  return *NDArray::FromVector<float>({static_cast<int64_t>(values.size())}, values);
}

std::vector<float> PullNow(Job& job, const KeyId& id, int rank) {
  absl::StatusOr<NDArray> out = job.Pull(id, rank, std::nullopt, {});
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out->ToVector<float>() : std::vector<float>{};
}

template <typename T>
T Value(absl::StatusOr<T> s) {
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : T{};
}

WaitOptions Within(absl::Duration d) { return {absl::Now() + d, nullptr}; }

std::unique_ptr<Job> JoinedJob(int n, bool sync = true, int max_ahead = 4,
                               absl::Duration heartbeat = absl::Seconds(30)) {
  auto job = std::make_unique<Job>(
      "j", JobOptions{.num_workers = n, .sync = sync, .heartbeat_timeout = heartbeat,
                      .max_rounds_ahead = max_ahead});
  for (int r = 0; r < n; ++r) EXPECT_TRUE(job->Join(r).ok());
  return job;
}

const KeyId kKey{"3", 0};

TEST(JobTest, RankZerosInitIsStoredOthersAreCheckedAndIgnored) {
  auto job = JoinedJob(2);
  // Rank 1 first: nothing to check yet, nothing stored.
  EXPECT_EQ(Value(job->Init(kKey, 1, 3, Floats({9, 9}))), false);
  EXPECT_EQ(job->Pull(kKey, 0, std::nullopt, {}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Value(job->Init(kKey, 0, 3, Floats({1, 2}))), false);
  EXPECT_EQ(Value(job->Init(kKey, 1, 3, Floats({7, 7}))), false);
  EXPECT_EQ(job->Init(kKey, 1, 3, Floats({7, 7, 7})).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(job->Init(kKey, 1, 4, Floats({7, 7})).status().code(),
            absl::StatusCode::kInvalidArgument);  // another optimizer index
  EXPECT_EQ(job->Init(kKey, 0, 3, Floats({1, 2})).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(PullNow(*job, kKey, 1), ElementsAre(1, 2));
  // Parts of one key are separate arrays; string keys are refused in an int-key job.
  EXPECT_TRUE(job->Init({"3", 1}, 0, 3, Floats({5})).ok());
  EXPECT_THAT(PullNow(*job, {"3", 1}, 0), ElementsAre(5));
  absl::Status mixed = job->Init({"w", 0}, 0, 0, Floats({1})).status();
  EXPECT_EQ(mixed.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(mixed.message(), HasSubstr("Mixed key types"));
  EXPECT_THAT(job->Info().keys, ElementsAre("3"));
}

TEST(JobTest, CallsOfRanksNotJoinedOrOutOfRangeAreRefused) {
  Job job("j", {.num_workers = 2});
  EXPECT_EQ(job.Init(kKey, 0, 0, Floats({1})).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(job.Join(2).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(job.Join(-1).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(job.Join(0).ok());
  EXPECT_EQ(job.Heartbeat(1).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Value(job.Heartbeat(0)), 1);
  ASSERT_TRUE(job.Leave(0).ok());
  EXPECT_EQ(job.Heartbeat(0).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(job.Leave(5).code(), absl::StatusCode::kInvalidArgument);
}

TEST(JobTest, SyncRoundWaitsForEveryRankAndPullsSeeTheSum) {
  auto job = JoinedJob(3);
  ASSERT_TRUE(job->Init(kKey, 0, 3, Floats({0, 0})).ok());
  ASSERT_TRUE(job->Push(kKey, 0, {Floats({1, 1})}, {}).ok());
  ASSERT_TRUE(job->Push(kKey, 1, {Floats({2, 2}), Floats({3, 3})}, {}).ok());
  EXPECT_EQ(job->Pull(kKey, 0, std::nullopt, Within(absl::Milliseconds(50))).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  std::vector<float> got;
  std::thread waiter([&] { got = PullNow(*job, kKey, 1); });
  ASSERT_TRUE(job->Push(kKey, 2, {Floats({4, 4})}, {}).ok());
  waiter.join();
  EXPECT_THAT(got, ElementsAre(10, 10));
  absl::StatusOr<NDArray> f64 = job->Pull(kKey, 0, DType::kFloat64, {});
  ASSERT_TRUE(f64.ok());
  EXPECT_EQ(f64->dtype(), DType::kFloat64);
  EXPECT_EQ(job->Round(), 1);
}

TEST(JobTest, BeginPullFixesTheRoundAndLaterPushesDoNotMoveIt) {
  auto job = JoinedJob(2);
  ASSERT_TRUE(job->Init(kKey, 0, 3, Floats({0, 0})).ok());
  // Nothing pushed yet: the ticket needs no round and later pushes do not make it wait.
  absl::StatusOr<Job::PullTicket> early = job->BeginPull(kKey, 0, std::nullopt);
  ASSERT_TRUE(early.ok()) << early.status();
  ASSERT_TRUE(job->Push(kKey, 0, {Floats({1, 1})}, {}).ok());
  absl::StatusOr<Job::PullTicket> late = job->BeginPull(kKey, 0, std::nullopt);
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(late->target_rounds, 1);
  absl::StatusOr<NDArray> now = job->FinishPull(*early, Within(absl::Milliseconds(50)));
  ASSERT_TRUE(now.ok()) << now.status();
  EXPECT_EQ(job->FinishPull(*late, Within(absl::Milliseconds(50))).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(job->Push(kKey, 1, {Floats({2, 2})}, {}).ok());
  absl::StatusOr<NDArray> summed = job->FinishPull(*late, {});
  ASSERT_TRUE(summed.ok());
  EXPECT_THAT(*summed->ToVector<float>(), ElementsAre(3, 3));
  EXPECT_EQ(job->BeginPull({"nope", 0}, 0, std::nullopt).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(JobTest, CancelledWaitEndsCancelled) {
  auto job = JoinedJob(2);
  ASSERT_TRUE(job->Init(kKey, 0, 3, Floats({0})).ok());
  ASSERT_TRUE(job->Push(kKey, 0, {Floats({1})}, {}).ok());
  const absl::Time start = absl::Now();
  WaitOptions wait;
  wait.cancelled = [start] { return absl::Now() - start > absl::Milliseconds(150); };
  EXPECT_EQ(job->Pull(kKey, 0, std::nullopt, wait).status().code(),
            absl::StatusCode::kCancelled);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST(JobTest, LeaveCompletesRoundsAndBarriersAlreadyWaiting) {
  auto job = JoinedJob(3);
  ASSERT_TRUE(job->Init(kKey, 0, 3, Floats({0})).ok());
  ASSERT_TRUE(job->Push(kKey, 0, {Floats({1})}, {}).ok());
  ASSERT_TRUE(job->Push(kKey, 1, {Floats({2})}, {}).ok());
  std::vector<float> got;
  absl::Status barrier0, barrier1;
  std::thread pull([&] { got = PullNow(*job, kKey, 0); });
  std::thread b0([&] { barrier0 = job->Barrier(0, Within(absl::Seconds(30))); });
  std::thread b1([&] { barrier1 = job->Barrier(1, Within(absl::Seconds(30))); });
  absl::SleepFor(absl::Milliseconds(100));  // the waits are in place (not needed for success)
  ASSERT_TRUE(job->Leave(2).ok());
  pull.join();
  b0.join();
  b1.join();
  EXPECT_THAT(got, ElementsAre(3));
  EXPECT_TRUE(barrier0.ok()) << barrier0;
  EXPECT_TRUE(barrier1.ok()) << barrier1;
  // Rounds go on with two ranks; the rank that left joins again and counts again.
  ASSERT_TRUE(job->Push(kKey, 0, {Floats({1})}, {}).ok());
  ASSERT_TRUE(job->Push(kKey, 1, {Floats({1})}, {}).ok());
  EXPECT_THAT(PullNow(*job, kKey, 0), ElementsAre(2));
  ASSERT_TRUE(job->Join(2).ok());
  ASSERT_TRUE(job->Push(kKey, 0, {Floats({1})}, {}).ok());
  ASSERT_TRUE(job->Push(kKey, 1, {Floats({1})}, {}).ok());
  EXPECT_EQ(job->Pull(kKey, 0, std::nullopt, Within(absl::Milliseconds(50))).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(job->Push(kKey, 2, {Floats({1})}, {}).ok());
  EXPECT_THAT(PullNow(*job, kKey, 0), ElementsAre(3));
  const JobInfo info = job->Info();
  EXPECT_THAT(info.active_ranks, ElementsAre(0, 1, 2));
  EXPECT_EQ(info.round, 3);
}

TEST(JobTest, NthBarrierCallsFormBarrierN) {
  auto job = JoinedJob(2);
  absl::Status first, second;
  std::thread rank0([&] {
    first = job->Barrier(0, Within(absl::Seconds(30)));
    second = job->Barrier(0, Within(absl::Seconds(30)));
  });
  ASSERT_TRUE(job->Barrier(1, Within(absl::Seconds(30))).ok());
  ASSERT_TRUE(job->Barrier(1, Within(absl::Seconds(30))).ok());
  rank0.join();
  EXPECT_TRUE(first.ok());
  EXPECT_TRUE(second.ok());
  EXPECT_EQ(job->Barrier(0, Within(absl::Milliseconds(50))).code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST(JobTest, AsyncPushesApplyAtOnce) {
  auto job = JoinedJob(2, /*sync=*/false);
  ASSERT_TRUE(job->Init(kKey, 0, 3, Floats({0})).ok());
  ASSERT_TRUE(job->SetOptimizer(1, "sgd", {{"learning_rate", "1"}}).ok());
  ASSERT_TRUE(job->Push(kKey, 1, {Floats({1}), Floats({2})}, {}).ok());
  EXPECT_THAT(PullNow(*job, kKey, 0), ElementsAre(-3));
  ASSERT_TRUE(job->Push(kKey, 0, {Floats({1})}, {}).ok());
  EXPECT_THAT(PullNow(*job, kKey, 1), ElementsAre(-4));
}

// Part [4, 10) of a key of rows of 3 elements: row 1 (3..5) is split, rows 2, 3 (9..11) too.
RowsSpec Rows(std::vector<int64_t> ids) { return {std::move(ids), 3, 4}; }

TEST(JobTest, RowPushesSumOverTheUnionOfRowsAndOverwriteWithoutOptimizer) {
  auto job = JoinedJob(2);
  ASSERT_TRUE(job->Init(kKey, 0, 3, Floats({1, 1, 1, 1, 1, 1})).ok());
  // Rank 0: rows 1 (piece: element 4, 5 -> offsets 0, 1) and 2 (offsets 2..4).
  ASSERT_TRUE(job->PushRows(kKey, 0, Rows({1, 2}), Floats({1, 2, 3, 4, 5}), {}).ok());
  // Rank 1: rows 2 and 3 (element 9 -> offset 5).
  ASSERT_TRUE(job->PushRows(kKey, 1, Rows({2, 3}), Floats({10, 10, 10, 7}), {}).ok());
  EXPECT_THAT(PullNow(*job, kKey, 0), ElementsAre(1, 2, 13, 14, 15, 7));
  absl::StatusOr<NDArray> rows = job->PullRows(kKey, 1, Rows({1, 3}), DType::kFloat64, {});
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->dtype(), DType::kFloat64);
  EXPECT_THAT(*rows->ToVector<float>(), ElementsAre(1, 2, 7));

  // A round with a dense push and an empty row push: the rows are added densely.
  ASSERT_TRUE(job->Push(kKey, 0, {Floats({1, 1, 1, 1, 1, 1})}, {}).ok());
  ASSERT_TRUE(job->PushRows(kKey, 1, Rows({}), Floats({}), {}).ok());
  EXPECT_THAT(PullNow(*job, kKey, 1), ElementsAre(1, 1, 1, 1, 1, 1));
  ASSERT_TRUE(job->PushRows(kKey, 0, Rows({3}), Floats({5}), {}).ok());
  ASSERT_TRUE(job->Push(kKey, 1, {Floats({1, 1, 1, 1, 1, 1})}, {}).ok());
  EXPECT_THAT(PullNow(*job, kKey, 1), ElementsAre(1, 1, 1, 1, 1, 6));
  EXPECT_EQ(job->BytesInUse(), 6 * 4);  // the value (the kept accumulator is not counted)
}

TEST(JobTest, RowPushesUpdateOnlyTheirPiecesThroughTheOptimizer) {
  auto job = JoinedJob(1);
  ASSERT_TRUE(job->SetOptimizer(0, "sgd", {{"learning_rate", "0.5"}, {"wd", "0.1"}}).ok());
  ASSERT_TRUE(job->Init(kKey, 0, 3, Floats({1, 1, 1, 1, 1, 1})).ok());
  ASSERT_TRUE(job->PushRows(kKey, 0, Rows({1, 3}), Floats({2, 2, 4}), {}).ok());
  // w - lr * (g + wd * w) on the pieces; the rest (row 2) untouched: lazy sgd.
  const float a = 1 - 0.5f * (2 + 0.1f), b = 1 - 0.5f * (4 + 0.1f);
  std::vector<float> got = PullNow(*job, kKey, 0);
  ASSERT_EQ(got.size(), 6u);
  EXPECT_NEAR(got[0], a, 1e-6);
  EXPECT_NEAR(got[1], a, 1e-6);
  EXPECT_THAT(std::vector<float>(got.begin() + 2, got.begin() + 5), ElementsAre(1, 1, 1));
  EXPECT_NEAR(got[5], b, 1e-6);
}

TEST(JobTest, AsyncRowPushesApplyAtOnce) {
  auto job = JoinedJob(2, /*sync=*/false);
  ASSERT_TRUE(job->Init(kKey, 0, 3, Floats({1, 1, 1, 1, 1, 1})).ok());
  ASSERT_TRUE(job->PushRows(kKey, 1, Rows({2}), Floats({4, 5, 6}), {}).ok());
  EXPECT_THAT(PullNow(*job, kKey, 0), ElementsAre(0, 0, 4, 5, 6, 0));
}

TEST(JobTest, BadRowPushesAndPullsAreRefusedAndChangeNothing) {
  auto job = JoinedJob(1);
  ASSERT_TRUE(job->Init(kKey, 0, 3, Floats({1, 1, 1, 1, 1, 1})).ok());
  auto code = [](const absl::Status& s) { return s.code(); };
  EXPECT_EQ(code(job->PushRows(kKey, 0, Rows({2, 1}), Floats({1, 1, 1, 1, 1}), {})),
            absl::StatusCode::kInvalidArgument);  // not increasing
  EXPECT_EQ(code(job->PushRows(kKey, 0, Rows({0}), Floats({1, 1, 1}), {})),
            absl::StatusCode::kInvalidArgument);  // row 0 (0..2) is not in [4, 10)
  EXPECT_EQ(code(job->PushRows(kKey, 0, Rows({2}), Floats({1, 1}), {})),
            absl::StatusCode::kInvalidArgument);  // 2 values for a piece of 3
  EXPECT_EQ(code(job->PushRows(kKey, 0, {{1}, 0, 4}, Floats({1, 1}), {})),
            absl::StatusCode::kInvalidArgument);  // row_length 0
  EXPECT_EQ(code(job->PushRows(KeyId{"9", 0}, 0, Rows({2}), Floats({1, 1, 1}), {})),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(code(job->PullRows(kKey, 0, Rows({7}), std::nullopt, {}).status()),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(PullNow(*job, kKey, 0), ElementsAre(1, 1, 1, 1, 1, 1));
  EXPECT_EQ(job->Round(), 0);
}

TEST(JobTest, SetOptimizerKeepsAnEqualConfigAndReplacesAnother) {
  auto job = JoinedJob(1);
  ASSERT_TRUE(job->Init(kKey, 0, 3, Floats({0})).ok());
  const std::map<std::string, std::string> mom = {{"learning_rate", "1"}, {"momentum", "0.5"}};
  ASSERT_TRUE(job->SetOptimizer(0, "sgd", mom).ok());
  ASSERT_TRUE(job->Push(kKey, 0, {Floats({1})}, {}).ok());  // mom -1, w -1
  ASSERT_TRUE(job->SetOptimizer(0, "sgd", mom).ok());       // kept: mom stays
  ASSERT_TRUE(job->Push(kKey, 0, {Floats({0})}, {}).ok());  // mom -0.5, w -1.5
  EXPECT_THAT(PullNow(*job, kKey, 0), ElementsAre(-1.5f));
  ASSERT_TRUE(job->SetOptimizer(0, "sgd", {{"learning_rate", "1"}, {"momentum", "0.9"}}).ok());
  ASSERT_TRUE(job->Push(kKey, 0, {Floats({0})}, {}).ok());  // fresh mom 0: w unchanged
  EXPECT_THAT(PullNow(*job, kKey, 0), ElementsAre(-1.5f));
  absl::StatusOr<std::vector<Job::KeyOptimizerState>> states = job->GetOptimizerStates();
  ASSERT_TRUE(states.ok());
  ASSERT_EQ(states->size(), 1u);
  EXPECT_EQ((*states)[0].index, 3);
  EXPECT_EQ((*states)[0].state.update_count, 1);
  EXPECT_EQ(job->SetOptimizer(0, "sgd", {{"momentum", "2"}}).code(),
            absl::StatusCode::kInvalidArgument);
}

// Multipliers by key: applied to keys already there and to keys initialized later; the same
// optimizer with other multipliers keeps its state; a bad multiplier is refused.
TEST(JobTest, SetOptimizerAppliesKeyMultipliers) {
  auto job = JoinedJob(1);
  ASSERT_TRUE(job->Init({"w", 0}, 0, 0, Floats({1})).ok());
  const std::map<std::string, std::string> sgd = {
      {"learning_rate", "1"}, {"wd", "0.5"}, {"momentum", "0.5"}};
  const KeyMultipliers mults{{{"w", 2.0}}, {{"b", 0.0}}};
  ASSERT_TRUE(job->SetOptimizer(0, "sgd", sgd, mults).ok());
  ASSERT_TRUE(job->Init({"b", 0}, 0, 1, Floats({1})).ok());
  ASSERT_TRUE(job->Push({"w", 0}, 0, {Floats({1})}, {}).ok());
  ASSERT_TRUE(job->Push({"b", 0}, 0, {Floats({1})}, {}).ok());
  // w: lr 2, wd 0.5: mom = -2 * (1 + 0.5 * 1) = -3, w = -2. b: lr 1, wd 0: b = 0.
  EXPECT_THAT(PullNow(*job, {"w", 0}, 0), ElementsAre(-2));
  EXPECT_THAT(PullNow(*job, {"b", 0}, 0), ElementsAre(0));
  // Without multipliers now; the momentum is kept: mom = 0.5 * -3 - (0 + 0.5 * -2) = -0.5.
  ASSERT_TRUE(job->SetOptimizer(0, "sgd", sgd).ok());
  ASSERT_TRUE(job->Push({"w", 0}, 0, {Floats({0})}, {}).ok());
  EXPECT_THAT(PullNow(*job, {"w", 0}, 0), ElementsAre(-2.5f));
  EXPECT_EQ(job->SetOptimizer(0, "sgd", sgd, KeyMultipliers{{{"w", -1.0}}, {}}).code(),
            absl::StatusCode::kInvalidArgument);
}

// The bound: a rank max_rounds_ahead rounds ahead waits, then fails for itself alone; memory
// stays bounded however often it tries; the slow rank's rounds and pulls work throughout.
TEST(JobTest, RankFarAheadIsRefusedAndMemoryStaysBounded) {
  auto job = JoinedJob(2, /*sync=*/true, /*max_ahead=*/4);
  ASSERT_TRUE(job->Init(kKey, 0, 3, Floats(std::vector<float>(1024, 0.f))).ok());
  const NDArray one = Floats(std::vector<float>(1024, 1.f));
  int refused = 0;
  for (int i = 0; i < 300; ++i) {
    absl::Status s = job->Push(kKey, 1, {one}, Within(absl::ZeroDuration()));
    if (s.ok()) continue;
    ++refused;
    ASSERT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
    EXPECT_THAT(s.message(), HasSubstr("rank 1"));
    EXPECT_THAT(s.message(), HasSubstr("'3'"));
    EXPECT_THAT(s.message(), HasSubstr("--max_rounds_ahead = 4"));
  }
  EXPECT_EQ(refused, 296);
  EXPECT_LE(job->BytesInUse(), 5 * 4096);  // the value and four pending rounds
  // Rank 0 catches up round by round.
  ASSERT_TRUE(job->Push(kKey, 0, {one}, {}).ok());
  EXPECT_EQ(PullNow(*job, kKey, 0)[0], 2.f);
  // A waiting push proceeds once the slow rank pushes.
  absl::Status waited;
  std::thread ahead([&] { waited = job->Push(kKey, 1, {one}, Within(absl::Seconds(30))); });
  ASSERT_TRUE(job->Push(kKey, 0, {one}, {}).ok());
  ahead.join();
  EXPECT_TRUE(waited.ok()) << waited;
}

TEST(JobTest, SilentRankAbortsTheJobAndEveryWait) {
  auto job = JoinedJob(2, true, 4, absl::Milliseconds(300));
  ASSERT_TRUE(job->Init(kKey, 0, 3, Floats({0})).ok());
  ASSERT_TRUE(job->Push(kKey, 0, {Floats({1})}, {}).ok());
  const absl::Time start = absl::Now();
  // Rank 0 waits (its waiting keeps it alive); rank 1 is silent.
  absl::Status s = job->Pull(kKey, 0, std::nullopt, Within(absl::Seconds(30))).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
  EXPECT_THAT(s.message(), HasSubstr("rank 1"));
  EXPECT_THAT(s.message(), HasSubstr("sent nothing for"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_EQ(job->Join(1).code(), absl::StatusCode::kAborted);
  EXPECT_EQ(job->Push(kKey, 0, {Floats({1})}, {}).code(), absl::StatusCode::kAborted);
  EXPECT_EQ(job->Barrier(0, {}).code(), absl::StatusCode::kAborted);
  EXPECT_EQ(job->Info().dead_rank, 1);
}

TEST(JobTest, LeftRanksAreNeverDead) {
  auto job = JoinedJob(2, true, 4, absl::Milliseconds(200));
  ASSERT_TRUE(job->Leave(1).ok());
  for (int i = 0; i < 4; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    ASSERT_TRUE(job->Heartbeat(0).ok());
  }
  EXPECT_FALSE(job->CheckLiveness(absl::Now()));
  EXPECT_TRUE(job->CheckLiveness(absl::Now() + absl::Seconds(1)));  // rank 0 now silent
}

TEST(JobTest, RankInsideALongCallIsNotSilent) {
  auto job = JoinedJob(2, true, 4, absl::Milliseconds(200));
  {
    Job::BusyScope busy(job.get(), 1);  // e.g. rank 1 uploading a large value
    Job::BusyScope ignored(job.get(), 9);
    for (int i = 0; i < 5; ++i) {
      absl::SleepFor(absl::Milliseconds(100));
      ASSERT_TRUE(job->Heartbeat(0).ok());
    }
  }
  ASSERT_TRUE(job->Heartbeat(0).ok());  // the call just ended: rank 1 was seen then
  EXPECT_TRUE(job->CheckLiveness(absl::Now() + absl::Seconds(1)));
}

TEST(JobTest, CaptureAndRestoreKeepValuesRoundsAndOptimizerState) {
  auto job = JoinedJob(2);
  ASSERT_TRUE(job->Init(kKey, 0, 3, Floats({1, 1})).ok());
  ASSERT_TRUE(job->SetOptimizer(0, "adam", {{"learning_rate", "0.1"}}).ok());
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(job->Push(kKey, 0, {Floats({0.5f, -1})}, {}).ok());
    ASSERT_TRUE(job->Push(kKey, 1, {Floats({0.5f, -1})}, {}).ok());
  }
  absl::StatusOr<JobSnapshot> snap = job->Capture();
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(snap->Round(), 3);
  absl::StatusOr<std::unique_ptr<Job>> back = Job::Restore(*snap, job->options());
  ASSERT_TRUE(back.ok()) << back.status();
  Job& restored = **back;
  EXPECT_EQ(restored.Info().restored_round, 3);
  EXPECT_EQ(restored.Info().restored_keys, 1);
  ASSERT_TRUE(restored.Join(0).ok());
  ASSERT_TRUE(restored.Join(1).ok());
  EXPECT_EQ(Value(restored.Init(kKey, 0, 3, Floats({7, 7}))), true);
  EXPECT_EQ(Value(restored.Init(kKey, 1, 3, Floats({7, 7}))), true);
  EXPECT_EQ(PullNow(restored, kKey, 0), PullNow(*job, kKey, 0));
  // One more round on both: identical (the adam state and counts came along).
  for (Job* j : {job.get(), &restored}) {
    ASSERT_TRUE(j->Push(kKey, 0, {Floats({0.25f, 1})}, {}).ok());
    ASSERT_TRUE(j->Push(kKey, 1, {Floats({0.25f, 1})}, {}).ok());
  }
  EXPECT_EQ(PullNow(restored, kKey, 1), PullNow(*job, kKey, 1));
  EXPECT_EQ(restored.Round(), 4);
}

TEST(JobTableTest, FirstJoinCreatesLaterJoinsMustAgree) {
  JobTable table({.num_workers = 2, .sync = true});
  EXPECT_EQ(table.Join({.job = ""}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(table.Join({.job = "a", .rank = 2}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(table.Join({.job = "a", .heartbeat_timeout = absl::Seconds(-1)}).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::shared_ptr<Job>> a =
      table.Join({.job = "a", .rank = 0, .num_workers = 3, .sync = false});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ((*a)->options().num_workers, 3);
  EXPECT_FALSE((*a)->options().sync);
  EXPECT_TRUE(table.Join({.job = "a", .rank = 2}).ok());  // defaults: whatever the job has
  EXPECT_EQ(table.Join({.job = "a", .rank = 1, .num_workers = 2}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(table.Join({.job = "a", .rank = 1, .sync = true}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(table.Join({.job = "b", .rank = 1}).ok());
  EXPECT_THAT(table.Names(), ElementsAre("a", "b"));
  EXPECT_EQ(table.Find("c").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(table.NumJobs(), 2);
}

// A job is removed `retention` after its last rank left (or it aborted), not before, not
// while a rank is joined or has not joined; a caller holding it keeps a working job; the name
// then starts a new job.
TEST(JobTableTest, RemovesFinishedJobsAfterTheirRetention) {
  JobTable table({.num_workers = 2, .sync = true});
  absl::StatusOr<std::shared_ptr<Job>> done = table.Join({.job = "done", .rank = 0});
  ASSERT_TRUE(done.ok());
  ASSERT_TRUE(table.Join({.job = "done", .rank = 1}).ok());
  ASSERT_TRUE((*done)->Init(kKey, 0, 3, Floats({7})).ok());
  ASSERT_TRUE(table.Join({.job = "half", .rank = 0}).ok());  // rank 1 never joined
  ASSERT_TRUE((*table.Find("half"))->Leave(0).ok());
  ASSERT_TRUE((*done)->Leave(0).ok());
  EXPECT_FALSE((*done)->FinishedSince().has_value());  // rank 1 still joined
  ASSERT_TRUE((*done)->Leave(1).ok());
  ASSERT_TRUE((*done)->FinishedSince().has_value());
  const absl::Time finished = *(*done)->FinishedSince();
  EXPECT_TRUE(table.RemoveFinished(finished + absl::Seconds(59), absl::Seconds(60)).empty());
  EXPECT_THAT(table.RemoveFinished(finished + absl::Seconds(60), absl::Seconds(60)),
              ElementsAre("done"));
  EXPECT_THAT(table.Names(), ElementsAre("half"));
  EXPECT_EQ(table.Find("done").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ((*done)->Info().keys.size(), 1u);  // still usable by its holder
  absl::StatusOr<std::shared_ptr<Job>> again = table.Join({.job = "done", .rank = 0});
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->get(), done->get());
  EXPECT_TRUE((*again)->Info().keys.empty());
  // A rank that rejoins before the retention runs its job again.
  ASSERT_TRUE((*again)->Leave(0).ok());
  ASSERT_TRUE(table.Join({.job = "done", .rank = 1}).ok());
  ASSERT_TRUE((*again)->Leave(1).ok());
  ASSERT_TRUE(table.Join({.job = "done", .rank = 1}).ok());
  EXPECT_FALSE((*again)->FinishedSince().has_value());
  EXPECT_TRUE(table.RemoveFinished(absl::InfiniteFuture(), absl::Seconds(1)).empty());
}

TEST(JobTableTest, RemovesAnAbortedJobAfterItsRetention) {
  JobTable table({.num_workers = 2, .sync = true, .heartbeat_timeout = absl::Seconds(1)});
  absl::StatusOr<std::shared_ptr<Job>> job = table.Join({.job = "j", .rank = 0});
  ASSERT_TRUE(job.ok());
  const absl::Time later = absl::Now() + absl::Seconds(5);
  EXPECT_THAT(table.CheckLiveness(later), ElementsAre("j"));  // rank 1 never joined
  EXPECT_EQ((*job)->FinishedSince(), later);
  EXPECT_THAT(table.RemoveFinished(later, absl::ZeroDuration()), ElementsAre("j"));
}

}  // namespace
}  // namespace mxgrid::kvstore
