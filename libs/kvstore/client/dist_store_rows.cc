// DistStore: row_sparse pushes and pulls, each part sending or receiving only the pieces of
// the rows it holds (libs/kvstore/part_rows.h).
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/base/quote.h"
#include "libs/base/status_macros.h"
#include "libs/engine/engine.h"
#include "libs/kvstore/client/dist_store.h"
#include "libs/kvstore/client/internal/key.h"
#include "libs/kvstore/part_rows.h"

namespace mxgrid::kvstore::client {
namespace {

using tensor::NDArray;

// The rows of one part: its PartRows, and the position of its first id among all the rows
// (a part's ids are consecutive among them).
struct PartPlan {
  PartRows rows;
  int64_t start = 0;
};

int64_t RowLength(const Shape& shape) { return shape.ProdRange(1, shape.ndim()); }

// Checks `rows` and the (len(rows), shape[1:]) array `rows_array` against the key.
absl::Status CheckRows(const DistStore::Key& k, const char* what,
                       const std::vector<int64_t>& rows, const NDArray& rows_array) {
  const Shape& shape = k.meta.shape;
  if (shape.ndim() < 1) {
    return absl::InvalidArgumentError(absl::StrCat("dist kvstore ", what, ": key ",
                                                   Quoted(k.name), " is 0-d: it has no rows"));
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i] < 0 || rows[i] >= shape[0] || (i > 0 && rows[i] <= rows[i - 1])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "dist kvstore ", what, ": key ", Quoted(k.name), ": row ids must be strictly "
          "increasing in [0, ", shape[0], "); id ", i, " is ", rows[i]));
    }
  }
  Shape want = shape;
  want[0] = static_cast<int64_t>(rows.size());
  if (rows_array.is_none() || rows_array.shape() != want) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dist kvstore ", what, ": key ", Quoted(k.name), " needs rows of ", want.ToString(),
        ", got ", rows_array.is_none() ? std::string("a none array")
                                       : rows_array.shape().ToString()));
  }
  return absl::OkStatus();
}

std::vector<PartPlan> PlanParts(const DistStore::Key& k, const std::vector<int64_t>& rows) {
  const int64_t row_length = std::max<int64_t>(RowLength(k.meta.shape), 1);
  std::vector<PartPlan> plans;
  for (const PartRange& p : k.meta.parts) {
    std::vector<int64_t> ids = PartRows::Overlapping(rows, row_length, p.begin, p.size());
    const int64_t start =
        ids.empty() ? 0
                    : std::lower_bound(rows.begin(), rows.end(), ids[0]) - rows.begin();
    absl::StatusOr<PartRows> part = PartRows::Make(std::move(ids), row_length, p.begin, p.size());
    // Cannot fail: the ids overlap the part by construction.
    plans.push_back({*std::move(part), start});
  }
  return plans;
}

// Copies piece j of `plan` between the part's buffer (at `at` elements) and its row of
// `rows_array` (element size `esize`); `to_part` says which way.
void CopyPiece(const PartPlan& plan, size_t j, int64_t at, char* part, char* rows_array,
               size_t esize, bool to_part) {
  const PartRows& r = plan.rows;
  const RowPiece piece = r.Piece(j);
  const int64_t in_row = r.first() + piece.offset - r.ids()[j] * r.row_length();
  const int64_t row = plan.start + static_cast<int64_t>(j);
  char* a = part + at * esize;
  char* b = rows_array + (row * r.row_length() + in_row) * esize;
  if (to_part) {
    std::memcpy(a, b, piece.length * esize);
  } else {
    std::memcpy(b, a, piece.length * esize);
  }
}

// Moves every piece of `plan` between `part` and `rows_array`.
void CopyPieces(const PartPlan& plan, const NDArray& part, const NDArray& rows_array,
                bool to_part) {
  const size_t esize = DTypeSize(rows_array.dtype());
  int64_t at = 0;
  for (size_t j = 0; j < plan.rows.ids().size(); ++j) {
    CopyPiece(plan, j, at, static_cast<char*>(part.data()), static_cast<char*>(rows_array.data()),
              esize, to_part);
    at += plan.rows.Piece(j).length;
  }
}

}  // namespace

absl::Status DistStore::PushRows(const std::string& key, std::vector<int64_t> rows,
                                 const NDArray& values) {
  MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Key> k, FindKey(key));
  MXGRID_RETURN_IF_ERROR(CheckRows(*k, "row_sparse push", rows, values));
  if (values.dtype() != k->meta.dtype) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dist kvstore row_sparse push: key ", Quoted(key), " holds ", DTypeName(k->meta.dtype),
        ", got ", DTypeName(values.dtype())));
  }
  NDArray cpu = values;
  if (!cpu.context().is_cpu()) {
    MXGRID_ASSIGN_OR_RETURN(cpu, values.CopyTo(Context::Cpu()));
  }
  std::vector<PartPlan> plans = PlanParts(*k, rows);
  const engine::VarHandle reads[] = {cpu.var()};
  const engine::VarHandle writes[] = {k->var};
  engine::PushOptions push_options;
  push_options.property = engine::FnProperty::kAsync;
  push_options.name = "kvstore_push_rows";
  engine::Get()->PushAsync(
      [shards = shards_, k, cpu, plans = std::move(plans), membership = options_.membership,
       timeout = options_.call_timeout](const engine::RunContext&,
                                        engine::CallbackOnComplete on_complete) {
        // As Push: the error is kept for the key's next pull; the variable stays clean.
        auto keep = [k, on_complete](absl::Status s) {
          if (!s.ok()) {
            base::MutexLock lock(&k->mu);
            if (k->push_error.ok()) k->push_error = std::move(s);
          }
          on_complete(absl::OkStatus());
        };
        std::vector<NDArray> parts;
        for (const PartPlan& plan : plans) {
          absl::StatusOr<NDArray> part =
              NDArray::Empty(Shape{plan.rows.total()}, Context::Cpu(), cpu.dtype());
          if (!part.ok()) return keep(part.status());
          CopyPieces(plan, *part, cpu, /*to_part=*/true);
          parts.push_back(*std::move(part));
        }
        internal::ForEachPart(
            *shards, *k, membership, absl::Now() + timeout,
            [plans, parts](ShardConnection& c, const KeyRef& ref, size_t i, absl::Time d,
                           Done done) { c.PushRows(ref, plans[i].rows, parts[i], d, std::move(done)); },
            keep);
      },
      Context::Cpu(), reads, writes, push_options);
  return absl::OkStatus();
}

absl::Status DistStore::PullRows(const std::string& key, std::vector<int64_t> rows,
                                 const NDArray& out) {
  MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Key> k, FindKey(key));
  MXGRID_RETURN_IF_ERROR(CheckRows(*k, "row_sparse_pull", rows, out));
  NDArray target = out;
  if (!out.context().is_cpu() || out.dtype() != k->meta.dtype) {
    MXGRID_ASSIGN_OR_RETURN(target, NDArray::Empty(out.shape(), Context::Cpu(), k->meta.dtype));
  }
  std::vector<PartPlan> plans = PlanParts(*k, rows);
  std::vector<NDArray> parts;
  for (const PartPlan& plan : plans) {
    MXGRID_ASSIGN_OR_RETURN(parts.emplace_back(), NDArray::Empty(Shape{plan.rows.total()},
                                                                 Context::Cpu(), k->meta.dtype));
  }
  const engine::VarHandle reads[] = {k->var};
  const engine::VarHandle writes[] = {target.var()};
  engine::PushOptions push_options;
  push_options.property = engine::FnProperty::kAsync;
  push_options.name = "kvstore_pull_rows";
  engine::Get()->PushAsync(
      [shards = shards_, k, target, plans = std::move(plans), parts = std::move(parts),
       membership = options_.membership, timeout = options_.pull_timeout](
          const engine::RunContext&, engine::CallbackOnComplete on_complete) {
        if (absl::Status s = internal::TakePushError(*k); !s.ok()) {
          on_complete(std::move(s));
          return;
        }
        internal::ForEachPart(
            *shards, *k, membership, absl::Now() + timeout,
            [plans, parts](ShardConnection& c, const KeyRef& ref, size_t i, absl::Time d,
                           Done done) { c.PullRows(ref, plans[i].rows, parts[i], d, std::move(done)); },
            [plans, parts, target, on_complete](absl::Status s) {
              if (s.ok()) {
                for (size_t i = 0; i < plans.size(); ++i) {
                  CopyPieces(plans[i], parts[i], target, /*to_part=*/false);
                }
              }
              on_complete(s);
            });
      },
      Context::Cpu(), reads, writes, push_options);
  if (target.var() == out.var()) return absl::OkStatus();
  return target.CopyTo(out);
}

}  // namespace mxgrid::kvstore::client
