#include "libs/kvstore/snapshot.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/kvstore/job.h"
#include "libs/kvstore/job_table.h"
#include "libs/kvstore/snapshot_dir.h"

namespace mxgrid::kvstore {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using tensor::NDArray;

NDArray Floats(std::vector<float> values) {
  return *NDArray::FromVector<float>({static_cast<int64_t>(values.size())}, values);
}

std::vector<float> Pull(Job& job, const KeyId& id, int rank) {
  absl::StatusOr<NDArray> out = job.Pull(id, rank, std::nullopt, {});
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out->ToVector<float>() : std::vector<float>{};
}

// Two jobs: "mom" (sgd with momentum, int keys, one split into two parts) and "adam" (string
// keys), each trained a few rounds by two ranks.
std::vector<JobSnapshot> TrainedJobs(std::vector<std::unique_ptr<Job>>* jobs) {
  jobs->push_back(std::make_unique<Job>("mom", JobOptions{.num_workers = 2}));
  jobs->push_back(std::make_unique<Job>(
      "adam", JobOptions{.num_workers = 2, .heartbeat_timeout = absl::Seconds(7)}));
  Job& mom = *(*jobs)[0];
  Job& adam = *(*jobs)[1];
  for (Job* job : {&mom, &adam}) {
    EXPECT_TRUE(job->Join(0).ok());
    EXPECT_TRUE(job->Join(1).ok());
  }
  EXPECT_TRUE(mom.Init({"3", 0}, 0, 3, Floats({1, 2})).ok());
  EXPECT_TRUE(mom.Init({"3", 1}, 0, 3, Floats({3})).ok());
  EXPECT_TRUE(mom.SetOptimizer(0, "sgd", {{"learning_rate", "0.1"}, {"momentum", "0.9"}}).ok());
  EXPECT_TRUE(adam.Init({"w", 0}, 0, 0, Floats({1, -1, 0.5f})).ok());
  EXPECT_TRUE(adam.Init({"b", 0}, 0, 1, Floats({0})).ok());
  EXPECT_TRUE(adam.SetOptimizer(0, "adam", {{"learning_rate", "0.01"}},
                                KeyMultipliers{{{"w", 2.0}, {"b", 0.5}}, {{"b", 0.0}}})
                  .ok());
  for (int round = 0; round < 3; ++round) {
    for (int rank = 0; rank < 2; ++rank) {
      const float g = static_cast<float>(round + rank + 1);
      EXPECT_TRUE(mom.Push({"3", 0}, rank, {Floats({g, -g})}, {}).ok());
      EXPECT_TRUE(mom.Push({"3", 1}, rank, {Floats({g})}, {}).ok());
      EXPECT_TRUE(adam.Push({"w", 0}, rank, {Floats({g, 1, -g})}, {}).ok());
      if (round < 2) {
        EXPECT_TRUE(adam.Push({"b", 0}, rank, {Floats({g})}, {}).ok());
      }
    }
  }
  std::vector<JobSnapshot> snaps;
  for (const auto& job : *jobs) {
    absl::StatusOr<JobSnapshot> snap = job->Capture();
    EXPECT_TRUE(snap.ok()) << snap.status();
    snaps.push_back(*std::move(snap));
  }
  return snaps;
}

std::string TempDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string dir = absl::StrCat(base ? base : "/tmp", "/", name);
  std::string cmd = absl::StrCat("rm -rf '", dir, "'");
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  return dir;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

TEST(SnapshotTest, Crc32cKnownValue) {
  EXPECT_EQ(Crc32c(0, "123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(Crc32c(0, "1234"), "56789"), 0xE3069283u);
}

// Encode, decode, restore: the restored jobs continue exactly as the originals.
TEST(SnapshotTest, RoundTripWithSgdMomentumAndAdamState) {
  std::vector<std::unique_ptr<Job>> jobs;
  std::vector<JobSnapshot> snaps = TrainedJobs(&jobs);
  StringSink sink;
  absl::StatusOr<int64_t> bytes = WriteSnapshot(snaps, &sink);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(*bytes, static_cast<int64_t>(sink.out.size()));
  absl::StatusOr<std::vector<JobSnapshot>> back = ReadSnapshot(sink.out);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), 2u);
  const JobSnapshot& adam = (*back)[1];
  EXPECT_EQ(adam.name, "adam");
  EXPECT_EQ(adam.heartbeat_timeout_ms, 7000);
  EXPECT_EQ(adam.optimizer_name, "adam");
  EXPECT_THAT(adam.optimizer_params, ElementsAre(::testing::Pair("learning_rate", "0.01")));
  EXPECT_EQ(adam.optimizer_mults, (KeyMultipliers{{{"w", 2.0}, {"b", 0.5}}, {{"b", 0.0}}}));
  EXPECT_TRUE((*back)[0].optimizer_mults.empty());
  ASSERT_EQ(adam.keys.size(), 2u);
  EXPECT_EQ(adam.keys[0].key, "w");
  EXPECT_EQ(adam.keys[1].applied_rounds, 2);
  EXPECT_EQ(adam.Round(), 2);
  ASSERT_EQ(adam.optimizer_states.size(), 2u);
  EXPECT_EQ(adam.optimizer_states[0].update_count, 3);
  EXPECT_EQ(adam.optimizer_states[0].arrays.size(), 2u);

  JobTable table({.num_workers = 2});
  ASSERT_TRUE(table.Restore(*back).ok());
  EXPECT_EQ(table.Restore(*back).code(), absl::StatusCode::kInvalidArgument);  // already here
  EXPECT_THAT(table.RestoredRounds(),
              ElementsAre(::testing::Pair("adam", 2), ::testing::Pair("mom", 3)));
  Job* restored[2] = {table.Find("mom")->get(), table.Find("adam")->get()};
  for (int j = 0; j < 2; ++j) {
    ASSERT_TRUE(restored[j]->Join(0).ok());
    ASSERT_TRUE(restored[j]->Join(1).ok());
  }
  for (Job* job : {jobs[0].get(), restored[0]}) {
    for (int rank = 0; rank < 2; ++rank) {
      ASSERT_TRUE(job->Push({"3", 0}, rank, {Floats({0.5f, 0.5f})}, {}).ok());
      ASSERT_TRUE(job->Push({"3", 1}, rank, {Floats({0.5f})}, {}).ok());
    }
  }
  for (Job* job : {jobs[1].get(), restored[1]}) {
    for (int rank = 0; rank < 2; ++rank) {
      ASSERT_TRUE(job->Push({"w", 0}, rank, {Floats({0.5f, 0.5f, 0.5f})}, {}).ok());
      ASSERT_TRUE(job->Push({"b", 0}, rank, {Floats({0.5f})}, {}).ok());
    }
  }
  EXPECT_EQ(Pull(*restored[0], {"3", 0}, 0), Pull(*jobs[0], {"3", 0}, 0));
  EXPECT_EQ(Pull(*restored[0], {"3", 1}, 1), Pull(*jobs[0], {"3", 1}, 1));
  EXPECT_EQ(Pull(*restored[1], {"w", 0}, 0), Pull(*jobs[1], {"w", 0}, 0));
  EXPECT_EQ(Pull(*restored[1], {"b", 0}, 0), Pull(*jobs[1], {"b", 0}, 0));
  EXPECT_EQ(restored[1]->options().heartbeat_timeout, absl::Seconds(7));
}

// Version 1 files (before the optimizer's multipliers) are still read; a job without an
// optimizer is encoded alike in both versions. An unknown version is DataLoss.
TEST(SnapshotTest, ReadsVersionOneAndRefusesUnknownVersions) {
  Job job("plain", JobOptions{.num_workers = 1});
  ASSERT_TRUE(job.Join(0).ok());
  ASSERT_TRUE(job.Init({"k", 0}, 0, 0, Floats({4, 5})).ok());
  absl::StatusOr<JobSnapshot> snap = job.Capture();
  ASSERT_TRUE(snap.ok()) << snap.status();
  StringSink sink;
  ASSERT_TRUE(WriteSnapshot({*snap}, &sink).ok());
  std::string bytes = sink.out;
  ASSERT_EQ(bytes[8], 2);  // u32 version after the 8-byte magic
  bytes[8] = 1;
  absl::StatusOr<std::vector<JobSnapshot>> back = ReadSnapshot(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), 1u);
  ASSERT_EQ((*back)[0].keys.size(), 1u);
  EXPECT_THAT(*(*back)[0].keys[0].value.ToVector<float>(), ElementsAre(4, 5));
  bytes[8] = 3;
  EXPECT_EQ(ReadSnapshot(bytes).status().code(), absl::StatusCode::kDataLoss);
}

TEST(SnapshotTest, EveryCorruptionIsDataLoss) {
  std::vector<std::unique_ptr<Job>> jobs;
  StringSink sink;
  ASSERT_TRUE(WriteSnapshot(TrainedJobs(&jobs), &sink).ok());
  const std::string good = sink.out;
  // Every truncation, and a flipped bit at many offsets.
  for (size_t n = 0; n < good.size(); n += 7) {
    absl::StatusOr<std::vector<JobSnapshot>> r = ReadSnapshot(good.substr(0, n));
    ASSERT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << "truncated to " << n;
  }
  for (size_t i = 0; i < good.size(); i += 5) {
    std::string bad = good;
    bad[i] ^= 0x10;
    ASSERT_EQ(ReadSnapshot(bad).status().code(), absl::StatusCode::kDataLoss) << "byte " << i;
  }
  EXPECT_THAT(ReadSnapshot(good + "x").status().message(), HasSubstr("truncated or padded"));
  std::string bad = good;
  bad[30] ^= 1;
  EXPECT_THAT(ReadSnapshot(bad).status().message(), HasSubstr("checksum"));
}

TEST(SnapshotDirTest, KeepsTheNewestTwoAndSkipsCorruptOnes) {
  const std::string dir = TempDir("snapdir");
  std::vector<std::unique_ptr<Job>> jobs;
  std::vector<JobSnapshot> snaps = TrainedJobs(&jobs);
  EXPECT_TRUE(LoadNewestSnapshot(dir).path.empty());  // no directory yet
  absl::StatusOr<SnapshotFile> first = WriteSnapshotFile(dir, {snaps[0]});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->path, dir + "/snapshot-1.mxkv");
  EXPECT_EQ(first->jobs, 1);
  absl::StatusOr<SnapshotFile> second = WriteSnapshotFile(dir, snaps);
  absl::StatusOr<SnapshotFile> third = WriteSnapshotFile(dir, snaps);
  ASSERT_TRUE(second.ok() && third.ok());
  EXPECT_EQ(third->path, dir + "/snapshot-3.mxkv");
  EXPECT_NE(access(first->path.c_str(), F_OK), 0) << "only the newest two are kept";
  EXPECT_EQ(access(second->path.c_str(), F_OK), 0);

  LoadedSnapshot loaded = LoadNewestSnapshot(dir);
  EXPECT_EQ(loaded.path, third->path);
  EXPECT_TRUE(loaded.skipped.empty());
  EXPECT_EQ(loaded.jobs.size(), 2u);

  // A flipped byte in the newest: the older good one is used, the reason reported.
  std::string bytes = ReadAll(third->path);
  bytes[bytes.size() / 2] ^= 0x01;
  WriteAll(third->path, bytes);
  loaded = LoadNewestSnapshot(dir);
  EXPECT_EQ(loaded.path, second->path);
  ASSERT_EQ(loaded.skipped.size(), 1u);
  EXPECT_THAT(loaded.skipped[0], HasSubstr("snapshot-3.mxkv"));
  EXPECT_THAT(loaded.skipped[0], HasSubstr("checksum"));

  // Truncated too: both skipped, nothing restored.
  bytes = ReadAll(second->path);
  WriteAll(second->path, bytes.substr(0, bytes.size() - 9));
  loaded = LoadNewestSnapshot(dir);
  EXPECT_TRUE(loaded.path.empty());
  ASSERT_EQ(loaded.skipped.size(), 2u);
  EXPECT_THAT(loaded.skipped[1], HasSubstr("truncated"));
  // A write after that goes on numbering (4), and is the one loaded.
  absl::StatusOr<SnapshotFile> fourth = WriteSnapshotFile(dir, snaps);
  ASSERT_TRUE(fourth.ok());
  EXPECT_EQ(LoadNewestSnapshot(dir).path, dir + "/snapshot-4.mxkv");
}

TEST(SnapshotterTest, SnapshotsByRoundsAndOnDemand) {
  const std::string dir = TempDir("snapshotter");
  JobTable table({.num_workers = 1});
  absl::StatusOr<std::shared_ptr<Job>> job = table.Join({.job = "j", .rank = 0});
  ASSERT_TRUE(job.ok());
  ASSERT_TRUE((*job)->Init({"0", 0}, 0, 0, Floats({0})).ok());
  Snapshotter snapshotter(&table, {.dir = dir,
                                   .every_rounds = 5,
                                   .interval = absl::ZeroDuration(),
                                   .poll = absl::Milliseconds(20)});
  absl::StatusOr<SnapshotFile> now = snapshotter.SnapshotNow();
  ASSERT_TRUE(now.ok()) << now.status();
  EXPECT_EQ(now->path, dir + "/snapshot-1.mxkv");
  for (int i = 0; i < 5; ++i) ASSERT_TRUE((*job)->Push({"0", 0}, 0, {Floats({1})}, {}).ok());
  // The policy thread writes snapshot 2 once the job is 5 rounds past snapshot 1.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (access((dir + "/snapshot-2.mxkv").c_str(), F_OK) != 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  LoadedSnapshot loaded = LoadNewestSnapshot(dir);
  EXPECT_EQ(loaded.path, dir + "/snapshot-2.mxkv");
  ASSERT_EQ(loaded.jobs.size(), 1u);
  EXPECT_EQ(loaded.jobs[0].Round(), 5);
  EXPECT_TRUE(snapshotter.last_error().ok());
}

TEST(SnapshotterTest, IntervalSnapshotsOnlyAfterChanges) {
  const std::string dir = TempDir("interval");
  JobTable table({.num_workers = 1});
  absl::StatusOr<std::shared_ptr<Job>> job = table.Join({.job = "j", .rank = 0});
  ASSERT_TRUE(job.ok());
  ASSERT_TRUE((*job)->Init({"0", 0}, 0, 0, Floats({0})).ok());
  Snapshotter snapshotter(&table, {.dir = dir,
                                   .every_rounds = 0,
                                   .interval = absl::Milliseconds(50),
                                   .poll = absl::Milliseconds(10)});
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (access((dir + "/snapshot-1.mxkv").c_str(), F_OK) != 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_EQ(access((dir + "/snapshot-1.mxkv").c_str(), F_OK), 0);
  absl::SleepFor(absl::Milliseconds(300));  // six intervals without a change: no new file
  EXPECT_NE(access((dir + "/snapshot-2.mxkv").c_str(), F_OK), 0);
  ASSERT_TRUE((*job)->Push({"0", 0}, 0, {Floats({1})}, {}).ok());
  while (access((dir + "/snapshot-2.mxkv").c_str(), F_OK) != 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(access((dir + "/snapshot-2.mxkv").c_str(), F_OK), 0);
}

TEST(SnapshotDirTest, UnwritableDirectoryIsAnError) {
  std::vector<std::unique_ptr<Job>> jobs;
  std::vector<JobSnapshot> snaps = TrainedJobs(&jobs);
  absl::StatusOr<SnapshotFile> f = WriteSnapshotFile("/proc/no/such/dir", snaps);
  EXPECT_FALSE(f.ok());
}

}  // namespace
}  // namespace mxgrid::kvstore
