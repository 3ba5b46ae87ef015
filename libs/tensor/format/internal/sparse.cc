#include "libs/tensor/format/internal/sparse.h"

#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"
#include "libs/tensor/format/internal/wire.h"

namespace mxgrid::tensor::format::internal {
namespace {

// One index array (row_sparse indices, csr indptr or column indices), widened to int64.
struct IndexArray {
  DType type = DType::kInt64;
  Shape shape;
  std::vector<int64_t> values;
  uint64_t data_offset = 0;  // where its data starts in the input
  uint64_t element_size() const { return DTypeSize(type); }
  uint64_t OffsetOf(size_t i) const { return data_offset + i * element_size(); }
};

absl::Status LayoutError(uint64_t record_start, const std::string& what) {
  return absl::InvalidArgumentError(
      absl::StrCat("sparse record at byte offset ", record_start, ": ", what));
}

// Checks the shapes of a sparse record against each other (not the index values).
absl::Status CheckLayout(uint64_t record_start, int32_t stype, const Shape& storage_shape,
                         const Shape& shape, const IndexArray* aux) {
  if (stype == kStorageRowSparse) {
    bool rows_match = shape.ndim() >= 1 && storage_shape.ndim() == shape.ndim();
    for (int i = 1; rows_match && i < shape.ndim(); ++i) {
      rows_match = storage_shape[i] == shape[i];
    }
    if (!rows_match) {
      return LayoutError(record_start, absl::StrCat("row_sparse storage shape ",
                                                    storage_shape.ToString(),
                                                    " does not hold rows of shape ",
                                                    shape.ToString()));
    }
    if (aux[0].shape.Size() != storage_shape[0]) {
      return LayoutError(record_start, absl::StrCat("row_sparse has ", storage_shape[0],
                                                    " stored rows but ", aux[0].shape.Size(),
                                                    " row indices"));
    }
    return absl::OkStatus();
  }
  if (shape.ndim() != 2 || storage_shape.ndim() != 1) {
    return LayoutError(record_start,
                       absl::StrCat("csr needs a 2-d shape and 1-d storage, got ",
                                    shape.ToString(), " and ", storage_shape.ToString()));
  }
  const int64_t nnz = storage_shape[0];
  const int64_t indptr_size = aux[0].shape.Size();
  if (indptr_size != shape[0] + 1 && !(indptr_size == 0 && nnz == 0)) {
    return LayoutError(record_start, absl::StrCat("csr with ", shape[0], " rows has ",
                                                  indptr_size, " row pointers"));
  }
  if (aux[1].shape.Size() != nnz) {
    return LayoutError(record_start, absl::StrCat("csr has ", nnz, " values but ",
                                                  aux[1].shape.Size(), " column indices"));
  }
  return absl::OkStatus();
}

// Reads an index array's type flag and shape.
absl::Status ReadIndexHeader(Source* source, IndexArray* aux) {
  const uint64_t start = source->offset();
  int32_t flag;
  MXGRID_RETURN_IF_ERROR(ReadI32(source, &flag));
  if (flag != static_cast<int32_t>(DType::kInt64) &&
      flag != static_cast<int32_t>(DType::kInt32)) {
    return absl::InvalidArgumentError(absl::StrCat("sparse index type flag ", flag,
                                                   " at byte offset ", start,
                                                   "; expected 6 (int64) or 4 (int32)"));
  }
  aux->type = static_cast<DType>(flag);
  const uint64_t shape_start = source->offset();
  WireShape shape;
  MXGRID_RETURN_IF_ERROR(ReadTShape(source, &shape));
  if (!shape.known || shape.shape.ndim() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sparse index array at byte offset ", shape_start, " must have a known 1-d shape"));
  }
  aux->shape = shape.shape;
  return absl::OkStatus();
}

// Reads an index array's data (its size checked against the input first).
absl::Status ReadIndexData(Source* source, IndexArray* aux) {
  const uint64_t count = static_cast<uint64_t>(aux->shape.Size());
  MXGRID_RETURN_IF_ERROR(CheckRemaining(*source, count * aux->element_size(), "sparse indices"));
  aux->data_offset = source->offset();
  aux->values.resize(count);
  if (aux->type == DType::kInt64) {
    return source->Read(aux->values.data(), count * sizeof(int64_t));
  }
  std::vector<int32_t> narrow(count);
  MXGRID_RETURN_IF_ERROR(source->Read(narrow.data(), count * sizeof(int32_t)));
  for (uint64_t i = 0; i < count; ++i) aux->values[i] = narrow[i];
  return absl::OkStatus();
}

absl::Status IndexError(const IndexArray& aux, size_t i, const std::string& what) {
  return absl::DataLossError(absl::StrCat(what, " (index ", aux.values[i], " at byte offset ",
                                          aux.OffsetOf(i), ")"));
}

// Checks every stored index against the dense shape.
absl::Status CheckIndices(int32_t stype, const Shape& shape, const IndexArray* aux) {
  if (stype == kStorageRowSparse) {
    for (size_t i = 0; i < aux[0].values.size(); ++i) {
      if (aux[0].values[i] < 0 || aux[0].values[i] >= shape[0]) {
        return IndexError(aux[0], i, absl::StrCat("row_sparse row index outside [0, ",
                                                  shape[0], ")"));
      }
    }
    return absl::OkStatus();
  }
  const std::vector<int64_t>& indptr = aux[0].values;
  const int64_t nnz = static_cast<int64_t>(aux[1].values.size());
  for (size_t r = 0; r < indptr.size(); ++r) {
    const int64_t previous = r == 0 ? 0 : indptr[r - 1];
    if (indptr[r] < previous || indptr[r] > nnz || (r == 0 && indptr[r] != 0)) {
      return IndexError(aux[0], r, absl::StrCat("csr row pointers must rise from 0 to ", nnz));
    }
  }
  if (!indptr.empty() && indptr.back() != nnz) {
    return IndexError(aux[0], indptr.size() - 1,
                      absl::StrCat("csr last row pointer must equal the ", nnz, " values"));
  }
  for (size_t j = 0; j < aux[1].values.size(); ++j) {
    if (aux[1].values[j] < 0 || aux[1].values[j] >= shape[1]) {
      return IndexError(aux[1], j,
                        absl::StrCat("csr column index outside [0, ", shape[1], ")"));
    }
  }
  return absl::OkStatus();
}

// Writes the stored values into the zeroed dense buffer.
void Scatter(int32_t stype, const Shape& shape, uint64_t element_size,
             const std::vector<uint8_t>& values, const IndexArray* aux, uint8_t* dense) {
  if (stype == kStorageRowSparse) {
    const uint64_t row_bytes = static_cast<uint64_t>(shape.ProdRange(1, shape.ndim())) *
                               element_size;
    for (size_t i = 0; i < aux[0].values.size(); ++i) {
      std::memcpy(dense + aux[0].values[i] * row_bytes, values.data() + i * row_bytes,
                  row_bytes);
    }
    return;
  }
  const std::vector<int64_t>& indptr = aux[0].values;
  for (size_t r = 0; r + 1 < indptr.size(); ++r) {
    for (int64_t j = indptr[r]; j < indptr[r + 1]; ++j) {
      const uint64_t cell = r * static_cast<uint64_t>(shape[1]) + aux[1].values[j];
      std::memcpy(dense + cell * element_size, values.data() + j * element_size,
                  element_size);
    }
  }
}

}  // namespace

absl::Status ReadSparseBody(Source* source, uint64_t record_start, int32_t stype,
                            const Shape& storage_shape, const Shape& shape,
                            const AllocateFn& allocate, RecordHeader* header) {
  const int num_aux = stype == kStorageRowSparse ? 1 : 2;
  Context ctx;
  DType dtype;
  MXGRID_RETURN_IF_ERROR(ReadContext(source, &ctx));
  MXGRID_RETURN_IF_ERROR(ReadDType(source, &dtype));
  IndexArray aux[2];
  for (int i = 0; i < num_aux; ++i) MXGRID_RETURN_IF_ERROR(ReadIndexHeader(source, &aux[i]));
  MXGRID_RETURN_IF_ERROR(CheckLayout(record_start, stype, storage_shape, shape, aux));

  const uint64_t value_bytes = ByteSize(storage_shape, dtype);
  MXGRID_RETURN_IF_ERROR(CheckRemaining(*source, value_bytes, "sparse values"));
  std::vector<uint8_t> values(value_bytes);
  MXGRID_RETURN_IF_ERROR(source->Read(values.data(), value_bytes));
  for (int i = 0; i < num_aux; ++i) MXGRID_RETURN_IF_ERROR(ReadIndexData(source, &aux[i]));
  MXGRID_RETURN_IF_ERROR(CheckIndices(stype, shape, aux));

  header->dtype = dtype;
  header->shape = shape;
  header->ctx = ctx;
  header->is_none = false;
  MXGRID_ASSIGN_OR_RETURN(void* buffer, allocate(*header));
  const uint64_t dense_bytes = ByteSize(shape, dtype);
  if (dense_bytes == 0) return absl::OkStatus();
  if (buffer == nullptr) {
    return absl::InternalError(
        absl::StrCat("AllocateFn returned null for ", dense_bytes, " bytes"));
  }
  uint8_t* dense = static_cast<uint8_t*>(buffer);
  std::memset(dense, 0, dense_bytes);
  Scatter(stype, shape, DTypeSize(dtype), values, aux, dense);
  if (dtype == DType::kBool) NormalizeBools(dense, dense_bytes);
  return absl::OkStatus();
}

}  // namespace mxgrid::tensor::format::internal
