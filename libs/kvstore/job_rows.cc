// Job: row_sparse pushes and pulls of a part (PushRows, PullRows) and the application of a
// complete round (dense pushes, row pushes, or both).
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/base/quote.h"
#include "libs/base/status_macros.h"
#include "libs/engine/engine.h"
#include "libs/kvstore/job.h"

namespace mxgrid::kvstore {
namespace {

using tensor::NDArray;

std::string Describe(const KeyId& id) {
  return absl::StrCat("key ", Quoted(id.key), " part ", id.part);
}

// `dst[i] += src[i]` for n elements of `dtype`.
void AddElements(DType dtype, void* dst, const void* src, int64_t n) {
  VisitDType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* d = static_cast<T*>(dst);
    const T* s = static_cast<const T*>(src);
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
      for (int64_t i = 0; i < n; ++i) d[i] += s[i];
    } else {
      for (int64_t i = 0; i < n; ++i) d[i] = FromDouble<T>(ToDouble(d[i]) + ToDouble(s[i]));
    }
  });
}

// Pushes `fn` as one engine operation on the CPU reading `reads` and writing `writes`.
template <typename Fn>
void PushCpu(const char* name, const std::vector<NDArray>& reads,
             const std::vector<NDArray>& writes, Fn fn) {
  std::vector<engine::VarHandle> r, w;
  for (const NDArray& a : writes) w.push_back(a.var());
  for (const NDArray& a : reads) r.push_back(a.var());
  engine::PushOptions options;
  options.name = name;
  engine::Get()->PushSync(
      [fn = std::move(fn), reads, writes](const engine::RunContext&) -> absl::Status {
        fn();
        return absl::OkStatus();
      },
      Context::Cpu(), r, w, options);
}

std::vector<RowPiece> Pieces(const PartRows& rows) {
  std::vector<RowPiece> out;
  out.reserve(rows.ids().size());
  for (size_t i = 0; i < rows.ids().size(); ++i) out.push_back(rows.Piece(i));
  return out;
}

// Adds each row push's pieces into `dense` (the part's flat elements).
void AddPiecesDensely(const std::vector<std::pair<PartRows, NDArray>>& pushes,
                      const NDArray& dense) {
  std::vector<NDArray> reads;
  for (const auto& [rows, values] : pushes) reads.push_back(values);
  PushCpu("kvstore_add_rows", reads, {dense}, [pushes, dense] {
    const size_t esize = DTypeSize(dense.dtype());
    for (const auto& [rows, values] : pushes) {
      const char* src = static_cast<const char*>(values.data());
      for (size_t j = 0; j < rows.ids().size(); ++j) {
        const RowPiece p = rows.Piece(j);
        AddElements(dense.dtype(), static_cast<char*>(dense.data()) + p.offset * esize, src,
                    p.length);
        src += p.length * esize;
      }
    }
  });
}

// The sum of row pushes over the union of their rows (`all`), as one 1-D array.
absl::StatusOr<NDArray> SumPieces(const std::vector<std::pair<PartRows, NDArray>>& pushes,
                                  const PartRows& all, DType dtype) {
  MXGRID_ASSIGN_OR_RETURN(NDArray sum, NDArray::Zeros(Shape{all.total()}, Context::Cpu(), dtype));
  // Where each piece of `all` starts in the sum.
  std::vector<int64_t> starts(all.ids().size());
  for (size_t j = 0, at = 0; j < all.ids().size(); ++j) {
    starts[j] = static_cast<int64_t>(at);
    at += static_cast<size_t>(all.Piece(j).length);
  }
  std::vector<std::vector<int64_t>> positions;
  std::vector<NDArray> reads;
  for (const auto& [rows, values] : pushes) {
    positions.push_back(rows.PositionsIn(all));
    reads.push_back(values);
  }
  PushCpu("kvstore_sum_rows", reads, {sum}, [pushes, positions, starts, sum] {
    const size_t esize = DTypeSize(sum.dtype());
    for (size_t k = 0; k < pushes.size(); ++k) {
      const auto& [rows, values] = pushes[k];
      const char* src = static_cast<const char*>(values.data());
      for (size_t j = 0; j < rows.ids().size(); ++j) {
        const int64_t length = rows.Piece(j).length;
        AddElements(sum.dtype(), static_cast<char*>(sum.data()) + starts[positions[k][j]] * esize,
                    src, length);
        src += length * esize;
      }
    }
  });
  return sum;
}

// `stored` becomes zero but for the pieces of `rows`, which take `values`.
void OverwriteWithPieces(const PartRows& rows, const NDArray& values, const NDArray& stored) {
  PushCpu("kvstore_overwrite_rows", {values}, {stored}, [rows, values, stored] {
    const size_t esize = DTypeSize(stored.dtype());
    char* dst = static_cast<char*>(stored.data());
    std::memset(dst, 0, stored.nbytes());
    const char* src = static_cast<const char*>(values.data());
    for (size_t j = 0; j < rows.ids().size(); ++j) {
      const RowPiece p = rows.Piece(j);
      std::memcpy(dst + p.offset * esize, src, p.length * esize);
      src += p.length * esize;
    }
  });
}

absl::StatusOr<PartRows> MakeRows(const KeyId& id, const RowsSpec& spec, const NDArray& stored) {
  absl::StatusOr<PartRows> rows =
      PartRows::Make(spec.ids, spec.row_length, spec.first, stored.size());
  if (!rows.ok()) {
    return absl::Status(rows.status().code(),
                        absl::StrCat("kvstore: ", Describe(id), ": ", rows.status().message()));
  }
  return rows;
}

}  // namespace

absl::Status Job::ApplyRound(Entry* entry, PendingRound round) {
  int64_t bytes = round.total.is_none() ? 0 : static_cast<int64_t>(round.total.nbytes());
  for (const auto& [rows, values] : round.rows) bytes += static_cast<int64_t>(values.nbytes());
  bytes_in_use_ -= bytes;
  absl::Status status;
  if (round.rows.empty() || !round.total.is_none()) {
    // Dense pushes, and the rows of any row pushes added to them.
    if (!round.rows.empty()) AddPiecesDensely(round.rows, round.total);
    status = Apply(entry, round.total);
    // Kept for the next round (a cache, not counted): the engine orders its first write
    // after this update's reads, and its pages are already faulted in (a fresh 2.5 MB
    // accumulator per round cost a third of a shard's CPU in page clearing).
    if (entry->spare.is_none()) entry->spare = std::move(round.total);
    return status;
  }
  PartRows all = round.rows[0].first;
  for (size_t i = 1; i < round.rows.size(); ++i) all = all.Union(round.rows[i].first);
  MXGRID_ASSIGN_OR_RETURN(NDArray sum, SumPieces(round.rows, all, entry->stored.dtype()));
  ++generation_;
  if (optimizer_ != nullptr) {
    return optimizer_->UpdatePieces(entry->slot, entry->stored, Pieces(all), sum);
  }
  OverwriteWithPieces(all, sum, entry->stored);
  return absl::OkStatus();
}

absl::Status Job::PushRows(const KeyId& id, int rank, const RowsSpec& spec, const NDArray& value,
                           const WaitOptions& wait) {
  base::MutexLock lock(&mu_);
  MXGRID_RETURN_IF_ERROR(Enter(rank, /*need_joined=*/true));
  MXGRID_ASSIGN_OR_RETURN(Entry * entry, FindEntry(id));  // never erased: stable
  MXGRID_ASSIGN_OR_RETURN(PartRows rows, MakeRows(id, spec, entry->stored));
  if (value.is_none() || value.shape() != Shape{rows.total()} ||
      value.dtype() != entry->stored.dtype() || !value.context().is_cpu()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kvstore: row push of ", Describe(id), ": the value must be the ", rows.total(),
        " elements of its rows' pieces, 1-D ", DTypeName(entry->stored.dtype()), " on the CPU; got ",
        value.is_none() ? std::string("a none array")
                        : absl::StrCat(value.shape().ToString(), " ", DTypeName(value.dtype()))));
  }
  PendingRound* round = nullptr;
  PendingRound now;
  if (options_.sync) {
    MXGRID_ASSIGN_OR_RETURN(round, NextRound(id, entry, rank, wait));
  } else {
    round = &now;  // dist_async: applied at once
  }
  // A copy: the caller may reuse the value's memory once this returns.
  MXGRID_ASSIGN_OR_RETURN(NDArray copy, NDArray::Empty(value.shape(), Context::Cpu(), value.dtype()));
  MXGRID_RETURN_IF_ERROR(value.CopyTo(copy));
  bytes_in_use_ += static_cast<int64_t>(copy.nbytes());
  round->rows.emplace_back(std::move(rows), std::move(copy));
  if (!options_.sync) return ApplyRound(entry, std::move(now));
  ++round->pushes;
  ++entry->pushes_by_rank[rank];
  changed_.SignalAll();  // a bounded push of another rank may proceed
  return ApplyCompleteRounds(entry);
}

absl::StatusOr<NDArray> Job::PullRows(const KeyId& id, int rank, const RowsSpec& spec,
                                      std::optional<DType> dtype, const WaitOptions& wait) {
  MXGRID_ASSIGN_OR_RETURN(PullTicket ticket, BeginPull(id, rank, dtype));
  NDArray gathered;
  {
    base::MutexLock lock(&mu_);
    MXGRID_ASSIGN_OR_RETURN(Entry * entry, AwaitTicket(ticket, wait));
    MXGRID_ASSIGN_OR_RETURN(PartRows rows, MakeRows(id, spec, entry->stored));
    const NDArray stored = entry->stored;
    MXGRID_ASSIGN_OR_RETURN(gathered,
                            NDArray::Empty(Shape{rows.total()}, Context::Cpu(), stored.dtype()));
    // Ordered by the engine after the update of every round applied so far.
    PushCpu("kvstore_pull_rows", {stored}, {gathered}, [rows, stored, gathered] {
      const size_t esize = DTypeSize(stored.dtype());
      char* dst = static_cast<char*>(gathered.data());
      for (size_t j = 0; j < rows.ids().size(); ++j) {
        const RowPiece p = rows.Piece(j);
        std::memcpy(dst, static_cast<const char*>(stored.data()) + p.offset * esize,
                    p.length * esize);
        dst += p.length * esize;
      }
    });
  }
  NDArray out = gathered;
  if (dtype.has_value() && *dtype != gathered.dtype()) {
    MXGRID_ASSIGN_OR_RETURN(out, NDArray::Empty(gathered.shape(), Context::Cpu(), *dtype));
    MXGRID_RETURN_IF_ERROR(gathered.CopyTo(out));
  }
  MXGRID_RETURN_IF_ERROR(out.WaitToRead());
  return out;
}

}  // namespace mxgrid::kvstore
