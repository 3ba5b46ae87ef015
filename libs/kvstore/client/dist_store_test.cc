#include "libs/kvstore/client/dist_store.h"

#include <atomic>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "libs/base/mutex.h"

namespace mxgrid::kvstore::client {
namespace {

using tensor::NDArray;

// An in-memory shard with dist_sync semantics for float32 values (a test double of
// mxgrid-kvstore): rank 0's init is stored, the n-th pushes of all ranks form round n whose
// sum overwrites the value, a pull waits for the rounds its rank pushed to, barriers wait
// for every rank. Callbacks run on the calling thread or on the thread that completes them.
class FakeShard {
 public:
  explicit FakeShard(int num_workers) : num_workers_(num_workers) {}

  struct Value {
    std::vector<float> stored;
    std::vector<std::vector<float>> rounds;  // pending round sums
    std::vector<int> round_pushes;
    std::map<int, int64_t> pushed;           // by rank
    int64_t applied = 0;
    std::vector<std::pair<int64_t, std::function<void()>>> waiting_pulls;
  };

  void JoinJob(const Membership& m, std::function<void(absl::StatusOr<JobInfo>)> done) {
    {
      base::MutexLock lock(&mu_);
      ++joins_;
    }
    done(JobInfo{.num_workers = num_workers_, .mode = Mode::kSync,
                 .heartbeat_timeout = heartbeat_timeout});
  }

  absl::Status TakeInjected() {
    base::MutexLock lock(&mu_);
    if (unavailable_ > 0) {
      --unavailable_;
      return absl::UnavailableError("connection refused");
    }
    if (!fail_with_.ok()) return fail_with_;
    return absl::OkStatus();
  }

  void Init(const KeyRef& ref, const NDArray& value, Done done) {
    if (absl::Status s = TakeInjected(); !s.ok()) return done(s);
    {
      base::MutexLock lock(&mu_);
      const std::string id = Id(ref);
      if (ref.rank == 0) {
        Value& v = values_[id];
        const float* p = static_cast<const float*>(value.data());
        v.stored.assign(p, p + value.size());
      }
      ++inits_;
    }
    done(absl::OkStatus());
  }

  void Push(const KeyRef& ref, const NDArray& value, Done done) {
    if (absl::Status s = TakeInjected(); !s.ok()) return done(s);
    PushFloats(ref, static_cast<const float*>(value.data()), std::move(done));
  }

  // Adds the part's values `p` to the rank's next round.
  void PushFloats(const KeyRef& ref, const float* p, Done done) {
    std::vector<std::function<void()>> ready;
    {
      base::MutexLock lock(&mu_);
      ++pushes_;
      Value& v = values_[Id(ref)];
      const int64_t round = v.pushed[ref.rank]++;
      const size_t slot = static_cast<size_t>(round - v.applied);
      while (v.rounds.size() <= slot) {
        v.rounds.emplace_back(v.stored.size(), 0.0f);
        v.round_pushes.push_back(0);
      }
      for (size_t i = 0; i < v.stored.size(); ++i) v.rounds[slot][i] += p[i];
      ++v.round_pushes[slot];
      while (!v.rounds.empty() && v.round_pushes[0] == num_workers_) {
        v.stored = v.rounds.front();
        v.rounds.erase(v.rounds.begin());
        v.round_pushes.erase(v.round_pushes.begin());
        ++v.applied;
      }
      for (auto it = v.waiting_pulls.begin(); it != v.waiting_pulls.end();) {
        if (it->first <= v.applied) {
          ready.push_back(std::move(it->second));
          it = v.waiting_pulls.erase(it);
        } else {
          ++it;
        }
      }
    }
    done(absl::OkStatus());
    for (auto& fn : ready) fn();
  }

  void Pull(const KeyRef& ref, const NDArray& out, Done done) {
    if (absl::Status s = TakeInjected(); !s.ok()) return done(s);
    const std::string id = Id(ref);
    WhenApplied(ref, [this, id, out]() {
      base::MutexLock lock(&mu_);
      Value& v = values_[id];
      if (static_cast<int64_t>(v.stored.size()) != out.size()) {
        return absl::InvalidArgumentError("size");
      }
      std::memcpy(out.data(), v.stored.data(), v.stored.size() * sizeof(float));
      return absl::OkStatus();
    }, std::move(done));
  }

  // done(copy()) once the rounds ref's rank pushed to are applied (at once if they are).
  void WhenApplied(const KeyRef& ref, std::function<absl::Status()> copy, Done done) {
    bool now = false;
    {
      base::MutexLock lock(&mu_);
      Value& v = values_[Id(ref)];
      const int64_t want = v.pushed.count(ref.rank) ? v.pushed[ref.rank] : 0;
      if (want <= v.applied) {
        now = true;
      } else {
        v.waiting_pulls.emplace_back(want, [copy, done] { done(copy()); });
      }
    }
    if (now) done(copy());
  }

  // Rows as the real shard takes them without an optimizer: the round's sum of the pieces,
  // zero elsewhere (the pieces spread over a part-sized array, then Push).
  void PushRows(const KeyRef& ref, const PartRows& rows, const NDArray& value, Done done) {
    ++row_pushes;
    std::vector<float> dense(PartSize(ref), 0.0f);
    if (static_cast<int64_t>(dense.size()) != rows.size() || value.size() != rows.total()) {
      return done(absl::InvalidArgumentError("rows do not fit the part"));
    }
    const float* p = static_cast<const float*>(value.data());
    for (size_t j = 0; j < rows.ids().size(); ++j) {
      const RowPiece piece = rows.Piece(j);
      std::memcpy(dense.data() + piece.offset, p, piece.length * sizeof(float));
      p += piece.length;
    }
    // Called inside the store's engine operation: plain memory, no NDArray made here.
    PushFloats(ref, dense.data(), std::move(done));
  }

  // As Pull, copying only the pieces into `out`.
  void PullRows(const KeyRef& ref, const PartRows& rows, const NDArray& out, Done done) {
    if (absl::Status s = TakeInjected(); !s.ok()) return done(s);
    const std::string id = Id(ref);
    WhenApplied(ref, [this, id, rows, out]() {
      base::MutexLock lock(&mu_);
      const std::vector<float>& stored = values_[id].stored;
      if (out.size() != rows.total()) return absl::InvalidArgumentError("out size");
      float* o = static_cast<float*>(out.data());
      for (size_t j = 0; j < rows.ids().size(); ++j) {
        const RowPiece piece = rows.Piece(j);
        std::memcpy(o, stored.data() + piece.offset, piece.length * sizeof(float));
        o += piece.length;
      }
      return absl::OkStatus();
    }, std::move(done));
  }

  int64_t PartSize(const KeyRef& ref) {
    base::MutexLock lock(&mu_);
    return static_cast<int64_t>(values_[Id(ref)].stored.size());
  }

  void Barrier(Done done) {
    std::vector<Done> release;
    {
      base::MutexLock lock(&mu_);
      barrier_.push_back(std::move(done));
      if (static_cast<int>(barrier_.size()) == num_workers_) release.swap(barrier_);
    }
    for (Done& d : release) d(absl::OkStatus());
  }

  void Leave(int rank) {
    base::MutexLock lock(&mu_);
    left_.push_back(rank);
  }

  std::vector<float> Stored(const std::string& key, int part) {
    base::MutexLock lock(&mu_);
    return values_[absl::StrCat(key, "/", part)].stored;
  }
  bool Has(const std::string& key, int part) {
    base::MutexLock lock(&mu_);
    return values_.count(absl::StrCat(key, "/", part)) > 0;
  }
  void InjectUnavailable(int n) {
    base::MutexLock lock(&mu_);
    unavailable_ = n;
  }
  void FailWith(absl::Status s) {
    base::MutexLock lock(&mu_);
    fail_with_ = std::move(s);
  }
  int joins() {
    base::MutexLock lock(&mu_);
    return joins_;
  }
  std::vector<int> left() {
    base::MutexLock lock(&mu_);
    return left_;
  }
  std::vector<PartState> states;  // set by SetOptimizerStates (single-threaded tests)
  absl::Duration heartbeat_timeout = absl::Seconds(2);  // set before the ranks join
  std::atomic<int> heartbeats{0};
  std::atomic<int> push_pulls{0};
  std::atomic<int> row_pushes{0};
  // Hold and Release calls of the connections to this shard.
  std::atomic<int> holds{0};
  std::atomic<int> releases{0};

 private:
  static std::string Id(const KeyRef& ref) { return absl::StrCat(ref.key, "/", ref.part); }

  const int num_workers_;
  base::Mutex mu_;
  std::map<std::string, Value> values_ ABSL_GUARDED_BY(mu_);
  std::vector<Done> barrier_ ABSL_GUARDED_BY(mu_);
  std::vector<int> left_ ABSL_GUARDED_BY(mu_);
  int unavailable_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status fail_with_ ABSL_GUARDED_BY(mu_);
  int joins_ ABSL_GUARDED_BY(mu_) = 0;
  int inits_ ABSL_GUARDED_BY(mu_) = 0;
  int pushes_ ABSL_GUARDED_BY(mu_) = 0;
};

// One rank's connection to a FakeShard.
class FakeConnection : public ShardConnection {
 public:
  FakeConnection(std::shared_ptr<FakeShard> shard, std::string address)
      : shard_(std::move(shard)), address_(std::move(address)) {}
  const std::string& address() const override { return address_; }
  void JoinJob(const Membership& m, absl::Time,
               std::function<void(absl::StatusOr<JobInfo>)> done) override {
    shard_->JoinJob(m, std::move(done));
  }
  void Heartbeat(const std::string&, int, absl::Time, Done done) override {
    shard_->heartbeats++;
    done(absl::OkStatus());
  }
  void LeaveJob(const std::string&, int rank, absl::Time, Done done) override {
    shard_->Leave(rank);
    done(absl::OkStatus());
  }
  void Barrier(const std::string&, int, absl::Time, Done done) override {
    shard_->Barrier(std::move(done));
  }
  void Init(const KeyRef& ref, int, const NDArray& value, absl::Time, Done done) override {
    shard_->Init(ref, value, std::move(done));
  }
  void Push(const KeyRef& ref, const NDArray& value, absl::Time, Done done) override {
    shard_->Push(ref, value, std::move(done));
  }
  void Pull(const KeyRef& ref, const NDArray& out, absl::Time, Done done) override {
    shard_->Pull(ref, out, std::move(done));
  }
  // The shard's push, then (if it succeeded) its pull, as the service's PushPull does.
  void PushPull(const KeyRef& ref, const NDArray& value, const NDArray& out, absl::Time,
                Done done) override {
    shard_->push_pulls++;
    shard_->Push(ref, value, [shard = shard_, ref, out, done](absl::Status s) {
      if (!s.ok()) return done(std::move(s));
      shard->Pull(ref, out, done);
    });
  }
  void PushRows(const KeyRef& ref, const PartRows& rows, const NDArray& value, absl::Time,
                Done done) override {
    shard_->PushRows(ref, rows, value, std::move(done));
  }
  void PullRows(const KeyRef& ref, const PartRows& rows, const NDArray& out, absl::Time,
                Done done) override {
    shard_->PullRows(ref, rows, out, std::move(done));
  }
  void SetOptimizer(const std::string&, int, const std::string&,
                    const std::map<std::string, std::string>&, const KeyMultipliers&, absl::Time,
                    Done done) override {
    done(absl::OkStatus());
  }
  void GetOptimizerStates(const std::string&, absl::Time,
                          std::function<void(absl::StatusOr<std::vector<PartState>>)> done)
      override {
    done(shard_->states);
  }
  void SetOptimizerStates(const std::string&, std::vector<PartState> states, absl::Time,
                          Done done) override {
    shard_->states = std::move(states);
    done(absl::OkStatus());
  }
  void Hold() override { shard_->holds++; }
  void Release() override { shard_->releases++; }
  void CancelAll() override {}

 private:
  std::shared_ptr<FakeShard> shard_;
  std::string address_;
};

struct Cluster {
  Cluster(int shards, int workers) {
    for (int i = 0; i < shards; ++i) this->shards.push_back(std::make_shared<FakeShard>(workers));
  }
  std::unique_ptr<DistStore> Connect(int rank, int64_t bound = kDefaultBigArrayBound,
                                     absl::Duration retry = absl::Seconds(5)) {
    std::vector<std::unique_ptr<ShardConnection>> conns;
    for (size_t i = 0; i < shards.size(); ++i) {
      conns.push_back(std::make_unique<FakeConnection>(shards[i], absl::StrCat("fake:", i)));
    }
    DistStoreOptions options;
    options.membership = {.job = "job", .rank = rank, .num_workers = 0};
    options.bigarray_bound = bound;
    options.retry.retry_timeout = retry;
    options.retry.initial_backoff = absl::Milliseconds(5);
    options.pull_timeout = absl::Seconds(20);
    auto store = DistStore::Create(std::move(conns), options, absl::Now() + absl::Seconds(10));
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }
  std::vector<std::shared_ptr<FakeShard>> shards;
};

NDArray Floats(std::vector<float> v, Shape shape = {}) {
  if (shape.ndim() == 0) shape = Shape{static_cast<int64_t>(v.size())};
  return *NDArray::FromVector<float>(shape, v);
}

std::vector<float> Values(const NDArray& a) {
  absl::StatusOr<std::vector<float>> v = a.ToVector<float>();
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : std::vector<float>{};
}

// Both ranks' Init (which ends in a barrier) from two threads.
void InitBoth(DistStore& a, DistStore& b,
              std::vector<std::pair<std::string, NDArray>> va,
              std::vector<std::pair<std::string, NDArray>> vb) {
  absl::Status sa, sb;
  std::thread t([&] { sb = b.Init(vb, absl::Now() + absl::Seconds(10)); });
  sa = a.Init(va, absl::Now() + absl::Seconds(10));
  t.join();
  ASSERT_TRUE(sa.ok()) << sa;
  ASSERT_TRUE(sb.ok()) << sb;
}


TEST(DistStoreTest, EveryRankInitsRankZerosValueWinsAndRoundsSum) {
  Cluster c(2, 2);
  auto r0 = c.Connect(0), r1 = c.Connect(1);
  ASSERT_NE(r0, nullptr);
  ASSERT_NE(r1, nullptr);
  EXPECT_EQ(r0->num_workers(), 2);
  InitBoth(*r0, *r1, {{"3", Floats({1, 2})}}, {{"3", Floats({9, 9})}});
  NDArray out0 = Floats({0, 0}), out1 = Floats({0, 0});
  ASSERT_TRUE(r0->Pull("3", {out0}).ok());
  EXPECT_EQ(Values(out0), (std::vector<float>{1, 2}));

  // Rank 0 pushes and pulls; its pull completes only after rank 1's push.
  ASSERT_TRUE(r0->Push("3", {Floats({1, 1})}).ok());
  ASSERT_TRUE(r0->Pull("3", {out0}).ok());
  absl::SleepFor(absl::Milliseconds(100));
  ASSERT_TRUE(r1->Push("3", {Floats({2, 3}), Floats({10, 10})}).ok());  // a list is summed
  ASSERT_TRUE(r1->Pull("3", {out1}).ok());
  EXPECT_EQ(Values(out0), (std::vector<float>{13, 14}));
  EXPECT_EQ(Values(out1), (std::vector<float>{13, 14}));
}

TEST(DistStoreTest, BigArraysSplitOverAllShardsAndReassemble) {
  Cluster c(3, 1);
  auto r0 = c.Connect(0, /*bound=*/10);
  ASSERT_NE(r0, nullptr);
  std::vector<float> v(26);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  ASSERT_TRUE(r0->Init({{"w", Floats(v, Shape{2, 13})}}, absl::Now() + absl::Seconds(5)).ok());
  for (int s = 0; s < 3; ++s) EXPECT_TRUE(c.shards[s]->Has("w", s)) << s;
  // round(26/3*1) = 9, round(26/3*2) = 17: parts of 9, 8, 9 elements.
  EXPECT_EQ(c.shards[1]->Stored("w", 1).size(), 8u);
  EXPECT_EQ(c.shards[1]->Stored("w", 1)[0], 9.0f);
  ASSERT_TRUE(r0->Push("w", {Floats(std::vector<float>(26, 2.0f), Shape{2, 13})}).ok());
  NDArray out = *NDArray::Zeros(Shape{2, 13}, Context::Cpu(), DType::kFloat64);  // converted
  ASSERT_TRUE(r0->Pull("w", {out}).ok());
  EXPECT_EQ(Values(out), std::vector<float>(26, 2.0f));
}

TEST(DistStoreTest, RowsTravelAsPiecesOfTheirPartsAndSumAcrossRanks) {
  // A (5, 3) key split over 2 shards at element 8: row 2 (elements 6..8) is in both parts.
  Cluster c(2, 2);
  auto r0 = c.Connect(0, /*bound=*/4), r1 = c.Connect(1, /*bound=*/4);
  ASSERT_NE(r0, nullptr);
  ASSERT_NE(r1, nullptr);
  InitBoth(*r0, *r1, {{"e", Floats(std::vector<float>(15, 7.0f), Shape{5, 3})}},
           {{"e", Floats(std::vector<float>(15, 0.0f), Shape{5, 3})}});
  ASSERT_TRUE(r0->PushRows("e", {0, 2}, Floats({1, 1, 1, 2, 3, 4}, Shape{2, 3})).ok());
  ASSERT_TRUE(r1->PushRows("e", {2, 4}, Floats({10, 10, 10, 5, 6, 7}, Shape{2, 3})).ok());
  NDArray dense = Floats(std::vector<float>(15, -1.0f), Shape{5, 3});
  ASSERT_TRUE(r0->Pull("e", {dense}).ok());
  // Without an optimizer a round's sum overwrites: zeros in the rows nobody pushed.
  EXPECT_EQ(Values(dense),
            (std::vector<float>{1, 1, 1, 0, 0, 0, 12, 13, 14, 0, 0, 0, 5, 6, 7}));
  // Every part got a push from every rank (empty ones included), so the round completed.
  EXPECT_EQ(c.shards[0]->row_pushes + c.shards[1]->row_pushes, 4);

  NDArray rows = *NDArray::Zeros(Shape{2, 3}, Context::Cpu(), DType::kFloat64);  // converted
  ASSERT_TRUE(r1->PullRows("e", {2, 4}, rows).ok());
  EXPECT_EQ(Values(rows), (std::vector<float>{12, 13, 14, 5, 6, 7}));
  NDArray none = Floats({}, Shape{0, 3});
  EXPECT_TRUE(r1->PullRows("e", {}, none).ok());
  EXPECT_TRUE(none.WaitToRead().ok());

  // Bad rows and values: the right codes, nothing sent.
  EXPECT_EQ(r0->PushRows("e", {2, 1}, Floats({0, 0, 0, 0, 0, 0}, Shape{2, 3})).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r0->PushRows("e", {5}, Floats({0, 0, 0}, Shape{1, 3})).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r0->PushRows("e", {1}, Floats({0, 0}, Shape{1, 2})).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r0->PullRows("e", {1}, Floats({0, 0, 0, 0, 0, 0}, Shape{2, 3})).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r0->PullRows("nope", {1}, Floats({0, 0, 0}, Shape{1, 3})).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(c.shards[0]->row_pushes + c.shards[1]->row_pushes, 4);
}

// Two ranks on two shards with keys "a" = {1, 2}, "b" = four zeros (over a bound of 3:
// split across both shards) and "c" = {5}, rank 0's values.
class ThreeKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    r0 = c.Connect(0, /*bound=*/3);
    r1 = c.Connect(1, /*bound=*/3);
    ASSERT_NE(r0, nullptr);
    ASSERT_NE(r1, nullptr);
    InitBoth(*r0, *r1, {{"a", Floats({1, 2})}, {"b", Floats({0, 0, 0, 0})}, {"c", Floats({5})}},
             {{"a", Floats({0, 0})}, {"b", Floats({0, 0, 0, 0})}, {"c", Floats({0})}});
  }

  Cluster c{2, 2};
  std::unique_ptr<DistStore> r0, r1;
  const std::vector<std::string> keys = {"a", "b", "c"};
};

TEST_F(ThreeKeysTest, ListsPushAndPullAsOneOperation) {
  std::vector<std::vector<NDArray>> g0 = {
      {Floats({1, 1})}, {Floats({1, 2, 3, 4}), Floats({1, 1, 1, 1})}, {Floats({2})}};
  std::vector<std::vector<NDArray>> g1 = {{Floats({2, 2})}, {Floats({0, 0, 0, 1})}, {Floats({3})}};
  ASSERT_TRUE(r0->PushList(keys, g0).ok());
  ASSERT_TRUE(r1->PushList(keys, g1).ok());
  std::vector<std::vector<NDArray>> outs = {
      {Floats({0, 0}), Floats({0, 0})}, {Floats({0, 0, 0, 0})}, {Floats({0})}};
  ASSERT_TRUE(r0->PullList(keys, outs).ok());
  EXPECT_EQ(Values(outs[0][0]), (std::vector<float>{3, 3}));
  EXPECT_EQ(Values(outs[0][1]), (std::vector<float>{3, 3}));  // every out of the key
  EXPECT_EQ(Values(outs[1][0]), (std::vector<float>{2, 3, 4, 6}));
  EXPECT_EQ(Values(outs[2][0]), (std::vector<float>{5}));

  // A key named twice: one push per entry, in order (two rounds of rank 0's).
  std::vector<std::vector<NDArray>> twice = {{Floats({1})}, {Floats({1})}};
  ASSERT_TRUE(r1->PushList({"c", "c"}, twice).ok());
  ASSERT_TRUE(r0->PushList({"c", "c"}, twice).ok());
  std::vector<std::vector<NDArray>> one = {{Floats({0})}};
  ASSERT_TRUE(r0->PullList({"c"}, one).ok());
  EXPECT_EQ(Values(one[0][0]), (std::vector<float>{2}));

  // Every key is checked before anything is sent.
  std::vector<std::vector<NDArray>> bad = {{Floats({1, 1})}, {Floats({1})}};
  EXPECT_EQ(r0->PushList({"a", "nope"}, bad).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(r0->PushList({"a", "c"}, {{Floats({1, 1})}, {Floats({1, 1})}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r0->PullList({"a", "c"}, one).code(), absl::StatusCode::kInvalidArgument);
  NDArray a_out = Floats({0, 0});
  ASSERT_TRUE(r0->Pull("a", {a_out}).ok());  // no push of "a" went out: still round 1's
  EXPECT_EQ(Values(a_out), (std::vector<float>{3, 3}));
}

TEST(DistStoreTest, UnavailableIsRetriedAfterARejoin) {
  Cluster c(1, 1);
  auto r0 = c.Connect(0);
  ASSERT_NE(r0, nullptr);
  ASSERT_TRUE(r0->Init({{"k", Floats({1})}}, absl::Now() + absl::Seconds(5)).ok());
  const int joins = c.shards[0]->joins();
  c.shards[0]->InjectUnavailable(2);  // the push fails twice
  ASSERT_TRUE(r0->Push("k", {Floats({5})}).ok());
  NDArray out = Floats({0});
  ASSERT_TRUE(r0->Pull("k", {out}).ok());
  EXPECT_EQ(Values(out), (std::vector<float>{5}));
  EXPECT_GE(c.shards[0]->joins(), joins + 1);
}

TEST(DistStoreTest, ShardErrorsReachTheOutsAndNameTheShard) {
  Cluster c(1, 1);
  auto r0 = c.Connect(0, kDefaultBigArrayBound, /*retry=*/absl::Milliseconds(200));
  ASSERT_NE(r0, nullptr);
  ASSERT_TRUE(r0->Init({{"k", Floats({1})}}, absl::Now() + absl::Seconds(5)).ok());
  c.shards[0]->FailWith(absl::AbortedError("job aborted: rank 1 is dead"));
  NDArray out = Floats({0});
  ASSERT_TRUE(r0->Pull("k", {out}).ok());  // returns at once; the error is on out
  absl::Status s = out.WaitToRead();
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
  EXPECT_NE(s.message().find("rank 1 is dead"), std::string::npos) << s;
  EXPECT_NE(s.message().find("fake:0"), std::string::npos) << s;

  // A shard that stays unreachable: UNAVAILABLE after the retry timeout, naming it.
  c.shards[0]->FailWith(absl::OkStatus());
  c.shards[0]->InjectUnavailable(1000000);
  ASSERT_TRUE(r0->Push("k", {Floats({5})}).ok());
  ASSERT_TRUE(r0->Pull("k", {out}).ok());  // reports the push's error
  s = out.WaitToRead();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find("fake:0"), std::string::npos) << s;
  c.shards[0]->InjectUnavailable(0);
}

TEST(DistStoreTest, PushPullGivesWhatPushThenPullGives) {
  Cluster c(3, 2);
  auto r0 = c.Connect(0, /*bound=*/10), r1 = c.Connect(1, /*bound=*/10);
  ASSERT_NE(r0, nullptr);
  ASSERT_NE(r1, nullptr);
  std::vector<float> w(26, 1.0f), g0(26), g1(26), sum(26);
  for (size_t i = 0; i < w.size(); ++i) {
    g0[i] = static_cast<float>(i);
    g1[i] = 100.0f + static_cast<float>(i);
    sum[i] = g0[i] + g1[i];
  }
  // "w" is split over the 3 shards, "k" lives whole on one.
  InitBoth(*r0, *r1, {{"w", Floats(w, Shape{2, 13})}, {"k", Floats({1, 2})}},
           {{"w", Floats(w, Shape{2, 13})}, {"k", Floats({1, 2})}});

  // Round 1: Push then Pull on both ranks.
  NDArray pw0 = Floats(w, Shape{2, 13}), pw1 = Floats(w, Shape{2, 13});
  NDArray pk0 = Floats({0, 0}), pk1 = Floats({0, 0});
  ASSERT_TRUE(r0->Push("w", {Floats(g0, Shape{2, 13})}).ok());
  ASSERT_TRUE(r0->Pull("w", {pw0}).ok());
  ASSERT_TRUE(r0->Push("k", {Floats({1, 2})}).ok());
  ASSERT_TRUE(r0->Pull("k", {pk0}).ok());
  ASSERT_TRUE(r1->Push("w", {Floats(g1, Shape{2, 13})}).ok());
  ASSERT_TRUE(r1->Pull("w", {pw1}).ok());
  ASSERT_TRUE(r1->Push("k", {Floats({10, 20})}).ok());
  ASSERT_TRUE(r1->Pull("k", {pk1}).ok());
  EXPECT_EQ(Values(pw0), sum);
  EXPECT_EQ(Values(pw1), sum);
  EXPECT_EQ(Values(pk0), (std::vector<float>{11, 22}));
  EXPECT_EQ(Values(pk1), (std::vector<float>{11, 22}));

  // Round 2: the same gradients through PushPull; rank 1's as a list (summed), its "w" out
  // twice and of another dtype (converted).
  NDArray w0 = Floats(w, Shape{2, 13}), k0 = Floats({0, 0}), k1 = Floats({0, 0});
  NDArray w1a = *NDArray::Zeros(Shape{2, 13}, Context::Cpu(), DType::kFloat64);
  NDArray w1b = Floats(w, Shape{2, 13});
  ASSERT_TRUE(r0->PushPull("w", {Floats(g0, Shape{2, 13})}, {w0}).ok());
  ASSERT_TRUE(r0->PushPull("k", {Floats({1, 2})}, {k0}).ok());
  std::vector<float> g1a(g1), g1b(26, 0.0f);
  for (size_t i = 0; i < g1a.size(); ++i) {
    g1a[i] -= 5.0f;
    g1b[i] = 5.0f;
  }
  ASSERT_TRUE(
      r1->PushPull("w", {Floats(g1a, Shape{2, 13}), Floats(g1b, Shape{2, 13})}, {w1a, w1b}).ok());
  ASSERT_TRUE(r1->PushPull("k", {Floats({10, 20})}, {k1}).ok());
  EXPECT_EQ(Values(w0), Values(pw0));
  EXPECT_EQ(Values(w1a), Values(pw0));
  EXPECT_EQ(Values(w1b), Values(pw0));
  EXPECT_EQ(Values(k0), Values(pk0));
  EXPECT_EQ(Values(k1), Values(pk0));
  // One exchange per part: 3 parts of "w" and 1 of "k" per rank.
  int push_pulls = 0;
  for (const auto& shard : c.shards) push_pulls += shard->push_pulls;
  EXPECT_EQ(push_pulls, 2 * (3 + 1));

  // Round 3 mixes both forms: rank 0 pushes and pulls, rank 1 push-pulls.
  ASSERT_TRUE(r0->Push("k", {Floats({1, 1})}).ok());
  ASSERT_TRUE(r0->Pull("k", {k0}).ok());
  ASSERT_TRUE(r1->PushPull("k", {Floats({2, 2})}, {k1}).ok());
  EXPECT_EQ(Values(k0), (std::vector<float>{3, 3}));
  EXPECT_EQ(Values(k1), (std::vector<float>{3, 3}));
}

TEST_F(ThreeKeysTest, PushPullListExchangesEveryKeyInOneHeldOperation) {
  const int holds[2] = {c.shards[0]->holds.load(), c.shards[1]->holds.load()};
  std::vector<std::vector<NDArray>> g0 = {
      {Floats({1, 1})}, {Floats({1, 2, 3, 4}), Floats({1, 1, 1, 1})}, {Floats({2})}};
  std::vector<std::vector<NDArray>> g1 = {{Floats({2, 2})}, {Floats({0, 0, 0, 1})}, {Floats({3})}};
  std::vector<std::vector<NDArray>> o0 = {
      {Floats({0, 0}), Floats({0, 0})}, {Floats({0, 0, 0, 0})}, {Floats({0})}};
  std::vector<std::vector<NDArray>> o1 = {{Floats({0, 0})}, {Floats({0, 0, 0, 0})}, {Floats({0})}};
  ASSERT_TRUE(r0->PushPullList(keys, g0, o0).ok());
  ASSERT_TRUE(r1->PushPullList(keys, g1, o1).ok());
  for (const auto* outs : {&o0, &o1}) {
    EXPECT_EQ(Values((*outs)[0][0]), (std::vector<float>{3, 3}));
    EXPECT_EQ(Values((*outs)[1][0]), (std::vector<float>{2, 3, 4, 6}));
    EXPECT_EQ(Values((*outs)[2][0]), (std::vector<float>{5}));
  }
  EXPECT_EQ(Values(o0[0][1]), (std::vector<float>{3, 3}));  // every out of the key
  // Each rank's exchange held every connection once around its calls.
  for (int shard = 0; shard < 2; ++shard) {
    EXPECT_EQ(c.shards[shard]->holds.load() - holds[shard], 2) << shard;
    EXPECT_EQ(c.shards[shard]->holds.load(), c.shards[shard]->releases.load()) << shard;
  }

  // Every key is checked before anything is sent.
  const int exchanges = c.shards[0]->push_pulls + c.shards[1]->push_pulls;
  std::vector<std::vector<NDArray>> one_out = {{Floats({0, 0})}, {Floats({0})}};
  EXPECT_EQ(r0->PushPullList({"a", "nope"}, {{Floats({1, 1})}, {Floats({1})}}, one_out).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(r0->PushPullList({"a", "c"}, {{Floats({1, 1})}, {Floats({1, 1})}}, one_out).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r0->PushPullList({"a", "c"}, {{Floats({1, 1})}}, one_out).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.shards[0]->push_pulls + c.shards[1]->push_pulls, exchanges);

  // A key named twice: one exchange per entry, in order (two rounds of each rank).
  std::vector<std::vector<NDArray>> twice = {{Floats({1})}, {Floats({2})}};
  std::vector<std::vector<NDArray>> t0 = {{Floats({0})}, {Floats({0})}};
  std::vector<std::vector<NDArray>> t1 = {{Floats({0})}, {Floats({0})}};
  ASSERT_TRUE(r0->PushPullList({"c", "c"}, twice, t0).ok());
  ASSERT_TRUE(r1->PushPullList({"c", "c"}, twice, t1).ok());
  EXPECT_EQ(Values(t0[0][0]), (std::vector<float>{2}));
  EXPECT_EQ(Values(t1[1][0]), (std::vector<float>{4}));
}

TEST(DistStoreTest, PushPullErrorsReachTheOutsOnly) {
  Cluster c(1, 1);
  auto r0 = c.Connect(0, kDefaultBigArrayBound, /*retry=*/absl::Milliseconds(200));
  ASSERT_NE(r0, nullptr);
  ASSERT_TRUE(r0->Init({{"k", Floats({1})}}, absl::Now() + absl::Seconds(5)).ok());
  EXPECT_EQ(r0->PushPull("x", {Floats({1})}, {Floats({0})}).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(r0->PushPull("k", {Floats({1, 2})}, {Floats({0})}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r0->PushPull("k", {Floats({1})}, {Floats({0, 0})}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r0->PushPull("k", {}, {Floats({0})}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r0->PushPull("k", {Floats({1})}, {}).code(), absl::StatusCode::kInvalidArgument);

  // The shard's error, naming it.
  c.shards[0]->FailWith(absl::AbortedError("job aborted: rank 1 is dead"));
  NDArray out = Floats({0});
  ASSERT_TRUE(r0->PushPull("k", {Floats({5})}, {out}).ok());  // the error is on out
  absl::Status s = out.WaitToRead();
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
  EXPECT_NE(s.message().find("rank 1 is dead"), std::string::npos) << s;
  EXPECT_NE(s.message().find("fake:0"), std::string::npos) << s;

  // The key still works afterwards (its own variable carries no error).
  c.shards[0]->FailWith(absl::OkStatus());
  ASSERT_TRUE(r0->PushPull("k", {Floats({6})}, {out}).ok());
  EXPECT_EQ(Values(out), (std::vector<float>{6}));

  // UNAVAILABLE is retried; one that lasts past the retry timeout names the shard.
  c.shards[0]->InjectUnavailable(2);
  ASSERT_TRUE(r0->PushPull("k", {Floats({7})}, {out}).ok());
  EXPECT_EQ(Values(out), (std::vector<float>{7}));
  c.shards[0]->InjectUnavailable(1000000);
  ASSERT_TRUE(r0->PushPull("k", {Floats({8})}, {out}).ok());
  s = out.WaitToRead();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find("fake:0"), std::string::npos) << s;

  // A failed Push before a PushPull is reported by it, as by a Pull.
  c.shards[0]->InjectUnavailable(0);
  c.shards[0]->FailWith(absl::AbortedError("job aborted"));
  ASSERT_TRUE(r0->Push("k", {Floats({9})}).ok());
  absl::SleepFor(absl::Milliseconds(300));  // the push has failed (not retried)
  c.shards[0]->FailWith(absl::OkStatus());
  ASSERT_TRUE(r0->PushPull("k", {Floats({10})}, {out}).ok());
  s = out.WaitToRead();
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
  EXPECT_NE(s.message().find("the push before"), std::string::npos) << s;
  ASSERT_TRUE(r0->PushPull("k", {Floats({11})}, {out}).ok());
  EXPECT_EQ(Values(out), (std::vector<float>{11}));
}

TEST(DistStoreTest, BadCallsFailWithTheRightCode) {
  Cluster c(2, 1);
  auto r0 = c.Connect(0);
  ASSERT_NE(r0, nullptr);
  const absl::Time d = absl::Now() + absl::Seconds(5);
  ASSERT_TRUE(r0->Init({{"1", Floats({1, 2})}}, d).ok());
  EXPECT_EQ(r0->Init({{"1", Floats({1, 2})}}, d).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(r0->Init({{"w", Floats({1})}}, d).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r0->Init({{"", Floats({1})}}, d).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r0->Push("2", {Floats({1, 2})}).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(r0->Push("1", {Floats({1, 2, 3})}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r0->Push("1", {}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r0->Pull("1", {Floats({1})}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r0->SetOptimizerStates({PartState{.key = "9"}}, d).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(r0->SetOptimizerStates({PartState{.key = "1", .part = 1}}, d).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DistStoreTest, OptimizerStatesGoToTheKeysShard) {
  Cluster c(3, 1);
  auto r0 = c.Connect(0);
  ASSERT_NE(r0, nullptr);
  const absl::Time d = absl::Now() + absl::Seconds(5);
  ASSERT_TRUE(r0->Init({{"a", Floats({1})}, {"b", Floats({1})}}, d).ok());
  auto meta = r0->Meta("b");
  ASSERT_TRUE(meta.ok());
  EXPECT_EQ(meta->index, 1);  // string keys: init order
  ASSERT_TRUE(r0->SetOptimizerStates({PartState{.key = "b", .update_count = 7}}, d).ok());
  const int shard = meta->parts[0].shard;
  ASSERT_EQ(c.shards[shard]->states.size(), 1u);
  EXPECT_EQ(c.shards[shard]->states[0].index, 1);
  auto all = r0->GetOptimizerStates(d);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].update_count, 7);
}

TEST(DistStoreTest, HeartbeatsEveryShardEveryQuarterTimeoutUntilClosed) {
  Cluster c(2, 1);
  for (auto& s : c.shards) s->heartbeat_timeout = absl::Milliseconds(400);
  auto r0 = c.Connect(0);
  ASSERT_NE(r0, nullptr);
  absl::SleepFor(absl::Milliseconds(550));  // beats at 0, 100, ..., 500 ms
  for (auto& s : c.shards) {
    EXPECT_GE(s->heartbeats.load(), 3);  // a loaded machine may delay a beat
    EXPECT_LE(s->heartbeats.load(), 9);
  }
  r0->Close();
  const int after = c.shards[0]->heartbeats.load();
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(c.shards[0]->heartbeats.load(), after);
}

TEST(DistStoreTest, CloseLeavesTheJobOnEveryShard) {
  Cluster c(2, 1);
  auto r0 = c.Connect(0);
  ASSERT_NE(r0, nullptr);
  r0->Close();
  for (auto& s : c.shards) EXPECT_EQ(s->left(), std::vector<int>{0});
  EXPECT_EQ(r0->Barrier(absl::Now() + absl::Seconds(1)).code(),
            absl::StatusCode::kFailedPrecondition);
  r0.reset();  // a second Close: nothing more
  for (auto& s : c.shards) EXPECT_EQ(s->left(), std::vector<int>{0});
}

}  // namespace
}  // namespace mxgrid::kvstore::client
