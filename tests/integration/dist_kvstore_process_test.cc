// Dist KVStores end to end: mxgrid-worker processes as the parameter-server clients of
// mxgrid-kvstore shard processes, on loopback. Each test starts its own shards and workers;
// the ranks run on their own threads, as separate training processes would.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/mxgrid/v1/kvstore.grpc.pb.h"
#include "tests/integration/dist_worker_client.h"
#include "tests/integration/process.h"
#include "tests/integration/wire.h"

namespace mxgrid::integration {
namespace {

using ::testing::AnyOf;
using ::testing::ElementsAre;
using ::testing::Eq;
using ::testing::HasSubstr;

constexpr char kKVStore[] = "services/kvstore/mxgrid-kvstore";
constexpr char kWorker[] = "services/worker/mxgrid-worker";

// Shards, then workers started with --kvstore naming them all.
struct Cluster {
  std::vector<std::unique_ptr<ServerProcess>> shards;
  std::vector<std::unique_ptr<ServerProcess>> workers;

  static std::unique_ptr<Cluster> Start(int num_shards, int num_workers) {
    auto c = std::make_unique<Cluster>();
    std::vector<std::string> addresses;
    for (int i = 0; i < num_shards; ++i) {
      auto p = ServerProcess::Start({.binary = kKVStore, .name = absl::StrCat("shard", i)});
      EXPECT_TRUE(p.ok()) << p.status();
      if (!p.ok()) return nullptr;
      addresses.push_back((*p)->address());
      c->shards.push_back(*std::move(p));
    }
    for (int i = 0; i < num_workers; ++i) {
      auto p = ServerProcess::Start(
          {.binary = kWorker,
           .args = {absl::StrCat("--kvstore=", absl::StrJoin(addresses, ",")), "--lease=60s"},
           .name = absl::StrCat("worker", i)});
      EXPECT_TRUE(p.ok()) << p.status();
      if (!p.ok()) return nullptr;
      c->workers.push_back(*std::move(p));
    }
    return c;
  }

  // A client with an open session on worker `w`.
  std::unique_ptr<DistWorkerClient> Client(int w) {
    auto client = std::make_unique<DistWorkerClient>(workers[w]->NewChannel());
    const grpc::Status s = client->Open();
    EXPECT_TRUE(s.ok()) << Describe(s);
    return client;
  }

  // Logs of every process, for failure messages.
  std::string Logs() const {
    std::string out;
    for (const auto& p : shards) absl::StrAppend(&out, "--- shard\n", p->Log(4096));
    for (const auto& p : workers) {
      if (p != nullptr) absl::StrAppend(&out, "--- worker\n", p->Log(4096));
    }
    return out;
  }
};

// Runs fn(rank) for every rank on its own thread.
void RunRanks(int n, const std::function<void(int)>& fn) {
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) threads.emplace_back([&fn, r] { fn(r); });
  for (std::thread& t : threads) t.join();
}

uint64_t Put(DistWorkerClient& w, const std::vector<int64_t>& shape,
             const std::vector<float>& values) {
  uint64_t h = 0;
  const grpc::Status s = w.UploadFloats(shape, values, &h);
  EXPECT_TRUE(s.ok()) << Describe(s);
  return h;
}

std::vector<float> Get(DistWorkerClient& w, uint64_t handle) {
  std::vector<float> out;
  const grpc::Status s = w.Floats(handle, &out);
  EXPECT_TRUE(s.ok()) << Describe(s);
  return out;
}

#define EXPECT_OK(expr)                                         \
  do {                                                          \
    const grpc::Status status_ = (expr);                        \
    EXPECT_TRUE(status_.ok()) << #expr << ": " << Describe(status_); \
  } while (0)

// The reported hang (two workers x two shards, dist_sync): rank 0 pushes and pulls at once,
// rank 1 pushes 2 s later; both pulls return the sum, for a key on one shard and for a key
// split over both. Every rank inits; rank 0's value is the one stored.
TEST(DistKVStoreTest, PullBeforeTheOtherRankPushesReturnsTheSum) {
  auto cluster = Cluster::Start(2, 2);
  ASSERT_NE(cluster, nullptr);
  std::vector<float> big_init(25), big_sum(25, 3.0f);
  for (int i = 0; i < 25; ++i) big_init[i] = static_cast<float>(i);
  RunRanks(2, [&](int rank) {
    auto w = cluster->Client(rank);
    v1::KVCreateResponse created;
    EXPECT_OK(w->CreateStore({.type = "dist_sync", .job = "hang", .rank = rank,
                              .num_workers = 2, .bigarray_bound = 10}, &created));
    EXPECT_EQ(created.num_workers(), 2);
    EXPECT_EQ(created.shards_size(), 2);
    // Every rank inits with its own values: rank 0's win, nobody gets ALREADY_EXISTS.
    const float mine = rank == 0 ? 0.0f : 100.0f;
    std::vector<float> big = big_init;
    for (float& v : big) v += mine;
    EXPECT_OK(w->Init({{"3", Put(*w, {2}, {1 + mine, 2 + mine})}, {"5", Put(*w, {5, 5}, big)}}));
    const uint64_t out3 = Put(*w, {2}, {0, 0}), out5 = Put(*w, {5, 5}, std::vector<float>(25));
    EXPECT_OK(w->Pull("3", {out3}));
    EXPECT_OK(w->Pull("5", {out5}));
    EXPECT_THAT(Get(*w, out3), ElementsAre(1, 2));
    EXPECT_EQ(Get(*w, out5), big_init);

    if (rank == 1) absl::SleepFor(absl::Seconds(2));
    const absl::Time start = absl::Now();
    EXPECT_OK(w->Push("3", {Put(*w, {2}, rank == 0 ? std::vector<float>{1, 1}
                                                     : std::vector<float>{10, 20})}));
    EXPECT_OK(w->Push("5", {Put(*w, {5, 5}, std::vector<float>(25, 1.0f + rank))}));
    EXPECT_OK(w->Pull("3", {out3}));
    EXPECT_OK(w->Pull("5", {out5}));
    EXPECT_THAT(Get(*w, out3), ElementsAre(11, 21)) << "rank " << rank;
    EXPECT_EQ(Get(*w, out5), big_sum) << "rank " << rank;
    if (rank == 0) EXPECT_GE(absl::Now() - start, absl::Seconds(1.5));  // it waited for rank 1
  });
  if (HasFailure()) ADD_FAILURE() << cluster->Logs();
}

// 3,000,000 floats over three shards: one million elements per shard, reassembled exactly.
TEST(DistKVStoreTest, BigArraySplitsOverThreeShardsAndReassembles) {
  auto cluster = Cluster::Start(3, 1);
  ASSERT_NE(cluster, nullptr);
  auto w = cluster->Client(0);
  // MXNet matches the type lower-cased.
  EXPECT_OK(w->CreateStore({.type = "Dist_Sync", .job = "big", .rank = 0, .num_workers = 1}));
  const int64_t n = 3000000;
  std::vector<float> values(n), doubled(n);
  for (int64_t i = 0; i < n; ++i) {
    values[i] = static_cast<float>(i);
    doubled[i] = static_cast<float>(2 * i);
  }
  EXPECT_OK(w->Init({{"w", Put(*w, {1000, 3000}, values)}}));
  const uint64_t out = Put(*w, {1000, 3000}, std::vector<float>(n));
  EXPECT_OK(w->Pull("w", {out}));
  EXPECT_TRUE(Get(*w, out) == values);
  EXPECT_OK(w->Push("w", {Put(*w, {1000, 3000}, doubled)}));  // no optimizer: overwrite
  EXPECT_OK(w->Pull("w", {out}));
  EXPECT_TRUE(Get(*w, out) == doubled);
  // 6 MB parts: above the unary limit, so Init, Push and Pull stream their chunks.
  const int64_t m = 4500000;
  std::vector<float> more(m);
  for (int64_t i = 0; i < m; ++i) more[i] = static_cast<float>(m - i);
  EXPECT_OK(w->Init({{"v", Put(*w, {m}, more)}}));
  const uint64_t out_v = Put(*w, {m}, std::vector<float>(m));
  EXPECT_OK(w->Pull("v", {out_v}));
  EXPECT_TRUE(Get(*w, out_v) == more);
  for (float& x : more) x = -x;
  EXPECT_OK(w->Push("v", {Put(*w, {m}, more)}));
  EXPECT_OK(w->Pull("v", {out_v}));
  EXPECT_TRUE(Get(*w, out_v) == more);
  if (HasFailure()) ADD_FAILURE() << cluster->Logs();
}

// Requests a worker cannot serve get clear codes and the worker stays up: malformed shard
// addresses, no shards, an unreachable shard (named), a rank out of range, wrong shapes,
// unknown keys.
TEST(DistKVStoreTest, BadRequestsGetClearCodes) {
  auto shard = ServerProcess::Start({.binary = kKVStore, .name = "shard"});
  ASSERT_TRUE(shard.ok()) << shard.status();
  auto worker = ServerProcess::Start(
      {.binary = kWorker, .args = {"--kvstore_join_timeout=2s"}, .name = "worker"});
  ASSERT_TRUE(worker.ok()) << worker.status();
  DistWorkerClient w((*worker)->NewChannel());
  ASSERT_TRUE(w.Open().ok());
  EXPECT_EQ(w.CreateStore({.shards = {"no-port"}}).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(w.CreateStore({}).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(w.CreateStore({.type = "dist_sync", .rank = 2, .num_workers = 2,
                           .shards = {(*shard)->address()}})
                .error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  const absl::Time start = absl::Now();
  const grpc::Status down = w.CreateStore({.shards = {"127.0.0.1:1"}});
  EXPECT_EQ(down.error_code(), grpc::StatusCode::UNAVAILABLE) << Describe(down);
  EXPECT_THAT(down.error_message(), HasSubstr("127.0.0.1:1"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));

  EXPECT_OK(w.CreateStore({.job = "bad", .num_workers = 1, .shards = {(*shard)->address()}}));
  EXPECT_OK(w.Init({{"1", Put(w, {2}, {1, 2})}}));
  EXPECT_EQ(w.Init({{"1", Put(w, {2}, {1, 2})}}).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(w.Push("1", {Put(w, {3}, {1, 2, 3})}).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(w.Pull("2", {Put(w, {2}, {0, 0})}).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(w.SetOptimizer("nosuch", {}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_OK(w.Barrier());
  EXPECT_EQ(HealthCheck((*worker)->NewChannel()), 1);
  EXPECT_OK(w.Close());
}

// A worker SIGKILLed mid-job: the other worker's pull, waiting for the dead rank's push,
// ends with ABORTED naming rank 1 once the heartbeat timeout has passed (3 s, so that a
// loaded machine does not miss the live ranks' heartbeats).
TEST(DistKVStoreTest, KilledWorkerAbortsTheOthersPullNamingItsRank) {
  auto cluster = Cluster::Start(2, 2);
  ASSERT_NE(cluster, nullptr);
  std::unique_ptr<DistWorkerClient> clients[2];
  RunRanks(2, [&](int rank) {
    clients[rank] = cluster->Client(rank);
    EXPECT_OK(clients[rank]->CreateStore({.type = "dist_sync", .job = "dead", .rank = rank,
                                          .num_workers = 2, .heartbeat_timeout_ms = 3000}));
    EXPECT_OK(clients[rank]->Init({{"7", Put(*clients[rank], {3}, {1, 2, 3})}}));
  });
  ASSERT_FALSE(HasFailure()) << cluster->Logs();
  cluster->workers[1]->Signal(SIGKILL);
  DistWorkerClient& w = *clients[0];
  const absl::Time start = absl::Now();
  EXPECT_OK(w.Push("7", {Put(w, {3}, {1, 1, 1})}));
  const uint64_t out = Put(w, {3}, {0, 0, 0});
  EXPECT_OK(w.Pull("7", {out}));
  std::vector<float> values;
  const grpc::Status s = w.Floats(out, &values, absl::Seconds(30));
  EXPECT_THAT(s.error_code(), AnyOf(Eq(grpc::StatusCode::ABORTED),
                                    Eq(grpc::StatusCode::UNAVAILABLE)))
      << Describe(s);
  EXPECT_THAT(s.error_message(), HasSubstr("rank 1")) << Describe(s);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  if (HasFailure()) ADD_FAILURE() << cluster->Logs();
}

// Unequal batch counts: rank 0 runs 3 rounds and frees its store (LeaveJob), rank 1 runs 5;
// nobody hangs, and the last two rounds are rank 1's alone.
TEST(DistKVStoreTest, RankThatLeavesEarlyDoesNotHangTheOther) {
  auto cluster = Cluster::Start(2, 2);
  ASSERT_NE(cluster, nullptr);
  RunRanks(2, [&](int rank) {
    auto w = cluster->Client(rank);
    EXPECT_OK(w->CreateStore({.type = "dist_sync", .job = "unequal", .rank = rank,
                              .num_workers = 2}));
    EXPECT_OK(w->Init({{"1", Put(*w, {2}, {0, 0})}}));
    const int rounds = rank == 0 ? 3 : 5;
    const float grad = rank == 0 ? 1.0f : 10.0f;
    const uint64_t out = Put(*w, {2}, {0, 0});
    for (int r = 0; r < rounds; ++r) {
      EXPECT_OK(w->Push("1", {Put(*w, {2}, {grad, grad})}));
      EXPECT_OK(w->Pull("1", {out}));
      const float want = r < 3 ? 11.0f : 10.0f;
      EXPECT_THAT(Get(*w, out), ElementsAre(want, want)) << "rank " << rank << " round " << r;
    }
    if (rank == 0) EXPECT_OK(w->Free({w->store()}));
  });
  if (HasFailure()) ADD_FAILURE() << cluster->Logs();
}

// A closed session leaves its dist stores' jobs: the other rank's rounds go on without it.
TEST(DistKVStoreTest, ClosedSessionLeavesTheJob) {
  auto cluster = Cluster::Start(1, 2);
  ASSERT_NE(cluster, nullptr);
  std::unique_ptr<DistWorkerClient> clients[2];
  RunRanks(2, [&](int rank) {
    clients[rank] = cluster->Client(rank);
    EXPECT_OK(clients[rank]->CreateStore({.job = "closed", .rank = rank, .num_workers = 2}));
    EXPECT_OK(clients[rank]->Init({{"2", Put(*clients[rank], {1}, {0})}}));
  });
  EXPECT_OK(clients[1]->Close());
  DistWorkerClient& w = *clients[0];
  const uint64_t out = Put(w, {1}, {0});
  EXPECT_OK(w.Push("2", {Put(w, {1}, {4})}));
  EXPECT_OK(w.Pull("2", {out}));
  std::vector<float> values;
  const grpc::Status s = w.Floats(out, &values, absl::Seconds(10));
  EXPECT_TRUE(s.ok()) << Describe(s);
  EXPECT_THAT(values, ElementsAre(4));
  if (HasFailure()) ADD_FAILURE() << cluster->Logs();
}

// Module training through a dist store: two workers' executors bound to it with
// SetExecutorKVStore; Update pushes each gradient and pulls the shards' SGD result, equal to
// w - lr * (g0 + g1) on both workers.
TEST(DistKVStoreTest, ExecutorUpdateGoesThroughTheShardsOptimizer) {
  auto cluster = Cluster::Start(2, 2);
  ASSERT_NE(cluster, nullptr);
  const std::vector<std::string> params = {"fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias"};
  // [rank][param]: the gradients, and the weights after the update.
  std::vector<std::vector<float>> grads[2], weights_before[2], weights_after[2];
  RunRanks(2, [&](int rank) {
    auto w = cluster->Client(rank);
    v1::SimpleBindRequest bind;
    bind.set_session(w->session());
    bind.mutable_symbol()->set_json(MlpJson({.hidden = 4, .outputs = 2}));
    (*bind.mutable_inputs())["data"] = FloatMeta({2, 3});
    bind.set_grad_req("write");
    (*bind.mutable_grad_req_by_name())["data"] = "null";
    v1::BindResponse bound;
    {
      grpc::ClientContext context;
      SetTimeout(&context, absl::Seconds(60));
      EXPECT_OK(w->stub()->SimpleBind(&context, bind, &bound));
    }
    if (bound.args_size() != 5) return;
    std::map<std::string, uint64_t> init;
    std::map<std::string, std::string> keys;
    for (int i = 1; i < 5; ++i) {
      std::vector<int64_t> shape(bound.args(i).meta().shape().begin(),
                                 bound.args(i).meta().shape().end());
      int64_t size = 1;
      for (int64_t d : shape) size *= d;
      std::vector<float> v(size);
      for (int64_t j = 0; j < size; ++j) v[j] = 0.1f * static_cast<float>((j * 7 + i) % 11) - 0.5f;
      EXPECT_OK(w->Upload(FloatTensor(shape, v), nullptr, bound.args(i).handle()));
      init[bound.arg_names(i)] = bound.args(i).handle();
      keys[bound.arg_names(i)] = bound.arg_names(i);
    }
    EXPECT_OK(w->CreateStore({.type = "dist_sync", .job = "module", .rank = rank,
                              .num_workers = 2}));
    EXPECT_OK(w->Init(init));
    EXPECT_OK(w->SetOptimizer("sgd", {{"learning_rate", "0.1"}}));
    EXPECT_OK(w->SetExecutorKVStore(bound.executor(), keys));
    // Forward + backward (head gradient 1) on this rank's own data.
    v1::ForwardRequest forward;
    forward.set_session(w->session());
    forward.set_executor(bound.executor());
    forward.set_is_train(true);
    (*forward.mutable_values())["data"] =
        FloatTensor({2, 3}, rank == 0 ? std::vector<float>{1, -2, 3, 0.5, 1, -1}
                                      : std::vector<float>{-1, 2, 0.5, 2, -0.5, 1});
    v1::ForwardResponse outputs;
    {
      grpc::ClientContext context;
      SetTimeout(&context, absl::Seconds(60));
      EXPECT_OK(w->stub()->Forward(&context, forward, &outputs));
    }
    v1::BackwardRequest backward;
    backward.set_session(w->session());
    backward.set_executor(bound.executor());
    backward.add_out_grads(Put(*w, {2, 2}, {1, 1, 1, 1}));
    {
      v1::BackwardResponse response;
      grpc::ClientContext context;
      SetTimeout(&context, absl::Seconds(60));
      EXPECT_OK(w->stub()->Backward(&context, backward, &response));
    }
    for (int i = 1; i < 5; ++i) {
      grads[rank].push_back(Get(*w, bound.arg_grads(i).handle()));
      weights_before[rank].push_back(Get(*w, bound.args(i).handle()));
    }
    EXPECT_OK(w->Update(bound.executor()));
    for (int i = 1; i < 5; ++i) weights_after[rank].push_back(Get(*w, bound.args(i).handle()));
  });
  ASSERT_FALSE(HasFailure()) << cluster->Logs();
  for (size_t p = 0; p < params.size(); ++p) {
    for (int rank = 0; rank < 2; ++rank) {
      ASSERT_EQ(weights_after[rank][p].size(), weights_before[0][p].size());
      for (size_t j = 0; j < weights_before[0][p].size(); ++j) {
        const float want = weights_before[0][p][j] - 0.1f * (grads[0][p][j] + grads[1][p][j]);
        EXPECT_NEAR(weights_after[rank][p][j], want, 1e-5)
            << params[p] << "[" << j << "] rank " << rank;
      }
    }
  }
}

// A shard on a fixed port (ServerProcess picks a new one at every start): for restarts.
class FixedPortShard {
 public:
  FixedPortShard(int port, std::string state_dir)
      : port_(port), state_dir_(std::move(state_dir)) {}
  ~FixedPortShard() { Kill(); }

  // Starts the shard and waits until it serves.
  bool Start() {
    const std::string binary = RunfilePath(kKVStore);
    const std::string log = absl::StrCat(state_dir_, ".log");
    const std::vector<std::string> args = {
        binary, absl::StrCat("--address=127.0.0.1:", port_), "--metrics_address=",
        "--state_dir=" + state_dir_, "--snapshot_rounds=1", "--snapshot_interval=0"};
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      std::vector<char*> argv;
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    for (int i = 0; i < 100; ++i) {
      // A fresh channel each time: a failed one backs off its reconnects for seconds.
      grpc::ChannelArguments args;
      args.SetInt("mxgrid.test.attempt", i);
      auto channel =
          grpc::CreateCustomChannel(address(), grpc::InsecureChannelCredentials(), args);
      if (HealthCheck(channel, absl::Milliseconds(500)) == 1) return true;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return false;
  }
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  std::string Log() const {
    std::ifstream in(absl::StrCat(state_dir_, ".log"));
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  const int port_;
  const std::string state_dir_;
  pid_t pid_ = -1;
};

// A shard SIGKILLed and restarted from its snapshot: the worker's calls in the gap fail
// UNAVAILABLE, are retried after a fresh JoinJob, and the rounds go on.
TEST(DistKVStoreTest, ShardRestartIsRetriedAfterARejoin) {
  absl::StatusOr<int> port = PickFreePort();
  ASSERT_TRUE(port.ok()) << port.status();
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/restart_state");
  FixedPortShard shard(*port, dir);
  ASSERT_TRUE(shard.Start());
  auto worker = ServerProcess::Start(
      {.binary = kWorker, .args = {"--kvstore=" + shard.address()}, .name = "worker"});
  ASSERT_TRUE(worker.ok()) << worker.status();
  DistWorkerClient w((*worker)->NewChannel());
  ASSERT_TRUE(w.Open().ok());
  EXPECT_OK(w.CreateStore({.job = "restart", .num_workers = 1}));
  EXPECT_OK(w.Init({{"1", Put(w, {2}, {1, 1})}}));
  const uint64_t out = Put(w, {2}, {0, 0});
  EXPECT_OK(w.Push("1", {Put(w, {2}, {2, 2})}));
  EXPECT_OK(w.Pull("1", {out}));
  EXPECT_THAT(Get(w, out), ElementsAre(2, 2));  // round 1 applied
  {
    auto stub = v1::KVStore::NewStub(
        grpc::CreateChannel(shard.address(), grpc::InsecureChannelCredentials()));
    v1::SnapshotResponse snap;
    grpc::ClientContext context;
    SetTimeout(&context, absl::Seconds(30));
    EXPECT_OK(stub->Snapshot(&context, {}, &snap));
  }
  shard.Kill();
  EXPECT_OK(w.Push("1", {Put(w, {2}, {3, 3})}));  // queued: retried until the shard is back
  EXPECT_OK(w.Pull("1", {out}));
  absl::SleepFor(absl::Milliseconds(500));
  ASSERT_TRUE(shard.Start());
  const absl::Time restarted = absl::Now();
  std::vector<float> values;
  const grpc::Status s = w.Floats(out, &values, absl::Seconds(30));
  EXPECT_TRUE(s.ok()) << Describe(s) << "\n" << (*worker)->Log() << shard.Log();
  EXPECT_THAT(values, ElementsAre(3, 3));
  EXPECT_LT(absl::Now() - restarted, absl::Seconds(5));  // backoff is at most 2 s
}

// save_optimizer_states / load_optimizer_states for a dist store (states from the shards) and
// a local store (the worker's optimizer): SGD momentum after one step, named
// "<key>/<part>/<i>" and "<key>/<part>/count"; loading them back restores the momentum.
TEST(DistKVStoreTest, OptimizerStatesRoundTrip) {
  auto cluster = Cluster::Start(1, 1);
  ASSERT_NE(cluster, nullptr);
  for (const char* type : {"dist_sync", "local"}) {
    SCOPED_TRACE(type);
    auto w = cluster->Client(0);
    EXPECT_OK(w->CreateStore({.type = type, .job = "states", .num_workers = 1}));
    v1::KVGetOptimizerStatesResponse states;
    EXPECT_EQ(w->GetOptimizerStates(&states).error_code(),
              grpc::StatusCode::FAILED_PRECONDITION);  // no optimizer yet
    EXPECT_OK(w->Init({{"4", Put(*w, {2}, {1, 1})}}));
    EXPECT_OK(w->SetOptimizer("sgd", {{"learning_rate", "0.5"}, {"momentum", "0.9"}}));
    EXPECT_OK(w->Push("4", {Put(*w, {2}, {1, 2})}));
    const uint64_t out = Put(*w, {2}, {0, 0});
    EXPECT_OK(w->Pull("4", {out}));
    EXPECT_THAT(Get(*w, out), ElementsAre(0.5f, 0.0f));  // mom = -0.5 g; w += mom
    states.Clear();
    EXPECT_OK(w->GetOptimizerStates(&states));
    ASSERT_THAT(states.names(), ElementsAre("4/0/0", "4/0/count"));
    EXPECT_THAT(Get(*w, states.arrays(0).handle()), ElementsAre(-0.5f, -1.0f));
    // Load a momentum of zero: the next step is plain SGD again.
    const uint64_t zero = Put(*w, {2}, {0, 0});
    EXPECT_OK(w->SetOptimizerStates({"4/0/0", "4/0/count"},
                                    {zero, states.arrays(1).handle()}));
    EXPECT_OK(w->Push("4", {Put(*w, {2}, {1, 1})}));
    EXPECT_OK(w->Pull("4", {out}));
    EXPECT_THAT(Get(*w, out), ElementsAre(0.0f, -0.5f));
    EXPECT_EQ(w->SetOptimizerStates({"4/zero"}, {zero}).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_OK(w->Close());
  }
  if (HasFailure()) ADD_FAILURE() << cluster->Logs();
}

}  // namespace
}  // namespace mxgrid::integration
