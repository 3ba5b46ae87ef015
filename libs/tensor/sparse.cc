#include "libs/tensor/sparse.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"
#include "libs/engine/engine.h"

namespace mxgrid::tensor {

// Makes values whose invariants the caller established (the constructor is private so that
// nothing else can).
class SparseBuilder {
 public:
  static SparseNDArray Build(StorageType stype, Shape shape, NDArray data, NDArray indices,
                             NDArray indptr = NDArray()) {
    return SparseNDArray(stype, std::move(shape), std::move(data), std::move(indices),
                         std::move(indptr));
  }
};

namespace {

// Pushes `fn` reading the non-none arrays of `reads` and writing `writes`.
template <typename Fn>
void PushOn(const char* name, Context ctx, std::initializer_list<const NDArray*> reads,
            std::initializer_list<const NDArray*> writes, Fn&& fn) {
  std::vector<engine::VarHandle> r, w;
  for (const NDArray* a : writes) {
    if (!a->is_none()) w.push_back(a->var());
  }
  for (const NDArray* a : reads) {
    if (a->is_none()) continue;
    const engine::VarHandle v = a->var();
    // A variable both read and written (or read twice) is named once.
    if (std::find(w.begin(), w.end(), v) == w.end() && std::find(r.begin(), r.end(), v) == r.end()) {
      r.push_back(v);
    }
  }
  engine::PushOptions options;
  options.name = name;
  engine::Get()->PushSync(
      [fn = std::forward<Fn>(fn)](const engine::RunContext&) -> absl::Status { return fn(); },
      ctx, r, w, options);
}

// Shape of `rows` rows of `shape` (the first dimension replaced).
Shape WithRows(const Shape& shape, int64_t rows) {
  Shape out = shape;
  out[0] = rows;
  return out;
}

size_t RowBytes(const Shape& shape, DType dtype) {
  return static_cast<size_t>(shape.ProdRange(1, shape.ndim())) * DTypeSize(dtype);
}

bool IsZero(const void* base, DType dtype, int64_t i) {
  return VisitDType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return ToDouble(static_cast<const T*>(base)[i]) == 0.0;
  });
}

absl::Status CheckIndexPart(const NDArray& a, const char* what, const Context& ctx) {
  if (a.is_none()) return absl::InvalidArgumentError(absl::StrCat("sparse ", what, " missing"));
  if (a.dtype() != DType::kInt64) {
    return absl::InvalidArgumentError(absl::StrCat("sparse ", what, " must be int64, got ",
                                                   DTypeName(a.dtype())));
  }
  if (a.shape().ndim() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("sparse ", what, " must be 1-D, got shape ", a.shape().ToString()));
  }
  if (a.context() != ctx) {
    return absl::InvalidArgumentError(absl::StrCat("sparse ", what, " is on ",
                                                   a.context().ToString(), ", data on ",
                                                   ctx.ToString()));
  }
  return absl::OkStatus();
}

absl::Status CheckRowSparse(const Shape& shape, const NDArray& data, const NDArray& indices) {
  if (shape.ndim() < 1) return absl::InvalidArgumentError("row_sparse arrays need ndim >= 1");
  MXGRID_RETURN_IF_ERROR(CheckIndexPart(indices, "indices", data.context()));
  const int64_t k = indices.shape()[0];
  if (data.shape() != WithRows(shape, k)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "row_sparse ", shape.ToString(), " with ", k, " row ids needs data of shape ",
        WithRows(shape, k).ToString(), ", got ", data.shape().ToString()));
  }
  MXGRID_ASSIGN_OR_RETURN(std::vector<int64_t> ids, indices.ToVector<int64_t>());
  for (int64_t i = 0; i < k; ++i) {
    if (ids[i] < 0 || ids[i] >= shape[0] || (i > 0 && ids[i] <= ids[i - 1])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "row_sparse indices must be strictly increasing row ids in [0, ", shape[0],
          "); indices[", i, "] is ", ids[i]));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckCsr(const Shape& shape, const NDArray& data, const NDArray& indptr,
                      const NDArray& indices) {
  if (shape.ndim() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("csr arrays are 2-D, got shape ", shape.ToString()));
  }
  MXGRID_RETURN_IF_ERROR(CheckIndexPart(indptr, "indptr", data.context()));
  MXGRID_RETURN_IF_ERROR(CheckIndexPart(indices, "indices", data.context()));
  const int64_t rows = shape[0], cols = shape[1], nnz = indices.shape()[0];
  if (indptr.shape()[0] != rows + 1) {
    return absl::InvalidArgumentError(absl::StrCat("csr ", shape.ToString(), " needs indptr of ",
                                                   rows + 1, " values, got ",
                                                   indptr.shape()[0]));
  }
  if (data.shape() != Shape({nnz})) {
    return absl::InvalidArgumentError(absl::StrCat("csr data must be 1-D with one value per "
                                                   "index (", nnz, "), got ",
                                                   data.shape().ToString()));
  }
  MXGRID_ASSIGN_OR_RETURN(std::vector<int64_t> ptr, indptr.ToVector<int64_t>());
  MXGRID_ASSIGN_OR_RETURN(std::vector<int64_t> col, indices.ToVector<int64_t>());
  if (ptr[0] != 0 || ptr[rows] != nnz) {
    return absl::InvalidArgumentError(absl::StrCat("csr indptr must start at 0 and end at nnz ",
                                                   nnz, "; got ", ptr[0], " and ", ptr[rows]));
  }
  for (int64_t r = 0; r < rows; ++r) {
    if (ptr[r + 1] < ptr[r]) {
      return absl::InvalidArgumentError(
          absl::StrCat("csr indptr must be non-decreasing; indptr[", r + 1, "] < indptr[", r, "]"));
    }
    for (int64_t j = ptr[r]; j < ptr[r + 1]; ++j) {
      if (col[j] < 0 || col[j] >= cols || (j > ptr[r] && col[j] <= col[j - 1])) {
        return absl::InvalidArgumentError(absl::StrCat(
            "csr column indices must be increasing within a row and in [0, ", cols,
            "); indices[", j, "] (row ", r, ") is ", col[j]));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<NDArray> Int64Vector(const std::vector<int64_t>& values, Context ctx) {
  return NDArray::FromVector<int64_t>(Shape({static_cast<int64_t>(values.size())}), values, ctx);
}

}  // namespace

absl::string_view StorageTypeName(StorageType stype) {
  switch (stype) {
    case StorageType::kDefault:
      return "default";
    case StorageType::kRowSparse:
      return "row_sparse";
    case StorageType::kCSR:
      return "csr";
  }
  return "unknown";
}

absl::StatusOr<StorageType> StorageTypeFromName(absl::string_view name) {
  if (name == "default") return StorageType::kDefault;
  if (name == "row_sparse") return StorageType::kRowSparse;
  if (name == "csr") return StorageType::kCSR;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown storage type '", name, "' (expected default, row_sparse or csr)"));
}

std::vector<NDArray> SparseNDArray::aux() const {
  if (stype_ == StorageType::kCSR) return {indptr_, indices_};
  return {indices_};
}

size_t SparseNDArray::nbytes() const {
  size_t n = 0;
  for (const NDArray* a : {&data_, &indices_, &indptr_}) {
    if (!a->is_none()) n += a->nbytes();
  }
  return n;
}

absl::StatusOr<SparseNDArray> SparseNDArray::Zeros(StorageType stype, const Shape& shape,
                                                   Context ctx, DType dtype) {
  if (stype == StorageType::kRowSparse) {
    if (shape.ndim() < 1) return absl::InvalidArgumentError("row_sparse arrays need ndim >= 1");
    MXGRID_ASSIGN_OR_RETURN(NDArray data, NDArray::Empty(WithRows(shape, 0), ctx, dtype));
    MXGRID_ASSIGN_OR_RETURN(NDArray indices, NDArray::Empty(Shape({0}), ctx, DType::kInt64));
    return SparseBuilder::Build(stype, shape, std::move(data), std::move(indices));
  }
  if (stype == StorageType::kCSR) {
    if (shape.ndim() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("csr arrays are 2-D, got shape ", shape.ToString()));
    }
    MXGRID_ASSIGN_OR_RETURN(NDArray data, NDArray::Empty(Shape({0}), ctx, dtype));
    MXGRID_ASSIGN_OR_RETURN(NDArray indices, NDArray::Empty(Shape({0}), ctx, DType::kInt64));
    MXGRID_ASSIGN_OR_RETURN(NDArray indptr,
                            NDArray::Zeros(Shape({shape[0] + 1}), ctx, DType::kInt64));
    return SparseBuilder::Build(stype, shape, std::move(data), std::move(indices),
                                std::move(indptr));
  }
  return absl::InvalidArgumentError("SparseNDArray::Zeros: the storage type must be sparse");
}

absl::StatusOr<SparseNDArray> SparseNDArray::FromParts(StorageType stype, const Shape& shape,
                                                       NDArray data, std::vector<NDArray> aux) {
  if (data.is_none()) return absl::InvalidArgumentError("sparse data missing");
  if (stype == StorageType::kRowSparse) {
    if (aux.size() != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("row_sparse takes one aux array (indices), got ", aux.size()));
    }
    MXGRID_RETURN_IF_ERROR(CheckRowSparse(shape, data, aux[0]));
    return SparseBuilder::Build(stype, shape, std::move(data), std::move(aux[0]));
  }
  if (stype == StorageType::kCSR) {
    if (aux.size() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("csr takes two aux arrays (indptr, indices), got ", aux.size()));
    }
    MXGRID_RETURN_IF_ERROR(CheckCsr(shape, data, aux[0], aux[1]));
    return SparseBuilder::Build(stype, shape, std::move(data), std::move(aux[1]),
                                std::move(aux[0]));
  }
  return absl::InvalidArgumentError("SparseNDArray::FromParts: the storage type must be sparse");
}

absl::Status ToDenseInto(const SparseNDArray& src, const NDArray& out) {
  if (out.shape() != src.shape() || out.dtype() != src.dtype()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "densify: ", StorageTypeName(src.stype()), " ", src.shape().ToString(), " ",
        DTypeName(src.dtype()), " into ", out.shape().ToString(), " ", DTypeName(out.dtype())));
  }
  if (out.context() != src.context()) {
    return absl::InvalidArgumentError(absl::StrCat("densify: ", src.context().ToString(),
                                                   " into ", out.context().ToString()));
  }
  const NDArray data = src.data(), indices = src.indices(), indptr = src.indptr();
  const StorageType stype = src.stype();
  const size_t elem = DTypeSize(src.dtype());
  const size_t row_bytes = RowBytes(src.shape(), src.dtype());
  const int64_t cols = src.shape().ndim() == 2 ? src.shape()[1] : 0;
  PushOn("densify", out.context(), {&data, &indices, &indptr}, {&out},
         [=]() -> absl::Status {
           char* dst = static_cast<char*>(out.data());
           std::memset(dst, 0, out.nbytes());
           const char* values = static_cast<const char*>(data.data());
           const int64_t* idx = static_cast<const int64_t*>(indices.data());
           if (stype == StorageType::kRowSparse) {
             for (int64_t i = 0; i < indices.size(); ++i) {
               std::memcpy(dst + idx[i] * row_bytes, values + i * row_bytes, row_bytes);
             }
             return absl::OkStatus();
           }
           const int64_t* ptr = static_cast<const int64_t*>(indptr.data());
           for (int64_t r = 0; r + 1 < indptr.size(); ++r) {
             for (int64_t j = ptr[r]; j < ptr[r + 1]; ++j) {
               std::memcpy(dst + (r * cols + idx[j]) * elem, values + j * elem, elem);
             }
           }
           return absl::OkStatus();
         });
  return absl::OkStatus();
}

absl::StatusOr<NDArray> ToDense(const SparseNDArray& src) {
  MXGRID_ASSIGN_OR_RETURN(NDArray out, NDArray::Empty(src.shape(), src.context(), src.dtype()));
  MXGRID_RETURN_IF_ERROR(ToDenseInto(src, out));
  return out;
}

absl::StatusOr<SparseNDArray> FromDense(const NDArray& dense, StorageType stype) {
  MXGRID_RETURN_IF_ERROR(dense.WaitToRead());
  const Shape& shape = dense.shape();
  const DType dtype = dense.dtype();
  const Context ctx = dense.context();
  const char* src = static_cast<const char*>(dense.data());
  if (stype == StorageType::kRowSparse) {
    if (shape.ndim() < 1) return absl::InvalidArgumentError("row_sparse arrays need ndim >= 1");
    const int64_t row_len = shape.ProdRange(1, shape.ndim());
    std::vector<int64_t> rows;
    for (int64_t r = 0; r < shape[0]; ++r) {
      for (int64_t j = 0; j < row_len; ++j) {
        if (!IsZero(src, dtype, r * row_len + j)) {
          rows.push_back(r);
          break;
        }
      }
    }
    const size_t row_bytes = RowBytes(shape, dtype);
    const int64_t k = static_cast<int64_t>(rows.size());
    MXGRID_ASSIGN_OR_RETURN(NDArray data, NDArray::Empty(WithRows(shape, k), ctx, dtype));
    // Nothing else holds the new array yet: it is written directly.
    char* dst = static_cast<char*>(data.data());
    for (int64_t i = 0; i < k; ++i) {
      std::memcpy(dst + i * row_bytes, src + rows[i] * row_bytes, row_bytes);
    }
    MXGRID_ASSIGN_OR_RETURN(NDArray indices, Int64Vector(rows, ctx));
    return SparseBuilder::Build(stype, shape, std::move(data), std::move(indices));
  }
  if (stype == StorageType::kCSR) {
    if (shape.ndim() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("csr arrays are 2-D, got shape ", shape.ToString()));
    }
    std::vector<int64_t> ptr(1, 0), cols;
    for (int64_t r = 0; r < shape[0]; ++r) {
      for (int64_t c = 0; c < shape[1]; ++c) {
        if (!IsZero(src, dtype, r * shape[1] + c)) cols.push_back(c);
      }
      ptr.push_back(static_cast<int64_t>(cols.size()));
    }
    const int64_t nnz = static_cast<int64_t>(cols.size());
    const size_t elem = DTypeSize(dtype);
    MXGRID_ASSIGN_OR_RETURN(NDArray data, NDArray::Empty(Shape({nnz}), ctx, dtype));
    char* dst = static_cast<char*>(data.data());
    for (int64_t r = 0, j = 0; r < shape[0]; ++r) {
      for (; j < ptr[r + 1]; ++j) {
        std::memcpy(dst + j * elem, src + (r * shape[1] + cols[j]) * elem, elem);
      }
    }
    MXGRID_ASSIGN_OR_RETURN(NDArray indptr, Int64Vector(ptr, ctx));
    MXGRID_ASSIGN_OR_RETURN(NDArray indices, Int64Vector(cols, ctx));
    return SparseBuilder::Build(stype, shape, std::move(data), std::move(indices),
                                std::move(indptr));
  }
  return absl::InvalidArgumentError("FromDense: the storage type must be sparse");
}

absl::StatusOr<SparseNDArray> Convert(const SparseNDArray& src, StorageType stype) {
  if (src.stype() == stype) return src;
  MXGRID_ASSIGN_OR_RETURN(NDArray dense, ToDense(src));
  return FromDense(dense, stype);
}

absl::StatusOr<SparseNDArray> CopyTo(const SparseNDArray& src, Context ctx, DType dtype) {
  MXGRID_ASSIGN_OR_RETURN(NDArray data, NDArray::Empty(src.data().shape(), ctx, dtype));
  MXGRID_RETURN_IF_ERROR(src.data().CopyTo(data));
  MXGRID_ASSIGN_OR_RETURN(NDArray indices, src.indices().CopyTo(ctx));
  NDArray indptr;
  if (!src.indptr().is_none()) {
    MXGRID_ASSIGN_OR_RETURN(indptr, src.indptr().CopyTo(ctx));
  }
  return SparseBuilder::Build(src.stype(), src.shape(), std::move(data), std::move(indices),
                              std::move(indptr));
}

absl::StatusOr<std::vector<int64_t>> SortedRowIds(const NDArray& row_ids, int64_t rows) {
  MXGRID_ASSIGN_OR_RETURN(std::vector<double> wanted, row_ids.ToVector<double>());
  std::vector<int64_t> ids;
  ids.reserve(wanted.size());
  for (double v : wanted) {
    if (!(v >= 0 && v < static_cast<double>(rows))) {
      return absl::InvalidArgumentError(
          absl::StrCat("retain: row id ", v, " is outside [0, ", rows, ")"));
    }
    ids.push_back(static_cast<int64_t>(v));
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

namespace {

// SortedRowIds as an int64 array on `ctx`.
absl::StatusOr<NDArray> UniqueRowIds(const NDArray& row_ids, int64_t rows, Context ctx) {
  MXGRID_ASSIGN_OR_RETURN(std::vector<int64_t> ids, SortedRowIds(row_ids, rows));
  return Int64Vector(ids, ctx);
}

}  // namespace

absl::StatusOr<SparseNDArray> RetainRows(const NDArray& dense, const NDArray& row_ids) {
  if (dense.is_none() || dense.shape().ndim() < 1) {
    return absl::InvalidArgumentError("retain needs an array of at least one dimension");
  }
  MXGRID_ASSIGN_OR_RETURN(NDArray ids, UniqueRowIds(row_ids, dense.shape()[0], dense.context()));
  MXGRID_ASSIGN_OR_RETURN(NDArray rows, GatherRows(dense, ids));
  return SparseBuilder::Build(StorageType::kRowSparse, dense.shape(), std::move(rows),
                              std::move(ids));
}

absl::StatusOr<SparseNDArray> Retain(const SparseNDArray& src, const NDArray& row_ids) {
  if (src.stype() != StorageType::kRowSparse) {
    return absl::InvalidArgumentError(absl::StrCat("retain needs a row_sparse array, got ",
                                                   StorageTypeName(src.stype())));
  }
  MXGRID_ASSIGN_OR_RETURN(NDArray out_indices,
                          UniqueRowIds(row_ids, src.shape()[0], src.context()));
  const int64_t k = out_indices.size();
  MXGRID_ASSIGN_OR_RETURN(NDArray out_data,
                          NDArray::Empty(WithRows(src.shape(), k), src.context(), src.dtype()));
  const NDArray data = src.data(), indices = src.indices();
  const size_t row_bytes = RowBytes(src.shape(), src.dtype());
  PushOn("retain", src.context(), {&data, &indices, &out_indices}, {&out_data},
         [=]() -> absl::Status {
           const int64_t* have = static_cast<const int64_t*>(indices.data());
           const int64_t* want = static_cast<const int64_t*>(out_indices.data());
           const char* in = static_cast<const char*>(data.data());
           char* out = static_cast<char*>(out_data.data());
           const int64_t n = indices.size();
           for (int64_t i = 0, j = 0; i < out_indices.size(); ++i) {
             while (j < n && have[j] < want[i]) ++j;
             if (j < n && have[j] == want[i]) {
               std::memcpy(out + i * row_bytes, in + j * row_bytes, row_bytes);
             } else {
               std::memset(out + i * row_bytes, 0, row_bytes);
             }
           }
           return absl::OkStatus();
         });
  return SparseBuilder::Build(StorageType::kRowSparse, src.shape(), std::move(out_data),
                              std::move(out_indices));
}

absl::StatusOr<SparseNDArray> SumRowSparse(absl::Span<const SparseNDArray> values) {
  if (values.empty()) return absl::InvalidArgumentError("SumRowSparse: no values");
  const SparseNDArray& first = values[0];
  std::vector<int64_t> rows;
  for (size_t i = 0; i < values.size(); ++i) {
    const SparseNDArray& v = values[i];
    if (v.stype() != StorageType::kRowSparse || v.shape() != first.shape() ||
        v.dtype() != first.dtype() || v.context() != first.context()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "SumRowSparse: value ", i, " is ", StorageTypeName(v.stype()), " ",
          v.shape().ToString(), " ", DTypeName(v.dtype()), " on ", v.context().ToString(),
          "; value 0 is row_sparse ", first.shape().ToString(), " ", DTypeName(first.dtype()),
          " on ", first.context().ToString()));
    }
    if (v.num_stored() == 0) continue;
    MXGRID_ASSIGN_OR_RETURN(std::vector<int64_t> ids, v.indices().ToVector<int64_t>());
    rows.insert(rows.end(), ids.begin(), ids.end());
  }
  if (values.size() == 1) return first;
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  MXGRID_ASSIGN_OR_RETURN(NDArray ids, Int64Vector(rows, first.context()));
  // Each value spread over the union's rows (zeros where it stores none), then added.
  MXGRID_ASSIGN_OR_RETURN(SparseNDArray total, Retain(first, ids));
  for (size_t i = 1; i < values.size(); ++i) {
    MXGRID_ASSIGN_OR_RETURN(SparseNDArray spread, Retain(values[i], ids));
    MXGRID_RETURN_IF_ERROR(AddInPlace(total.data(), spread.data()));
  }
  return total;
}

absl::StatusOr<SparseNDArray> WithAllRows(const SparseNDArray& src) {
  if (src.stype() != StorageType::kRowSparse) {
    return absl::InvalidArgumentError("WithAllRows needs a row_sparse array");
  }
  if (src.all_rows_stored()) return src;
  MXGRID_ASSIGN_OR_RETURN(NDArray dense, ToDense(src));
  std::vector<int64_t> ids(static_cast<size_t>(src.shape()[0]));
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int64_t>(i);
  MXGRID_ASSIGN_OR_RETURN(NDArray indices, Int64Vector(ids, src.context()));
  return SparseBuilder::Build(StorageType::kRowSparse, src.shape(), std::move(dense),
                              std::move(indices));
}

absl::StatusOr<NDArray> GatherRows(const NDArray& src, const NDArray& rows) {
  if (rows.dtype() != DType::kInt64 || rows.shape().ndim() != 1 || src.shape().ndim() < 1) {
    return absl::InvalidArgumentError("GatherRows: int64 row ids of a 1-D array needed");
  }
  MXGRID_ASSIGN_OR_RETURN(NDArray out, NDArray::Empty(WithRows(src.shape(), rows.size()),
                                                      src.context(), src.dtype()));
  const size_t row_bytes = RowBytes(src.shape(), src.dtype());
  const int64_t n = src.shape()[0];
  PushOn("gather_rows", src.context(), {&src, &rows}, {&out}, [=]() -> absl::Status {
    const int64_t* ids = static_cast<const int64_t*>(rows.data());
    const char* in = static_cast<const char*>(src.data());
    char* dst = static_cast<char*>(out.data());
    for (int64_t i = 0; i < rows.size(); ++i) {
      if (ids[i] < 0 || ids[i] >= n) {
        return absl::InvalidArgumentError(absl::StrCat("row id ", ids[i], " out of range"));
      }
      std::memcpy(dst + i * row_bytes, in + ids[i] * row_bytes, row_bytes);
    }
    return absl::OkStatus();
  });
  return out;
}

absl::Status ScatterRows(const NDArray& values, const NDArray& rows, const NDArray& dst) {
  if (rows.dtype() != DType::kInt64 || dst.shape().ndim() < 1 ||
      values.shape() != WithRows(dst.shape(), rows.size()) || values.dtype() != dst.dtype()) {
    return absl::InvalidArgumentError("ScatterRows: values must be the rows of dst at row ids");
  }
  const size_t row_bytes = RowBytes(dst.shape(), dst.dtype());
  const int64_t n = dst.shape()[0];
  PushOn("scatter_rows", dst.context(), {&values, &rows}, {&dst}, [=]() -> absl::Status {
    const int64_t* ids = static_cast<const int64_t*>(rows.data());
    const char* in = static_cast<const char*>(values.data());
    char* out = static_cast<char*>(dst.data());
    for (int64_t i = 0; i < rows.size(); ++i) {
      if (ids[i] < 0 || ids[i] >= n) {
        return absl::InvalidArgumentError(absl::StrCat("row id ", ids[i], " out of range"));
      }
      std::memcpy(out + ids[i] * row_bytes, in + i * row_bytes, row_bytes);
    }
    return absl::OkStatus();
  });
  return absl::OkStatus();
}

absl::StatusOr<NDArray> DotCsrDense(const SparseNDArray& lhs, const NDArray& rhs,
                                    bool transpose_a) {
  if (lhs.stype() != StorageType::kCSR) {
    return absl::InvalidArgumentError("DotCsrDense: lhs must be csr");
  }
  if (lhs.dtype() != rhs.dtype() ||
      (lhs.dtype() != DType::kFloat32 && lhs.dtype() != DType::kFloat64)) {
    return absl::InvalidArgumentError(absl::StrCat("dot(csr, dense) takes float32 or float64 "
                                                   "of one dtype, got ", DTypeName(lhs.dtype()),
                                                   " and ", DTypeName(rhs.dtype())));
  }
  const int64_t m = lhs.shape()[0], k = lhs.shape()[1];
  const int64_t inner = transpose_a ? m : k, outer = transpose_a ? k : m;
  if (rhs.shape().ndim() != 2 || rhs.shape()[0] != inner) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dot: ", transpose_a ? "csr.T " : "csr ", transpose_a ? Shape({k, m}).ToString()
                                                            : lhs.shape().ToString(),
        " and ", rhs.shape().ToString(), " do not multiply"));
  }
  if (rhs.context() != lhs.context()) {
    return absl::InvalidArgumentError("dot: operands on different contexts");
  }
  const int64_t p = rhs.shape()[1];
  MXGRID_ASSIGN_OR_RETURN(NDArray out,
                          NDArray::Empty(Shape({outer, p}), lhs.context(), lhs.dtype()));
  const NDArray data = lhs.data(), indices = lhs.indices(), indptr = lhs.indptr();
  PushOn("dot_csr_dense", lhs.context(), {&data, &indices, &indptr, &rhs}, {&out},
         [=]() -> absl::Status {
           VisitDType(out.dtype(), [&](auto tag) {
             using T = typename decltype(tag)::type;
             if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
               const T* v = static_cast<const T*>(data.data());
               const int64_t* col = static_cast<const int64_t*>(indices.data());
               const int64_t* ptr = static_cast<const int64_t*>(indptr.data());
               const T* b = static_cast<const T*>(rhs.data());
               T* c = static_cast<T*>(out.data());
               std::fill(c, c + outer * p, T(0));
               if (!transpose_a) {
                 for (int64_t r = 0; r < m; ++r) {
                   T* crow = c + r * p;
                   for (int64_t j = ptr[r]; j < ptr[r + 1]; ++j) {
                     const T a = v[j];
                     const T* brow = b + col[j] * p;
                     for (int64_t x = 0; x < p; ++x) crow[x] += a * brow[x];
                   }
                 }
               } else {
                 for (int64_t r = 0; r < m; ++r) {
                   const T* brow = b + r * p;
                   for (int64_t j = ptr[r]; j < ptr[r + 1]; ++j) {
                     const T a = v[j];
                     T* crow = c + col[j] * p;
                     for (int64_t x = 0; x < p; ++x) crow[x] += a * brow[x];
                   }
                 }
               }
             }
           });
           return absl::OkStatus();
         });
  return out;
}

}  // namespace mxgrid::tensor
