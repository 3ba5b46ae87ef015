#include "services/worker/session_kvstore.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "libs/base/quote.h"
#include "libs/base/status_macros.h"
#include "libs/engine/engine.h"

namespace mxgrid::services {
namespace {

using kvstore::client::PartState;
using tensor::NDArray;
using tensor::SparseNDArray;

bool OnOneDevice(const std::vector<NDArray>& values) {
  for (const NDArray& v : values) {
    if (v.context() != values[0].context()) return false;
  }
  return true;
}

// The parts of a state name "<key>/<part>/<i>" or "<key>/<part>/count" (keys may contain
// '/'); item -1 for count.
struct StateName {
  std::string key;
  int part = 0;
  int item = -1;
};

absl::StatusOr<StateName> ParseStateName(const std::string& name) {
  const size_t last = name.rfind('/');
  const size_t mid = last == std::string::npos || last == 0 ? std::string::npos
                                                            : name.rfind('/', last - 1);
  StateName out;
  bool ok = mid != std::string::npos && mid > 0;
  if (ok) {
    out.key = name.substr(0, mid);
    const std::string part = name.substr(mid + 1, last - mid - 1);
    const std::string item = name.substr(last + 1);
    ok = absl::SimpleAtoi(part, &out.part) && out.part >= 0 &&
         (item == "count" || (absl::SimpleAtoi(item, &out.item) && out.item >= 0));
    if (item == "count") out.item = -1;
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "optimizer state name ", Quoted(name),
        " is not \"<key>/<part>/<i>\" or \"<key>/<part>/count\""));
  }
  return out;
}

// Groups named arrays into per-(key, part) states; the arrays copied to the CPU and waited
// for (the shard transport reads them directly). InvalidArgument for a state without its
// count or with a gap in its arrays.
absl::StatusOr<std::vector<PartState>> GroupStates(
    const std::vector<std::pair<std::string, NDArray>>& named, absl::Time deadline) {
  std::map<std::pair<std::string, int>, std::map<int, NDArray>> grouped;
  for (const auto& [name, array] : named) {
    MXGRID_ASSIGN_OR_RETURN(StateName n, ParseStateName(name));
    if (!grouped[{n.key, n.part}].emplace(n.item, array).second) {
      return absl::InvalidArgumentError(absl::StrCat("optimizer state ", Quoted(name),
                                                     " given twice"));
    }
  }
  std::vector<PartState> states;
  for (auto& [id, items] : grouped) {
    PartState s{.key = id.first, .part = id.second};
    auto count = items.find(-1);
    if (count == items.end() || count->second.size() != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "optimizer state of ", Quoted(id.first), " part ", id.second,
          " needs \"<key>/<part>/count\", a one-element array"));
    }
    MXGRID_ASSIGN_OR_RETURN(std::vector<double> c, count->second.ToVector<double>());
    s.update_count = static_cast<int64_t>(c[0]);
    int expect = 0;
    for (auto& [item, array] : items) {
      if (item < 0) continue;
      if (item != expect++) {
        return absl::InvalidArgumentError(absl::StrCat("optimizer state of ", Quoted(id.first),
                                                       " part ", id.second, " lacks array ",
                                                       expect - 1));
      }
      MXGRID_ASSIGN_OR_RETURN(NDArray copy, array.CopyTo(Context::Cpu()));
      MXGRID_RETURN_IF_ERROR(engine::Get()->WaitForVarUntil(copy.var(), deadline));
      s.arrays.push_back(std::move(copy));
    }
    states.push_back(std::move(s));
  }
  return states;
}

}  // namespace

absl::StatusOr<NDArray> SumOnCpu(const std::vector<NDArray>& values) {
  MXGRID_ASSIGN_OR_RETURN(NDArray total, values[0].CopyTo(Context::Cpu()));
  for (size_t i = 1; i < values.size(); ++i) {
    NDArray v = values[i];
    if (v.context() != total.context()) {
      MXGRID_ASSIGN_OR_RETURN(v, v.CopyTo(total.context()));
    }
    MXGRID_RETURN_IF_ERROR(tensor::AddInPlace(total, v));
  }
  return total;
}

absl::StatusOr<NDArray> SessionKVStore::LocalValue(const std::string& key) const {
  if (dist_ != nullptr) {
    return absl::FailedPreconditionError("kvstore: a dist store's values live on the shards");
  }
  return local_->Value(key);
}

SessionKVStore::SessionKVStore(std::string type,
                               std::unique_ptr<kvstore::client::DistStore> dist)
    : type_(std::move(type)),
      dist_(std::move(dist)),
      local_(dist_ == nullptr
                 ? std::make_unique<kvstore::Store>(kvstore::StoreOptions{1, /*sync=*/false})
                 : nullptr) {}

std::shared_ptr<SessionKVStore> SessionKVStore::Local(std::string type) {
  return std::shared_ptr<SessionKVStore>(new SessionKVStore(std::move(type), nullptr));
}

std::shared_ptr<SessionKVStore> SessionKVStore::Dist(
    std::string type, std::unique_ptr<kvstore::client::DistStore> dist) {
  return std::shared_ptr<SessionKVStore>(new SessionKVStore(std::move(type), std::move(dist)));
}

void SessionKVStore::Close() {
  if (dist_ != nullptr) dist_->Close();
}

std::shared_ptr<kvstore::Optimizer> SessionKVStore::optimizer() const {
  base::MutexLock lock(&mu_);
  return optimizer_;
}


absl::Status SessionKVStore::Init(const std::vector<std::pair<std::string, NDArray>>& pairs,
                                  absl::Time deadline) {
  if (dist_ != nullptr) return dist_->Init(pairs, deadline);
  for (const auto& [key, value] : pairs) {
    MXGRID_RETURN_IF_ERROR(local_->Init(key, value));
    ApplyMultipliers(key);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::pair<Shape, DType>> SessionKVStore::Meta(const std::string& key) const {
  if (dist_ != nullptr) {
    MXGRID_ASSIGN_OR_RETURN(kvstore::client::DistStore::KeyMeta m, dist_->Meta(key));
    return std::make_pair(m.shape, m.dtype);
  }
  MXGRID_ASSIGN_OR_RETURN(kvstore::Store::KeyMeta m, local_->Meta(key));
  return std::make_pair(m.shape, m.dtype);
}

absl::Status SessionKVStore::LocalPush(const std::string& key,
                                       const std::vector<NDArray>& values) {
  std::shared_ptr<kvstore::Optimizer> opt = optimizer();
  if (opt == nullptr) {
    // The store sums values of one device itself; others are gathered on the CPU first.
    if (OnOneDevice(values)) return local_->Push(key, /*rank=*/0, values);
    MXGRID_ASSIGN_OR_RETURN(NDArray merged, SumOnCpu(values));
    return local_->Push(key, /*rank=*/0, {merged});
  }
  MXGRID_ASSIGN_OR_RETURN(kvstore::Store::KeyMeta meta, local_->Meta(key));
  for (const NDArray& v : values) {
    if (v.is_none() || v.shape() != meta.shape || v.dtype() != meta.dtype) {
      return absl::InvalidArgumentError(absl::StrCat(
          "kvstore push: key ", Quoted(key), " holds ", meta.shape.ToString(), " ",
          DTypeName(meta.dtype), ", got ",
          v.is_none() ? std::string("a none array")
                      : absl::StrCat(v.shape().ToString(), " ", DTypeName(v.dtype()))));
    }
  }
  NDArray merged = values[0];
  if (values.size() > 1 || merged.context() != Context::Cpu()) {
    MXGRID_ASSIGN_OR_RETURN(merged, SumOnCpu(values));
  }
  MXGRID_ASSIGN_OR_RETURN(int index, local_->KeyIndex(key));
  MXGRID_ASSIGN_OR_RETURN(NDArray stored, local_->Value(key));
  return opt->Update(index, stored, merged);
}

absl::Status SessionKVStore::Push(const std::string& key, const std::vector<NDArray>& values) {
  if (values.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("kvstore push: key ", Quoted(key), " has no values"));
  }
  if (dist_ != nullptr) return dist_->Push(key, values);
  return LocalPush(key, values);
}

absl::Status SessionKVStore::PushRowSparse(const std::string& key,
                                           const std::vector<SparseNDArray>& values) {
  if (values.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("kvstore push: key ", Quoted(key), " has no values"));
  }
  MXGRID_ASSIGN_OR_RETURN(auto meta, Meta(key));
  std::vector<SparseNDArray> on_cpu;
  for (const SparseNDArray& v : values) {
    if (v.stype() != tensor::StorageType::kRowSparse || v.shape() != meta.first ||
        v.dtype() != meta.second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "kvstore push: key ", Quoted(key), " holds ", meta.first.ToString(), " ",
          DTypeName(meta.second), ", got ", tensor::StorageTypeName(v.stype()), " ",
          v.shape().ToString(), " ", DTypeName(v.dtype())));
    }
    if (v.context() == Context::Cpu()) {
      on_cpu.push_back(v);
      continue;
    }
    MXGRID_ASSIGN_OR_RETURN(on_cpu.emplace_back(),
                            tensor::CopyTo(v, Context::Cpu(), v.dtype()));
  }
  MXGRID_ASSIGN_OR_RETURN(SparseNDArray merged, tensor::SumRowSparse(on_cpu));
  if (dist_ != nullptr) {
    // The rows go to the shards as the pieces each part holds.
    MXGRID_ASSIGN_OR_RETURN(std::vector<int64_t> rows, merged.indices().ToVector<int64_t>());
    return dist_->PushRows(key, std::move(rows), merged.data());
  }
  std::shared_ptr<kvstore::Optimizer> opt = optimizer();
  if (opt == nullptr) {
    // The overwrite: the sum as a dense array.
    MXGRID_ASSIGN_OR_RETURN(NDArray dense, tensor::ToDense(merged));
    return local_->Push(key, /*rank=*/0, {dense});
  }
  MXGRID_ASSIGN_OR_RETURN(int index, local_->KeyIndex(key));
  MXGRID_ASSIGN_OR_RETURN(NDArray stored, local_->Value(key));
  return opt->UpdateRows(index, stored, merged.indices(), merged.data());
}

absl::StatusOr<SparseNDArray> SessionKVStore::PullRows(const std::string& key,
                                                       const NDArray& row_ids) {
  MXGRID_ASSIGN_OR_RETURN(auto meta, Meta(key));
  const Shape& shape = meta.first;
  if (shape.ndim() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kvstore row_sparse_pull: key ", Quoted(key), " holds a 0-d array, which has no rows"));
  }
  if (dist_ == nullptr) {
    // The stored array itself: the gather is ordered after its pending updates.
    MXGRID_ASSIGN_OR_RETURN(NDArray value, local_->Value(key));
    return tensor::RetainRows(value, row_ids);
  }
  // Only the rows' pieces come from the shards.
  MXGRID_ASSIGN_OR_RETURN(std::vector<int64_t> rows, tensor::SortedRowIds(row_ids, shape[0]));
  Shape data_shape = shape;
  data_shape[0] = static_cast<int64_t>(rows.size());
  MXGRID_ASSIGN_OR_RETURN(NDArray data, NDArray::Empty(data_shape, Context::Cpu(), meta.second));
  MXGRID_ASSIGN_OR_RETURN(NDArray ids, NDArray::FromVector<int64_t>(
                                           Shape{static_cast<int64_t>(rows.size())}, rows));
  MXGRID_RETURN_IF_ERROR(dist_->PullRows(key, std::move(rows), data));
  return SparseNDArray::FromParts(tensor::StorageType::kRowSparse, shape, std::move(data),
                                  {std::move(ids)});
}

absl::Status SessionKVStore::Pull(const std::string& key, const std::vector<NDArray>& outs,
                                  absl::Time deadline) {
  if (dist_ != nullptr) return dist_->Pull(key, outs);
  for (const NDArray& out : outs) MXGRID_RETURN_IF_ERROR(local_->Pull(key, 0, out, deadline));
  return absl::OkStatus();
}

absl::Status SessionKVStore::PushPull(absl::Span<const std::string> keys,
                                      absl::Span<const std::vector<NDArray>> grads,
                                      absl::Span<const std::vector<NDArray>> weights) {
  if (dist_ != nullptr) return dist_->PushPullList(keys, grads, weights);
  for (size_t i = 0; i < keys.size(); ++i) {
    MXGRID_RETURN_IF_ERROR(LocalPush(keys[i], grads[i]));
    // The copies are ordered after the update by the stored array's variable: no wait.
    MXGRID_ASSIGN_OR_RETURN(NDArray stored, local_->Value(keys[i]));
    for (const NDArray& weight : weights[i]) MXGRID_RETURN_IF_ERROR(stored.CopyTo(weight));
  }
  return absl::OkStatus();
}

absl::Status SessionKVStore::Barrier(absl::Time deadline) {
  if (dist_ != nullptr) return dist_->Barrier(deadline);
  return absl::OkStatus();
}

absl::Status SessionKVStore::SetOptimizer(const std::string& name,
                                          const std::map<std::string, std::string>& params,
                                          const kvstore::KeyMultipliers& mults,
                                          absl::Time deadline) {
  if (dist_ != nullptr) return dist_->SetOptimizer(name, params, mults, deadline);
  MXGRID_RETURN_IF_ERROR(mults.Validate());
  MXGRID_ASSIGN_OR_RETURN(std::unique_ptr<kvstore::Optimizer> opt,
                          kvstore::Optimizer::Create(name, params));
  auto shared_mults = std::make_shared<const kvstore::KeyMultipliers>(mults);
  std::shared_ptr<kvstore::Optimizer> installed = std::move(opt);
  {
    base::MutexLock lock(&mu_);
    optimizer_ = installed;
    mults_ = shared_mults;
  }
  // The keys there now; Init applies them to keys initialized later (ApplyTo is idempotent,
  // so a key initialized meanwhile may get them twice, never not at all).
  for (const std::string& key : local_->Keys()) ApplyMultipliers(key);
  return absl::OkStatus();
}

void SessionKVStore::ApplyMultipliers(const std::string& key) {
  std::shared_ptr<kvstore::Optimizer> opt;
  std::shared_ptr<const kvstore::KeyMultipliers> mults;
  {
    base::MutexLock lock(&mu_);
    opt = optimizer_;
    mults = mults_;
  }
  if (opt == nullptr || mults == nullptr || mults->empty()) return;
  absl::StatusOr<int> index = local_->KeyIndex(key);
  if (index.ok()) mults->ApplyTo(opt.get(), *index, key);
}

absl::StatusOr<std::vector<std::pair<std::string, NDArray>>>
SessionKVStore::GetOptimizerStates(absl::Time deadline) {
  std::vector<PartState> states;
  if (dist_ != nullptr) {
    MXGRID_ASSIGN_OR_RETURN(states, dist_->GetOptimizerStates(deadline));
  } else {
    std::shared_ptr<kvstore::Optimizer> opt = optimizer();
    if (opt == nullptr) {
      return absl::FailedPreconditionError(
          "kvstore: no optimizer set (call set_optimizer before saving its states)");
    }
    MXGRID_ASSIGN_OR_RETURN(std::vector<kvstore::OptimizerIndexState> by_index,
                            opt->ExportStates());
    std::map<int, std::string> key_of;
    for (const std::string& key : local_->Keys()) {
      MXGRID_ASSIGN_OR_RETURN(int index, local_->KeyIndex(key));
      key_of[index] = key;
    }
    for (kvstore::OptimizerIndexState& s : by_index) {
      auto it = key_of.find(s.index);
      if (it == key_of.end()) continue;  // an index no key has (cannot happen via Push)
      states.push_back(PartState{.key = it->second, .part = 0, .index = s.index,
                                 .update_count = s.update_count, .arrays = std::move(s.arrays)});
    }
  }
  std::vector<std::pair<std::string, NDArray>> named;
  for (PartState& s : states) {
    const std::string prefix = absl::StrCat(s.key, "/", s.part, "/");
    for (size_t i = 0; i < s.arrays.size(); ++i) {
      named.emplace_back(absl::StrCat(prefix, i), std::move(s.arrays[i]));
    }
    MXGRID_ASSIGN_OR_RETURN(NDArray count, NDArray::FromVector<int64_t>(
                                               Shape{1}, absl::MakeConstSpan(&s.update_count, 1)));
    named.emplace_back(absl::StrCat(prefix, "count"), std::move(count));
  }
  return named;
}

absl::Status SessionKVStore::SetOptimizerStates(
    const std::vector<std::pair<std::string, NDArray>>& named, absl::Time deadline) {
  MXGRID_ASSIGN_OR_RETURN(std::vector<PartState> states, GroupStates(named, deadline));
  if (dist_ != nullptr) return dist_->SetOptimizerStates(std::move(states), deadline);
  std::shared_ptr<kvstore::Optimizer> opt = optimizer();
  if (opt == nullptr) {
    return absl::FailedPreconditionError(
        "kvstore: no optimizer set (call set_optimizer before loading its states)");
  }
  for (PartState& s : states) {
    if (s.part != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "optimizer state of ", Quoted(s.key), " part ", s.part,
          ": a local store keeps one part (0) per key"));
    }
    MXGRID_ASSIGN_OR_RETURN(kvstore::Store::KeyMeta meta, local_->Meta(s.key));
    MXGRID_ASSIGN_OR_RETURN(int index, local_->KeyIndex(s.key));
    MXGRID_RETURN_IF_ERROR(opt->ImportState(
        kvstore::OptimizerIndexState{.index = index, .update_count = s.update_count,
                                     .arrays = std::move(s.arrays)},
        meta.shape, meta.dtype));
  }
  return absl::OkStatus();
}

}  // namespace mxgrid::services
