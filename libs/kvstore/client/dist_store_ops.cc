// DistStore: Push, Pull and PushPull as engine operations whose shard calls complete them.
#include <functional>
#include <memory>
#include <set>
#include <string_view>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/base/quote.h"
#include "libs/base/status_macros.h"
#include "libs/engine/engine.h"
#include "libs/kvstore/client/dist_store.h"
#include "libs/kvstore/client/internal/completion.h"
#include "libs/kvstore/client/internal/key.h"

namespace mxgrid::kvstore::client {
namespace {

using tensor::NDArray;

// The sum of `values` in a new array on the CPU (values may live on any device).
absl::StatusOr<NDArray> SumOnCpu(absl::Span<const NDArray> values) {
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

// 1-D views of `array`'s flattened elements, one per part.
absl::StatusOr<std::vector<NDArray>> PartViews(const NDArray& array,
                                               const std::vector<PartRange>& parts) {
  MXGRID_ASSIGN_OR_RETURN(NDArray flat, array.Reshape(Shape{array.size()}));
  std::vector<NDArray> views;
  for (const PartRange& p : parts) {
    MXGRID_ASSIGN_OR_RETURN(NDArray v, flat.Slice(p.begin, p.end));
    views.push_back(std::move(v));
  }
  return views;
}

// `values` checked against the key and summed into one CPU array (the value itself when it
// is a single CPU array).
absl::StatusOr<NDArray> MergedValue(const DistStore::Key& k, absl::Span<const NDArray> values) {
  if (values.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("dist kvstore push: key ", Quoted(k.name), " has no values"));
  }
  for (const NDArray& v : values) {
    if (v.is_none() || v.shape() != k.meta.shape || v.dtype() != k.meta.dtype) {
      return absl::InvalidArgumentError(absl::StrCat(
          "dist kvstore push: key ", Quoted(k.name), " holds ", k.meta.shape.ToString(), " ",
          DTypeName(k.meta.dtype), ", got ",
          v.is_none() ? std::string("a none array")
                      : absl::StrCat(v.shape().ToString(), " ", DTypeName(v.dtype()))));
    }
  }
  NDArray merged = values[0];
  if (values.size() > 1 || merged.context() != Context::Cpu()) {
    MXGRID_ASSIGN_OR_RETURN(merged, SumOnCpu(values));
  }
  return merged;
}

// OK when `outs` may receive the key's value (any dtype: values are converted).
absl::Status CheckOuts(const DistStore::Key& k, absl::Span<const NDArray> outs) {
  if (outs.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("dist kvstore pull: key ", Quoted(k.name), " has no out arrays"));
  }
  for (const NDArray& out : outs) {
    if (out.is_none() || out.shape() != k.meta.shape) {
      return absl::InvalidArgumentError(absl::StrCat(
          "dist kvstore pull: key ", Quoted(k.name), " holds ", k.meta.shape.ToString(),
          ", the out array is ", out.is_none() ? std::string("none") : out.shape().ToString()));
    }
  }
  return absl::OkStatus();
}

// Where a pull into `outs` lands: outs[0] itself when it is the only out, on the CPU and of
// the key's dtype; otherwise a new CPU buffer of the key's dtype, copied into each out.
absl::StatusOr<NDArray> PullTarget(const DistStore::Key& k, absl::Span<const NDArray> outs) {
  if (outs.size() == 1 && outs[0].context().is_cpu() && outs[0].dtype() == k.meta.dtype) {
    return outs[0];
  }
  return NDArray::Empty(k.meta.shape, Context::Cpu(), k.meta.dtype);
}

// Copies `target` into each of `outs` unless it is outs[0] (see PullTarget).
absl::Status CopyToOuts(const NDArray& target, absl::Span<const NDArray> outs) {
  if (outs.size() == 1 && target.var() == outs[0].var()) return absl::OkStatus();
  for (const NDArray& out : outs) MXGRID_RETURN_IF_ERROR(target.CopyTo(out));
  return absl::OkStatus();
}

// Records the outcome of a PushPull's shard calls for the operation that reports it: the
// error of an earlier failed Push of the key first (as the Pull after it would report it),
// else `s`.
void KeepPushPullError(DistStore::Key& k, absl::Status s) {
  base::MutexLock lock(&k.mu);
  absl::Status push_error = std::exchange(k.push_error, absl::OkStatus());
  if (!push_error.ok()) {
    s = absl::Status(push_error.code(), absl::StrCat("the push before this pull failed: ",
                                                     push_error.message()));
  }
  k.push_pull_error = std::move(s);
}

// True when no key appears twice in `keys`.
bool Distinct(absl::Span<const std::string> keys) {
  std::set<std::string_view> seen;
  for (const std::string& k : keys) {
    if (!seen.insert(k).second) return false;
  }
  return true;
}

// One engine operation over a list of keys (PushList / PullList): pushes read the merged
// values and write the keys' variables; pulls read the keys' variables and write the
// targets. Each part goes to its shard through `call`; `key_done(key, status)` turns a key's
// outcome into the status it contributes, and the operation completes with the first error.
class ListOp {
 public:
  using PartCall = std::function<void(ShardConnection&, const KeyRef&, const NDArray&,
                                      absl::Time, Done)>;
  using KeyDone = std::function<absl::Status(DistStore::Key&, absl::Status)>;

  void Add(std::shared_ptr<DistStore::Key> key, std::vector<NDArray> views,
           engine::VarHandle array_var, bool pull) {
    (pull ? writes_ : reads_).push_back(array_var);
    (pull ? reads_ : writes_).push_back(key->var);
    items_.push_back({std::move(key), std::move(views)});
  }

  void Run(std::shared_ptr<internal::ShardSet> shards, const Membership& membership,
           absl::Duration timeout, const char* name, PartCall call, KeyDone key_done) {
    engine::PushOptions push_options;
    push_options.property = engine::FnProperty::kAsync;
    push_options.name = name;
    engine::Get()->PushAsync(
        [shards = std::move(shards), items = std::move(items_), membership, timeout, call,
         key_done](const engine::RunContext&, engine::CallbackOnComplete on_complete) {
          Done all = internal::FanIn(static_cast<int>(items.size()),
                                     [on_complete](absl::Status s) { on_complete(s); });
          const absl::Time deadline = absl::Now() + timeout;
          internal::ShardSet::Held held(*shards);  // one batch per shard
          for (const Item& item : items) {
            internal::ForEachPart(
                *shards, *item.key, membership, deadline,
                [views = item.views, call](ShardConnection& c, const KeyRef& ref, size_t i,
                                           absl::Time d, Done done) {
                  call(c, ref, views[i], d, std::move(done));
                },
                [k = item.key, all, key_done](absl::Status s) { all(key_done(*k, std::move(s))); });
          }
        },
        Context::Cpu(), reads_, writes_, push_options);
  }

 private:
  struct Item {
    std::shared_ptr<DistStore::Key> key;
    std::vector<NDArray> views;
  };
  std::vector<Item> items_;
  std::vector<engine::VarHandle> reads_, writes_;
};

}  // namespace

absl::Status DistStore::Push(const std::string& key, absl::Span<const NDArray> values) {
  MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Key> k, FindKey(key));
  MXGRID_ASSIGN_OR_RETURN(NDArray merged, MergedValue(*k, values));
  MXGRID_ASSIGN_OR_RETURN(std::vector<NDArray> views, PartViews(merged, k->meta.parts));
  const engine::VarHandle reads[] = {merged.var()};
  const engine::VarHandle writes[] = {k->var};
  engine::PushOptions push_options;
  push_options.property = engine::FnProperty::kAsync;
  push_options.name = "kvstore_push";
  engine::Get()->PushAsync(
      [shards = shards_, k, views = std::move(views), membership = options_.membership,
       timeout = options_.call_timeout](const engine::RunContext&,
                                        engine::CallbackOnComplete on_complete) {
        // The push's error is kept for the key's next pull; the key's variable stays clean
        // so that later pushes and pulls still run.
        internal::ForEachPart(
            *shards, *k, membership, absl::Now() + timeout,
            [views](ShardConnection& c, const KeyRef& ref, size_t i, absl::Time d, Done done) {
              c.Push(ref, views[i], d, std::move(done));
            },
            [k, on_complete](absl::Status s) {
              if (!s.ok()) {
                base::MutexLock lock(&k->mu);
                if (k->push_error.ok()) k->push_error = std::move(s);
              }
              on_complete(absl::OkStatus());
            });
      },
      Context::Cpu(), reads, writes, push_options);
  return absl::OkStatus();
}

absl::Status DistStore::Pull(const std::string& key, absl::Span<const NDArray> outs) {
  MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Key> k, FindKey(key));
  MXGRID_RETURN_IF_ERROR(CheckOuts(*k, outs));
  MXGRID_ASSIGN_OR_RETURN(NDArray target, PullTarget(*k, outs));
  MXGRID_ASSIGN_OR_RETURN(std::vector<NDArray> views, PartViews(target, k->meta.parts));
  const engine::VarHandle reads[] = {k->var};
  const engine::VarHandle writes[] = {target.var()};
  engine::PushOptions push_options;
  push_options.property = engine::FnProperty::kAsync;
  push_options.name = "kvstore_pull";
  engine::Get()->PushAsync(
      [shards = shards_, k, views = std::move(views), membership = options_.membership,
       timeout = options_.pull_timeout](const engine::RunContext&,
                                        engine::CallbackOnComplete on_complete) {
        if (absl::Status s = internal::TakePushError(*k); !s.ok()) {
          on_complete(std::move(s));
          return;
        }
        internal::ForEachPart(
            *shards, *k, membership, absl::Now() + timeout,
            [views](ShardConnection& c, const KeyRef& ref, size_t i, absl::Time d, Done done) {
              c.Pull(ref, views[i], d, std::move(done));
            },
            [on_complete](absl::Status s) { on_complete(s); });
      },
      Context::Cpu(), reads, writes, push_options);
  return CopyToOuts(target, outs);
}

absl::Status DistStore::PushPull(const std::string& key, absl::Span<const NDArray> values,
                                 absl::Span<const NDArray> outs) {
  const std::string keys[] = {key};
  const std::vector<NDArray> value_lists[] = {{values.begin(), values.end()}};
  const std::vector<NDArray> out_lists[] = {{outs.begin(), outs.end()}};
  return PushPullKeys(keys, value_lists, out_lists);
}

absl::Status DistStore::PushPullList(absl::Span<const std::string> keys,
                                     absl::Span<const std::vector<NDArray>> values,
                                     absl::Span<const std::vector<NDArray>> outs) {
  if (keys.size() != values.size() || keys.size() != outs.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("dist kvstore pushpull: ", keys.size(), " keys but ", values.size(),
                     " value lists and ", outs.size(), " out lists"));
  }
  if (!Distinct(keys)) {
    for (size_t i = 0; i < keys.size(); ++i) {
      MXGRID_RETURN_IF_ERROR(PushPull(keys[i], values[i], outs[i]));
    }
    return absl::OkStatus();
  }
  return PushPullKeys(keys, values, outs);
}

absl::Status DistStore::PushPullKeys(absl::Span<const std::string> keys,
                                     absl::Span<const std::vector<NDArray>> values,
                                     absl::Span<const std::vector<NDArray>> outs) {
  struct Item {
    std::shared_ptr<Key> key;
    std::vector<NDArray> sends;
    std::vector<NDArray> receives;
  };
  std::vector<Item> items;
  std::vector<NDArray> targets;
  std::vector<engine::VarHandle> reads;
  std::vector<engine::VarHandle> writes;
  for (size_t i = 0; i < keys.size(); ++i) {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Key> k, FindKey(keys[i]));
    MXGRID_RETURN_IF_ERROR(CheckOuts(*k, outs[i]));
    MXGRID_ASSIGN_OR_RETURN(NDArray merged, MergedValue(*k, values[i]));
    MXGRID_ASSIGN_OR_RETURN(NDArray target, PullTarget(*k, outs[i]));
    MXGRID_ASSIGN_OR_RETURN(std::vector<NDArray> sends, PartViews(merged, k->meta.parts));
    MXGRID_ASSIGN_OR_RETURN(std::vector<NDArray> receives, PartViews(target, k->meta.parts));
    reads.push_back(merged.var());
    writes.push_back(k->var);
    writes.push_back(target.var());
    items.push_back({std::move(k), std::move(sends), std::move(receives)});
    targets.push_back(std::move(target));
  }
  {
    engine::PushOptions push_options;
    push_options.property = engine::FnProperty::kAsync;
    push_options.name = "kvstore_pushpull";
    engine::Get()->PushAsync(
        [shards = shards_, items, membership = options_.membership,
         timeout = options_.pull_timeout](const engine::RunContext&,
                                          engine::CallbackOnComplete on_complete) {
          Done all = internal::FanIn(static_cast<int>(items.size()),
                                     [on_complete](absl::Status) { on_complete(absl::OkStatus()); });
          const absl::Time deadline = absl::Now() + timeout;
          internal::ShardSet::Held held(*shards);  // one batch per shard
          for (const Item& item : items) {
            internal::ForEachPart(
                *shards, *item.key, membership, deadline,
                [sends = item.sends, receives = item.receives](
                    ShardConnection& c, const KeyRef& ref, size_t i, absl::Time d, Done done) {
                  c.PushPull(ref, sends[i], receives[i], d, std::move(done));
                },
                [k = item.key, all](absl::Status s) {
                  KeepPushPullError(*k, std::move(s));
                  all(absl::OkStatus());
                });
          }
        },
        Context::Cpu(), reads, writes, push_options);
  }
  // Each key's shard calls' error goes to its outs only: the key's variable stays clean.
  for (size_t i = 0; i < items.size(); ++i) {
    const engine::VarHandle status_reads[] = {items[i].key->var};
    const engine::VarHandle status_writes[] = {targets[i].var()};
    engine::PushOptions push_options;
    push_options.name = "kvstore_pushpull_status";
    push_options.run_inline_when_ready = true;
    engine::Get()->PushSync(
        [k = items[i].key](const engine::RunContext&) {
          base::MutexLock lock(&k->mu);
          return std::exchange(k->push_pull_error, absl::OkStatus());
        },
        Context::Cpu(), status_reads, status_writes, push_options);
    MXGRID_RETURN_IF_ERROR(CopyToOuts(targets[i], outs[i]));
  }
  return absl::OkStatus();
}

absl::Status DistStore::PushList(absl::Span<const std::string> keys,
                                 absl::Span<const std::vector<NDArray>> values) {
  if (keys.size() != values.size()) {
    return absl::InvalidArgumentError(absl::StrCat("dist kvstore push: ", keys.size(),
                                                   " keys but ", values.size(), " value lists"));
  }
  if (keys.size() <= 1 || !Distinct(keys)) {
    for (size_t i = 0; i < keys.size(); ++i) MXGRID_RETURN_IF_ERROR(Push(keys[i], values[i]));
    return absl::OkStatus();
  }
  ListOp op;
  for (size_t i = 0; i < keys.size(); ++i) {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Key> k, FindKey(keys[i]));
    MXGRID_ASSIGN_OR_RETURN(NDArray merged, MergedValue(*k, values[i]));
    MXGRID_ASSIGN_OR_RETURN(std::vector<NDArray> views, PartViews(merged, k->meta.parts));
    op.Add(std::move(k), std::move(views), merged.var(), /*pull=*/false);
  }
  // As Push: each key keeps its own error for its next pull; the variables stay clean.
  op.Run(shards_, options_.membership, options_.call_timeout, "kvstore_push_list",
         [](ShardConnection& c, const KeyRef& ref, const NDArray& view, absl::Time d,
            Done done) { c.Push(ref, view, d, std::move(done)); },
         [](DistStore::Key& k, absl::Status s) {
           if (s.ok()) return absl::OkStatus();
           base::MutexLock lock(&k.mu);
           if (k.push_error.ok()) k.push_error = std::move(s);
           return absl::OkStatus();
         });
  return absl::OkStatus();
}

absl::Status DistStore::PullList(absl::Span<const std::string> keys,
                                 absl::Span<const std::vector<NDArray>> outs) {
  if (keys.size() != outs.size()) {
    return absl::InvalidArgumentError(absl::StrCat("dist kvstore pull: ", keys.size(),
                                                   " keys but ", outs.size(), " out lists"));
  }
  if (keys.size() <= 1 || !Distinct(keys)) {
    for (size_t i = 0; i < keys.size(); ++i) MXGRID_RETURN_IF_ERROR(Pull(keys[i], outs[i]));
    return absl::OkStatus();
  }
  ListOp op;
  std::vector<NDArray> targets;
  for (size_t i = 0; i < keys.size(); ++i) {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Key> k, FindKey(keys[i]));
    MXGRID_RETURN_IF_ERROR(CheckOuts(*k, outs[i]));
    MXGRID_ASSIGN_OR_RETURN(NDArray target, PullTarget(*k, outs[i]));
    MXGRID_ASSIGN_OR_RETURN(std::vector<NDArray> views, PartViews(target, k->meta.parts));
    op.Add(std::move(k), std::move(views), target.var(), /*pull=*/true);
    targets.push_back(std::move(target));
  }
  // A key's failed push is this pull's error, as in Pull; it fails every out of the list
  // (one operation writes them all).
  op.Run(shards_, options_.membership, options_.pull_timeout, "kvstore_pull_list",
         [](ShardConnection& c, const KeyRef& ref, const NDArray& view, absl::Time d,
            Done done) { c.Pull(ref, view, d, std::move(done)); },
         [](DistStore::Key& k, absl::Status s) {
           base::MutexLock lock(&k.mu);
           absl::Status push_error = std::exchange(k.push_error, absl::OkStatus());
           if (push_error.ok()) return s;
           return absl::Status(push_error.code(),
                               absl::StrCat("the push of key ", Quoted(k.name),
                                            " before this pull failed: ", push_error.message()));
         });
  for (size_t i = 0; i < keys.size(); ++i) {
    MXGRID_RETURN_IF_ERROR(CopyToOuts(targets[i], outs[i]));
  }
  return absl::OkStatus();
}

}  // namespace mxgrid::kvstore::client
