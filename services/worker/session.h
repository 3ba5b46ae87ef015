// Sessions of the worker (mxgrid.v1.Worker, worker.proto): what one client holds — arrays,
// executors and KVStores by handle — and the lease that frees it all when the client goes
// away. Free of gRPC; the service turns requests into these calls.
//
//   SessionTable table({.default_lease = absl::Seconds(60)});
//   std::shared_ptr<Session> s = table.Open(absl::ZeroDuration(), "alice");
//   MXGRID_ASSIGN_OR_RETURN(uint64_t h, s->AddArray(0, array));     // the worker picks h
//   MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> again, table.Find(s->id()));
//
// Handles: one id space per session for arrays, executors and stores. Ids the worker picks
// count up from 2^32; a client may choose its own below 2^32 (worker.proto explains why).
//
// Quotas and fairness: each session has a memory account inside the process's host-memory
// account (tensor::HostMemoryAccount()) and an engine flow (libs/engine/flow.h). A handler
// makes the flow current (`const engine::FlowScope scope = s->Enter();`) for the work it
// does: array storage it allocates is charged to the session, the operations it pushes are
// scheduled fairly against other sessions' and counted in the session's queue; handlers
// that queue work first call WaitForRoom. Each handle is charged kHandleOverheadBytes; the
// number of handles and executors is capped (SessionQuotas).
//
// Thread-safety: Session and SessionTable are thread-safe. A Session stays usable by calls
// that found it before it was closed or expired; its contents are released when the last
// such call drops it.
#ifndef MXGRID_SERVICES_WORKER_SESSION_H_
#define MXGRID_SERVICES_WORKER_SESSION_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "libs/base/memory_account.h"
#include "libs/base/mutex.h"
#include "libs/base/rate_limiter.h"
#include "libs/engine/flow.h"
#include "libs/executor/autograd.h"
#include "libs/executor/executor.h"
#include "libs/executor/random_source.h"
#include "libs/executor/sparse_invoke.h"
#include "libs/kvstore/optimizer.h"
#include "libs/kvstore/store.h"
#include "services/worker/session_kvstore.h"
#include "libs/shm/region.h"
#include "libs/tensor/ndarray.h"
#include "libs/tensor/sparse.h"

namespace mxgrid::services {

// The most shared-memory regions one session may hold at once (each is a mapping and a
// file descriptor of the worker; the process guards at most 4096, libs/shm).
inline constexpr int kMaxShmRegionsPerSession = 1024;

// The first handle the worker picks; client-chosen handles are in [1, kFirstWorkerHandle).
inline constexpr uint64_t kFirstWorkerHandle = uint64_t{1} << 32;

// An executor bound in a session, with the handles of its outputs.
// Memory one array handle costs besides its storage: the map node, the NDArray (storage
// reference, shape, dtype, offset) and allocator slack (measured ~200 bytes, rounded up).
inline constexpr int64_t kHandleOverheadBytes = 256;

// Per-session limits; 0 means none.
struct SessionQuotas {
  // Bytes charged to the session: its arrays' storage, handles and queued operations.
  int64_t max_memory_bytes = 0;
  int64_t max_handles = 0;
  int64_t max_executors = 0;
  // Operations queued on the engine and not yet finished, and the bytes they write.
  int64_t max_queued_ops = 0;
  int64_t max_queued_bytes = 0;
};

struct BoundExecutor {
  std::unique_ptr<executor::Executor> exec;
  std::vector<uint64_t> outputs;
  // Serializes Forward / Backward / Update calls on the executor (it is not thread-safe).
  base::Mutex mu;
  // Set by SetExecutorOptimizer; null until then.
  std::unique_ptr<kvstore::Optimizer> optimizer ABSL_GUARDED_BY(mu);
  // Set by SetExecutorKVStore (which clears `optimizer`): Update pushes the gradient of
  // each argument kv_args[i].first under key kv_args[i].second and pulls the stored value
  // back into the argument.
  std::shared_ptr<SessionKVStore> kvstore ABSL_GUARDED_BY(mu);
  std::vector<std::pair<size_t, std::string>> kv_args ABSL_GUARDED_BY(mu);
};

class Session {
 public:
  Session(std::string id, std::string client, absl::Duration lease,
          const SessionQuotas& quotas = {}, std::string peer = "",
          double calls_per_second = 0);
  // Gives the handles' charges back.
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const std::string& id() const { return id_; }
  const std::string& client() const { return client_; }
  absl::Duration lease() const { return lease_; }
  // Who opened it, as the worker identifies clients for --max_sessions_per_client (the
  // client certificate's name, else the peer's address without its port); "" when unknown.
  const std::string& peer() const { return peer_; }
  const SessionQuotas& quotas() const { return quotas_; }

  // Makes the session's flow current on this thread for the scope (see the file comment).
  [[nodiscard]] engine::FlowScope Enter() const { return engine::FlowScope(flow_); }
  const std::shared_ptr<engine::Flow>& flow() const { return flow_; }
  const std::shared_ptr<base::MemoryAccount>& memory() const { return memory_; }
  // The session's per-device random generators (mx.random.seed; thread-safe): shared with
  // its executors.
  const std::shared_ptr<executor::RandomSource>& random() const { return random_; }
  int64_t num_handles() const ABSL_LOCKS_EXCLUDED(mu_);
  // The session's autograd tape (mx.autograd; thread-safe): Invoke calls made while the
  // client records are recorded on it.
  executor::Tape& tape() { return tape_; }

  // Adds `array` under `handle`, or under a new worker-picked handle when `handle` is 0.
  // AlreadyExists for a handle in use; InvalidArgument for a chosen handle >= 2^32;
  // ResourceExhausted past the handle quota or when the handle's memory cannot be charged.
  absl::StatusOr<uint64_t> AddArray(uint64_t handle, tensor::NDArray array)
      ABSL_LOCKS_EXCLUDED(mu_);
  // AddArray of several, all or none: handles[i] (0: worker-picked) for arrays[i]; the
  // handles used.
  absl::StatusOr<std::vector<uint64_t>> AddArrays(absl::Span<const uint64_t> handles,
                                                  absl::Span<const tensor::NDArray> arrays)
      ABSL_LOCKS_EXCLUDED(mu_);
  // NotFound for an unknown handle (or one naming an executor or store).
  absl::StatusOr<tensor::NDArray> Array(uint64_t handle) const ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::vector<tensor::NDArray>> Arrays(absl::Span<const uint64_t> handles) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Sparse arrays (row_sparse, csr) share the handle space; Array/Arrays refuse them with
  // InvalidArgument. AddSparse as AddArray.
  absl::StatusOr<uint64_t> AddSparse(uint64_t handle, tensor::SparseNDArray array)
      ABSL_LOCKS_EXCLUDED(mu_);
  // InvalidArgument for a dense array's handle, NotFound for an unknown one.
  absl::StatusOr<tensor::SparseNDArray> Sparse(uint64_t handle) const ABSL_LOCKS_EXCLUDED(mu_);
  // Gives the sparse array under `handle` a new value (a call wrote it). NotFound unless
  // `handle` names a sparse array.
  absl::Status ReplaceSparse(uint64_t handle, tensor::SparseNDArray array)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Whether any of `handles` names a sparse array.
  bool HasSparse(absl::Span<const uint64_t> handles) const ABSL_LOCKS_EXCLUDED(mu_);
  // Arrays of any storage type; NotFound for an unknown handle.
  absl::StatusOr<std::vector<executor::AnyArray>> AnyArrays(
      absl::Span<const uint64_t> handles) const ABSL_LOCKS_EXCLUDED(mu_);
  // Drops every known handle of `handles` (arrays, and stores, which are closed); NotFound
  // naming the first unknown one (the known ones are dropped all the same).
  absl::Status Free(absl::Span<const uint64_t> handles) ABSL_LOCKS_EXCLUDED(mu_);
  // Every array with its handle, in handle order.
  std::vector<std::pair<uint64_t, tensor::NDArray>> ListArrays() const ABSL_LOCKS_EXCLUDED(mu_);
  // Bytes of the session's arrays; arrays sharing storage count once (the largest view).
  int64_t ArrayBytes() const ABSL_LOCKS_EXCLUDED(mu_);

  // ResourceExhausted past the executor quota.
  absl::StatusOr<uint64_t> AddExecutor(std::shared_ptr<BoundExecutor> exec)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::shared_ptr<BoundExecutor>> Executor(uint64_t handle) const
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status FreeExecutor(uint64_t handle) ABSL_LOCKS_EXCLUDED(mu_);

  uint64_t AddStore(std::shared_ptr<SessionKVStore> store) ABSL_LOCKS_EXCLUDED(mu_);
  // NotFound for an unknown handle.
  absl::StatusOr<std::shared_ptr<SessionKVStore>> Store(uint64_t handle) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Closes every store (dist stores leave their jobs; see SessionKVStore::Close). Called
  // when the session is closed or expires, and by Free for a store's handle; blocks up to
  // the stores' leave timeout.
  void CloseStores() ABSL_LOCKS_EXCLUDED(mu_);

  // Shared-memory regions (worker.proto RegisterShm) under worker-picked ids in the handle
  // space; each counts as a handle against the quota and its charge. The regions are
  // unmapped when removed or when the session goes (a copy in flight keeps its region).
  // ResourceExhausted past the handle quota or kMaxShmRegionsPerSession.
  absl::StatusOr<uint64_t> AddShmRegion(std::shared_ptr<const shm::Region> region)
      ABSL_LOCKS_EXCLUDED(mu_);
  // NotFound for an id this session did not register (another session's included).
  absl::StatusOr<std::shared_ptr<const shm::Region>> ShmRegion(uint64_t id) const
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status RemoveShmRegion(uint64_t id) ABSL_LOCKS_EXCLUDED(mu_);

  // Renews the lease from `now`; the time it runs out.
  void Touch(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Time expiry() const ABSL_LOCKS_EXCLUDED(mu_);
  // One call's share of the session's calls per second: false when it has none left.
  bool TakeCall(absl::Time now) { return calls_ == nullptr || calls_->TryTake(now); }

 private:
  uint64_t NextHandle() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The error for a handle that names no dense array (a sparse one, or nothing).
  absl::Status MissingArray(uint64_t handle) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // OK when a client may use `handle` (nonzero) for a new object.
  absl::Status CheckNewHandle(uint64_t handle) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Room for `n` more handles: the quota, then their memory (charged when OK).
  absl::Status ReserveHandles(int64_t n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string id_;
  const std::string client_;
  const std::string peer_;
  const std::unique_ptr<base::RateLimiter> calls_;  // null: no limit
  const absl::Duration lease_;
  const SessionQuotas quotas_;
  const std::shared_ptr<base::MemoryAccount> memory_;
  const std::shared_ptr<engine::Flow> flow_;
  const std::shared_ptr<executor::RandomSource> random_ =
      std::make_shared<executor::RandomSource>();
  executor::Tape tape_;
  mutable base::Mutex mu_;
  absl::Time expiry_ ABSL_GUARDED_BY(mu_);
  uint64_t next_handle_ ABSL_GUARDED_BY(mu_) = kFirstWorkerHandle;
  std::map<uint64_t, tensor::NDArray> arrays_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, tensor::SparseNDArray> sparse_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, std::shared_ptr<BoundExecutor>> executors_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, std::shared_ptr<SessionKVStore>> stores_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, std::shared_ptr<const shm::Region>> regions_ ABSL_GUARDED_BY(mu_);
};

struct SessionOptions {
  SessionQuotas quotas;
  // Sessions open at once on the worker, and per client (Session::peer()); 0: no limit.
  int64_t max_sessions = 0;
  int64_t max_sessions_per_client = 0;
  // Calls a session may make per second (bursts of up to one second's worth); 0: no limit.
  double calls_per_second = 0;
  // The lease of a session opened without one.
  absl::Duration default_lease = absl::Seconds(60);
  // The longest lease a client may ask for.
  absl::Duration max_lease = absl::Hours(24);
  // How often expired sessions are looked for (at most; at least every second).
  absl::Duration reap_interval = absl::Milliseconds(250);
  // Called on the reaper thread once everything a closed or expired session held has been
  // freed (its memory account is back to zero), e.g. to give cached memory back to the
  // system. May be null.
  std::function<void()> on_session_memory_released;
  // Called on the reaper thread every reap_interval with the number of sessions that made
  // a call in the last second (e.g. to share the cores among them). May be null.
  std::function<void(int)> on_active_sessions;
};

class SessionTable {
 public:
  // Starts a thread that frees expired sessions.
  explicit SessionTable(SessionOptions options);
  // Stops the thread and frees every session.
  ~SessionTable();
  SessionTable(const SessionTable&) = delete;
  SessionTable& operator=(const SessionTable&) = delete;

  // A new session with a random 128-bit id for the client `peer` (see Session::peer());
  // `lease` zero or negative means the default; it is capped at max_lease.
  // ResourceExhausted past max_sessions or max_sessions_per_client.
  absl::StatusOr<std::shared_ptr<Session>> Open(absl::Duration lease, std::string client,
                                                std::string peer = "")
      ABSL_LOCKS_EXCLUDED(mu_);
  // The session, its lease renewed: one call of the session. NotFound for an unknown,
  // closed or expired session; ResourceExhausted past the session's calls_per_second.
  absl::StatusOr<std::shared_ptr<Session>> Find(const std::string& id) ABSL_LOCKS_EXCLUDED(mu_);
  // Removes the session; its operations that have not started are skipped
  // (engine::Flow::Cancel). NotFound as Find.
  absl::Status Close(const std::string& id) ABSL_LOCKS_EXCLUDED(mu_);
  // Removes sessions whose lease ran out by `now` (their queued work is skipped as on
  // Close); how many.
  int ReapExpired(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);
  int size() const ABSL_LOCKS_EXCLUDED(mu_);
  // Every open session (for metrics).
  std::vector<std::shared_ptr<Session>> List() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void ReapLoop() ABSL_LOCKS_EXCLUDED(mu_);
  // Remembers a dropped session's memory until it drains (see on_session_memory_released).
  void WatchReleased(const Session& session) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Calls the hook if a watched session's memory has drained.
  void CheckReleased() ABSL_LOCKS_EXCLUDED(mu_);
  // Sessions touched since `since`.
  int CountActive(absl::Time since) const ABSL_LOCKS_EXCLUDED(mu_);

  const SessionOptions options_;
  mutable base::Mutex mu_;
  base::CondVar stop_cv_{&mu_};
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, std::shared_ptr<Session>> sessions_ ABSL_GUARDED_BY(mu_);
  std::vector<std::weak_ptr<base::MemoryAccount>> draining_ ABSL_GUARDED_BY(mu_);
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_){std::random_device{}()};  // session ids
  std::thread reaper_;
};

}  // namespace mxgrid::services

#endif  // MXGRID_SERVICES_WORKER_SESSION_H_
