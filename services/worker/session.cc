#include "services/worker/session.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "libs/base/quote.h"
#include "libs/base/status_macros.h"
#include "libs/tensor/allocator.h"
#include "spdlog/spdlog.h"

namespace mxgrid::services {

namespace {

// "session 1a2b3c4d" (the id's first 8 characters): how errors and metrics name a session.
std::string ShortName(const std::string& id) { return "session " + id.substr(0, 8); }

}  // namespace

Session::Session(std::string id, std::string client, absl::Duration lease,
                 const SessionQuotas& quotas, std::string peer, double calls_per_second)
    : id_(std::move(id)),
      client_(std::move(client)),
      peer_(std::move(peer)),
      calls_(calls_per_second > 0 ? std::make_unique<base::RateLimiter>(
                                        calls_per_second, std::max(1.0, calls_per_second))
                                  : nullptr),
      lease_(lease),
      quotas_(quotas),
      memory_(std::make_shared<base::MemoryAccount>(
          ShortName(id_) + " memory quota", quotas.max_memory_bytes,
          tensor::HostMemoryAccount(), "the worker's --session_memory_mb")),
      flow_(std::make_shared<engine::Flow>(
          ShortName(id_),
          engine::FlowLimits{.max_queued_ops = quotas.max_queued_ops,
                             .max_queued_bytes = quotas.max_queued_bytes},
          memory_)),
      expiry_(absl::Now() + lease) {}

Session::~Session() {
  // Arrays release their storage (and its charge) when their last reference goes.
  base::MutexLock lock(&mu_);
  memory_->Release(static_cast<int64_t>(arrays_.size() + sparse_.size() + regions_.size()) *
                   kHandleOverheadBytes);
}

uint64_t Session::NextHandle() { return next_handle_++; }

int64_t Session::num_handles() const {
  base::MutexLock lock(&mu_);
  return static_cast<int64_t>(arrays_.size() + sparse_.size());
}

absl::Status Session::ReserveHandles(int64_t n) {
  const int64_t have = static_cast<int64_t>(arrays_.size() + sparse_.size() + regions_.size());
  if (quotas_.max_handles > 0 && have + n > quotas_.max_handles) {
    return absl::ResourceExhaustedError(absl::StrCat(
        ShortName(id_), " holds ", have, " array handles; ", n, " more would pass its quota of ",
        quotas_.max_handles, " (free arrays you no longer need; the worker's "
        "--session_max_handles)"));
  }
  return memory_->Charge(n * kHandleOverheadBytes);
}

absl::Status Session::CheckNewHandle(uint64_t handle) const {
  if (handle >= kFirstWorkerHandle) {
    return absl::InvalidArgumentError(absl::StrCat(
        "handle ", handle, " is not below 2^32: clients choose handles in [1, 2^32)"));
  }
  if (arrays_.count(handle) || sparse_.count(handle) || executors_.count(handle) ||
      stores_.count(handle) || regions_.count(handle)) {
    return absl::AlreadyExistsError(absl::StrCat("handle ", handle, " is already in use"));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Session::AddArray(uint64_t handle, tensor::NDArray array) {
  base::MutexLock lock(&mu_);
  if (handle != 0) MXGRID_RETURN_IF_ERROR(CheckNewHandle(handle));
  MXGRID_RETURN_IF_ERROR(ReserveHandles(1));
  if (handle == 0) handle = NextHandle();
  arrays_.emplace(handle, std::move(array));
  return handle;
}

absl::StatusOr<std::vector<uint64_t>> Session::AddArrays(
    absl::Span<const uint64_t> handles, absl::Span<const tensor::NDArray> arrays) {
  if (handles.size() != arrays.size()) {
    return absl::InvalidArgumentError(absl::StrCat("got ", handles.size(), " handles for ",
                                                   arrays.size(), " arrays"));
  }
  base::MutexLock lock(&mu_);
  for (size_t i = 0; i < handles.size(); ++i) {
    if (handles[i] == 0) continue;
    MXGRID_RETURN_IF_ERROR(CheckNewHandle(handles[i]));
    if (std::find(handles.begin(), handles.begin() + i, handles[i]) != handles.begin() + i) {
      return absl::InvalidArgumentError(absl::StrCat("handle ", handles[i], " given twice"));
    }
  }
  MXGRID_RETURN_IF_ERROR(ReserveHandles(static_cast<int64_t>(handles.size())));
  std::vector<uint64_t> used(handles.begin(), handles.end());
  for (size_t i = 0; i < used.size(); ++i) {
    if (used[i] == 0) used[i] = NextHandle();
    arrays_.emplace(used[i], arrays[i]);
  }
  return used;
}

absl::Status Session::MissingArray(uint64_t handle) const {
  if (auto it = sparse_.find(handle); it != sparse_.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "array ", handle, " is ", tensor::StorageTypeName(it->second.stype()),
        "; this call takes dense arrays (convert it with cast_storage / tostype('default'))"));
  }
  return absl::NotFoundError(absl::StrCat("no array with handle ", handle, " in this session"));
}

absl::StatusOr<tensor::NDArray> Session::Array(uint64_t handle) const {
  base::MutexLock lock(&mu_);
  auto it = arrays_.find(handle);
  if (it == arrays_.end()) return MissingArray(handle);
  return it->second;
}

absl::StatusOr<uint64_t> Session::AddSparse(uint64_t handle, tensor::SparseNDArray array) {
  base::MutexLock lock(&mu_);
  if (handle != 0) MXGRID_RETURN_IF_ERROR(CheckNewHandle(handle));
  MXGRID_RETURN_IF_ERROR(ReserveHandles(1));
  if (handle == 0) handle = NextHandle();
  sparse_.emplace(handle, std::move(array));
  return handle;
}

absl::StatusOr<tensor::SparseNDArray> Session::Sparse(uint64_t handle) const {
  base::MutexLock lock(&mu_);
  auto it = sparse_.find(handle);
  if (it != sparse_.end()) return it->second;
  if (arrays_.count(handle)) {
    return absl::InvalidArgumentError(absl::StrCat("array ", handle, " is dense, not sparse"));
  }
  return absl::NotFoundError(absl::StrCat("no array with handle ", handle, " in this session"));
}

absl::Status Session::ReplaceSparse(uint64_t handle, tensor::SparseNDArray array) {
  tensor::SparseNDArray old;  // released outside the lock
  base::MutexLock lock(&mu_);
  auto it = sparse_.find(handle);
  if (it == sparse_.end()) {
    return absl::NotFoundError(absl::StrCat("no sparse array with handle ", handle));
  }
  old = std::exchange(it->second, std::move(array));
  return absl::OkStatus();
}

bool Session::HasSparse(absl::Span<const uint64_t> handles) const {
  base::MutexLock lock(&mu_);
  if (sparse_.empty()) return false;
  for (uint64_t h : handles) {
    if (sparse_.count(h)) return true;
  }
  return false;
}

absl::StatusOr<std::vector<executor::AnyArray>> Session::AnyArrays(
    absl::Span<const uint64_t> handles) const {
  base::MutexLock lock(&mu_);
  std::vector<executor::AnyArray> out;
  out.reserve(handles.size());
  for (uint64_t h : handles) {
    if (auto it = arrays_.find(h); it != arrays_.end()) {
      out.emplace_back(it->second);
    } else if (auto sp = sparse_.find(h); sp != sparse_.end()) {
      out.emplace_back(sp->second);
    } else {
      return absl::NotFoundError(absl::StrCat("no array with handle ", h, " in this session"));
    }
  }
  return out;
}

absl::StatusOr<std::vector<tensor::NDArray>> Session::Arrays(
    absl::Span<const uint64_t> handles) const {
  base::MutexLock lock(&mu_);
  std::vector<tensor::NDArray> out;
  out.reserve(handles.size());
  for (uint64_t h : handles) {
    auto it = arrays_.find(h);
    if (it == arrays_.end()) return MissingArray(h);
    out.push_back(it->second);
  }
  return out;
}

absl::Status Session::Free(absl::Span<const uint64_t> handles) {
  // Arrays are released outside the lock: the last reference may free memory.
  std::vector<tensor::NDArray> dropped;
  std::vector<tensor::SparseNDArray> dropped_sparse;
  std::vector<std::shared_ptr<SessionKVStore>> dropped_stores;
  absl::Status status;
  {
    base::MutexLock lock(&mu_);
    for (uint64_t h : handles) {
      if (auto store = stores_.find(h); store != stores_.end()) {
        dropped_stores.push_back(std::move(store->second));
        stores_.erase(store);
        continue;
      }
      if (auto sp = sparse_.find(h); sp != sparse_.end()) {
        dropped_sparse.push_back(std::move(sp->second));
        sparse_.erase(sp);
        continue;
      }
      auto it = arrays_.find(h);
      if (it == arrays_.end()) {
        if (status.ok()) {
          status = absl::NotFoundError(absl::StrCat("no array with handle ", h,
                                                    " in this session"));
        }
        continue;
      }
      dropped.push_back(std::move(it->second));
      arrays_.erase(it);
    }
  }
  memory_->Release(static_cast<int64_t>(dropped.size() + dropped_sparse.size()) *
                   kHandleOverheadBytes);
  for (const auto& store : dropped_stores) store->Close();  // dist: leaves the job
  return status;
}

std::vector<std::pair<uint64_t, tensor::NDArray>> Session::ListArrays() const {
  base::MutexLock lock(&mu_);
  return {arrays_.begin(), arrays_.end()};
}

int64_t Session::ArrayBytes() const {
  std::map<engine::VarHandle, int64_t> by_storage;
  base::MutexLock lock(&mu_);
  for (const auto& [h, a] : arrays_) {
    int64_t& bytes = by_storage[a.var()];
    bytes = std::max<int64_t>(bytes, static_cast<int64_t>(a.nbytes()));
  }
  for (const auto& [h, sp] : sparse_) {
    for (const tensor::NDArray* a : {&sp.data(), &sp.indices(), &sp.indptr()}) {
      if (a->is_none()) continue;
      int64_t& bytes = by_storage[a->var()];
      bytes = std::max<int64_t>(bytes, static_cast<int64_t>(a->nbytes()));
    }
  }
  int64_t total = 0;
  for (const auto& [v, bytes] : by_storage) total += bytes;
  return total;
}

absl::StatusOr<uint64_t> Session::AddExecutor(std::shared_ptr<BoundExecutor> exec) {
  base::MutexLock lock(&mu_);
  if (quotas_.max_executors > 0 &&
      static_cast<int64_t>(executors_.size()) >= quotas_.max_executors) {
    return absl::ResourceExhaustedError(absl::StrCat(
        ShortName(id_), " has ", executors_.size(), " bound executors, its quota (free "
        "executors you no longer need; the worker's --session_max_executors)"));
  }
  const uint64_t h = NextHandle();
  executors_.emplace(h, std::move(exec));
  return h;
}

absl::StatusOr<std::shared_ptr<BoundExecutor>> Session::Executor(uint64_t handle) const {
  base::MutexLock lock(&mu_);
  auto it = executors_.find(handle);
  if (it == executors_.end()) {
    return absl::NotFoundError(absl::StrCat("no executor with handle ", handle,
                                            " in this session"));
  }
  return it->second;
}

absl::Status Session::FreeExecutor(uint64_t handle) {
  std::shared_ptr<BoundExecutor> dropped;
  base::MutexLock lock(&mu_);
  auto it = executors_.find(handle);
  if (it == executors_.end()) {
    return absl::NotFoundError(absl::StrCat("no executor with handle ", handle,
                                            " in this session"));
  }
  dropped = std::move(it->second);  // destroyed after the lock is released
  executors_.erase(it);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Session::AddShmRegion(std::shared_ptr<const shm::Region> region) {
  base::MutexLock lock(&mu_);
  if (regions_.size() >= kMaxShmRegionsPerSession) {
    return absl::ResourceExhaustedError(absl::StrCat(
        ShortName(id_), " holds ", regions_.size(),
        " shared-memory regions, the most a session may; unregister some"));
  }
  MXGRID_RETURN_IF_ERROR(ReserveHandles(1));
  const uint64_t h = NextHandle();
  regions_.emplace(h, std::move(region));
  return h;
}

absl::StatusOr<std::shared_ptr<const shm::Region>> Session::ShmRegion(uint64_t id) const {
  base::MutexLock lock(&mu_);
  auto it = regions_.find(id);
  if (it == regions_.end()) {
    return absl::NotFoundError(absl::StrCat("no shared-memory region ", id,
                                            " in this session (register it first)"));
  }
  return it->second;
}

absl::Status Session::RemoveShmRegion(uint64_t id) {
  std::shared_ptr<const shm::Region> dropped;  // unmapped after the lock is released
  base::MutexLock lock(&mu_);
  auto it = regions_.find(id);
  if (it == regions_.end()) {
    return absl::NotFoundError(absl::StrCat("no shared-memory region ", id,
                                            " in this session"));
  }
  dropped = std::move(it->second);
  regions_.erase(it);
  memory_->Release(kHandleOverheadBytes);
  return absl::OkStatus();
}

uint64_t Session::AddStore(std::shared_ptr<SessionKVStore> store) {
  base::MutexLock lock(&mu_);
  const uint64_t h = NextHandle();
  stores_.emplace(h, std::move(store));
  return h;
}

void Session::CloseStores() {
  std::vector<std::shared_ptr<SessionKVStore>> stores;
  {
    base::MutexLock lock(&mu_);
    for (const auto& [h, store] : stores_) stores.push_back(store);
  }
  for (const auto& store : stores) store->Close();
}

absl::StatusOr<std::shared_ptr<SessionKVStore>> Session::Store(uint64_t handle) const {
  base::MutexLock lock(&mu_);
  auto it = stores_.find(handle);
  if (it == stores_.end()) {
    return absl::NotFoundError(absl::StrCat("no kvstore with handle ", handle,
                                            " in this session"));
  }
  return it->second;
}

void Session::Touch(absl::Time now) {
  base::MutexLock lock(&mu_);
  expiry_ = std::max(expiry_, now + lease_);
}

absl::Time Session::expiry() const {
  base::MutexLock lock(&mu_);
  return expiry_;
}

SessionTable::SessionTable(SessionOptions options) : options_(options) {
  reaper_ = std::thread([this] { ReapLoop(); });
}

SessionTable::~SessionTable() {
  {
    base::MutexLock lock(&mu_);
    stop_ = true;
    stop_cv_.SignalAll();
  }
  reaper_.join();
  std::map<std::string, std::shared_ptr<Session>> sessions;
  {
    base::MutexLock lock(&mu_);
    sessions.swap(sessions_);
  }
  // Work the sessions queued and did not start is of no use once the server is gone; dist
  // stores leave their jobs so that the other workers do not wait for this one.
  for (auto& [id, session] : sessions) {
    session->flow()->Cancel();
    session->CloseStores();
  }
}

absl::StatusOr<std::shared_ptr<Session>> SessionTable::Open(absl::Duration lease,
                                                            std::string client,
                                                            std::string peer) {
  if (lease <= absl::ZeroDuration()) lease = options_.default_lease;
  lease = std::min(lease, options_.max_lease);
  base::MutexLock lock(&mu_);
  if (options_.max_sessions > 0 &&
      static_cast<int64_t>(sessions_.size()) >= options_.max_sessions) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the worker holds its maximum of ", options_.max_sessions,
        " sessions (--max_sessions); close sessions you no longer use"));
  }
  if (options_.max_sessions_per_client > 0) {
    int64_t mine = 0;
    for (const auto& [unused, s] : sessions_) mine += s->peer() == peer;
    if (mine >= options_.max_sessions_per_client) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "client ", Quoted(peer), " holds its maximum of ", options_.max_sessions_per_client,
          " sessions (--max_sessions_per_client); close sessions you no longer use"));
    }
  }
  std::string id;
  do {
    id = absl::StrFormat("%016x%016x", rng_(), rng_());
  } while (sessions_.count(id));
  auto session = std::make_shared<Session>(id, std::move(client), lease, options_.quotas,
                                           std::move(peer), options_.calls_per_second);
  sessions_.emplace(id, session);
  spdlog::info("session {} opened for {} with a {} lease", id, Quoted(session->client()),
             absl::FormatDuration(lease));
  return session;
}

absl::StatusOr<std::shared_ptr<Session>> SessionTable::Find(const std::string& id) {
  const absl::Time now = absl::Now();
  base::MutexLock lock(&mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end() || it->second->expiry() <= now) {
    return absl::NotFoundError(absl::StrCat(
        "no session ", Quoted(id), " on this worker (never opened, closed, or its lease ran "
        "out; open a new one)"));
  }
  it->second->Touch(now);
  if (!it->second->TakeCall(now)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        ShortName(id), " makes more than its ", options_.calls_per_second,
        " calls per second (--session_calls_per_second); retry with backoff"));
  }
  return it->second;
}

absl::Status SessionTable::Close(const std::string& id) {
  std::shared_ptr<Session> dropped;  // released after the lock
  {
    base::MutexLock lock(&mu_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) {
      return absl::NotFoundError(absl::StrCat("no session ", Quoted(id), " on this worker"));
    }
    dropped = std::move(it->second);
    sessions_.erase(it);
    WatchReleased(*dropped);
    dropped->flow()->Cancel();  // its queued work is of no use to anyone now
  }
  dropped->CloseStores();  // dist stores leave their jobs (outside the lock: it may block)
  spdlog::info("session {} closed", id);
  return absl::OkStatus();
}

int SessionTable::ReapExpired(absl::Time now) {
  std::vector<std::shared_ptr<Session>> dropped;  // released after the lock
  {
    base::MutexLock lock(&mu_);
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      if (it->second->expiry() <= now) {
        spdlog::info("session {} of {} expired; freeing its {} arrays", it->first,
                   Quoted(it->second->client()), it->second->ListArrays().size());
        WatchReleased(*it->second);
        it->second->flow()->Cancel();
        dropped.push_back(std::move(it->second));
        it = sessions_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const auto& session : dropped) session->CloseStores();  // dist: leave their jobs
  return static_cast<int>(dropped.size());
}

int SessionTable::size() const {
  base::MutexLock lock(&mu_);
  return static_cast<int>(sessions_.size());
}

std::vector<std::shared_ptr<Session>> SessionTable::List() const {
  base::MutexLock lock(&mu_);
  std::vector<std::shared_ptr<Session>> out;
  for (const auto& [id, s] : sessions_) out.push_back(s);
  return out;
}

void SessionTable::ReapLoop() {
  const absl::Duration interval = std::min(options_.reap_interval, absl::Seconds(1));
  while (true) {
    {
      base::MutexLock lock(&mu_);
      if (!stop_) stop_cv_.WaitFor(absl::ToChronoNanoseconds(interval));
      if (stop_) return;
    }
    const absl::Time now = absl::Now();
    ReapExpired(now);
    CheckReleased();
    if (options_.on_active_sessions) {
      options_.on_active_sessions(CountActive(now - absl::Seconds(1)));
    }
  }
}

int SessionTable::CountActive(absl::Time since) const {
  base::MutexLock lock(&mu_);
  int active = 0;
  for (const auto& [id, s] : sessions_) {
    if (s->expiry() - s->lease() > since) ++active;  // Touch sets expiry = last call + lease
  }
  return active;
}

void SessionTable::WatchReleased(const Session& session) {
  if (options_.on_session_memory_released) draining_.push_back(session.memory());
}

void SessionTable::CheckReleased() {
  bool released = false;
  {
    base::MutexLock lock(&mu_);
    for (auto it = draining_.begin(); it != draining_.end();) {
      const std::shared_ptr<base::MemoryAccount> account = it->lock();
      if (account == nullptr || account->used() == 0) {
        released = true;
        it = draining_.erase(it);
      } else {
        ++it;
      }
    }
  }
  if (released) options_.on_session_memory_released();
}

}  // namespace mxgrid::services
