// Sparse NDArrays as MXNet 1.x stores them: `row_sparse` (a subset of the rows of a dense
// array: the row ids and those rows' values) and `csr` (a 2-D matrix in compressed sparse row
// form). Each part is an ordinary NDArray on the engine, so work on sparse arrays is ordered
// with all other work on the same storage.
//
//   MXGRID_ASSIGN_OR_RETURN(SparseNDArray rsp, FromDense(dense, StorageType::kRowSparse));
//   rsp.indices();   // int64 (k,) row ids, strictly increasing
//   rsp.data();      // (k, shape[1], ...) those rows
//   MXGRID_ASSIGN_OR_RETURN(NDArray back, ToDense(rsp));  // asynchronous
//
// Invariants of a SparseNDArray (checked by FromParts, kept by every function here): all
// parts on one context; indices and indptr int64; row_sparse: indices strictly increasing in
// [0, shape[0]), data (len(indices), shape[1:]); csr: shape 2-D, indptr (rows + 1,) starting
// at 0, non-decreasing, ending at nnz, column indices in [0, cols) and increasing within a
// row, data and indices (nnz,). Kernels may rely on them.
//
// Functions whose result's size depends on values (FromDense, Retain) wait for their inputs;
// the others return at once with the work pushed to the engine, as NDArray operations do.
//
// Thread-safety: a SparseNDArray is an immutable value (its parts are shared NDArrays, as an
// NDArray shares its storage); operations that "write" a sparse array return a new value.
#ifndef MXGRID_LIBS_TENSOR_SPARSE_H_
#define MXGRID_LIBS_TENSOR_SPARSE_H_

#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "libs/tensor/ndarray.h"

namespace mxgrid::tensor {

// MXNet's storage types (NDArrayStorageType: default 0, row_sparse 1, csr 2).
enum class StorageType { kDefault = 0, kRowSparse = 1, kCSR = 2 };

// "default", "row_sparse", "csr".
absl::string_view StorageTypeName(StorageType stype);
// From a name as StorageTypeName prints it; InvalidArgument otherwise.
absl::StatusOr<StorageType> StorageTypeFromName(absl::string_view name);

class SparseNDArray {
 public:
  SparseNDArray() = default;

  // No stored values: every element is zero.
  static absl::StatusOr<SparseNDArray> Zeros(StorageType stype, const Shape& shape,
                                             Context ctx = Context::Cpu(),
                                             DType dtype = DType::kFloat32);
  // From parts: row_sparse {data, indices}; csr {data, indptr, indices} (MXNet's aux order:
  // indptr then indices). Waits for the index parts and checks the invariants above;
  // InvalidArgument naming the first violation.
  static absl::StatusOr<SparseNDArray> FromParts(StorageType stype, const Shape& shape,
                                                 NDArray data, std::vector<NDArray> aux);

  StorageType stype() const { return stype_; }
  const Shape& shape() const { return shape_; }
  DType dtype() const { return data_.dtype(); }
  Context context() const { return data_.context(); }
  // Stored values.
  const NDArray& data() const { return data_; }
  // row_sparse: row ids; csr: column ids. int64.
  const NDArray& indices() const { return indices_; }
  // csr only: row pointers (rows + 1,); none for row_sparse.
  const NDArray& indptr() const { return indptr_; }
  // MXNet's aux arrays in order (row_sparse: indices; csr: indptr, indices).
  std::vector<NDArray> aux() const;
  // row_sparse: number of stored rows; csr: number of stored values.
  int64_t num_stored() const { return indices_.is_none() ? 0 : indices_.shape()[0]; }
  // row_sparse with every row stored: data() is then the dense array.
  bool all_rows_stored() const {
    return stype_ == StorageType::kRowSparse && num_stored() == shape_[0];
  }
  // Bytes of the parts.
  size_t nbytes() const;

 private:
  SparseNDArray(StorageType stype, Shape shape, NDArray data, NDArray indices, NDArray indptr)
      : stype_(stype),
        shape_(std::move(shape)),
        data_(std::move(data)),
        indices_(std::move(indices)),
        indptr_(std::move(indptr)) {}
  friend class SparseBuilder;

  StorageType stype_ = StorageType::kRowSparse;
  Shape shape_;
  NDArray data_;
  NDArray indices_;
  NDArray indptr_;
};

// The dense array (zeros where nothing is stored). Asynchronous.
absl::StatusOr<NDArray> ToDense(const SparseNDArray& src);
// Writes the dense values into `out` (same shape and dtype, any storage). Asynchronous.
absl::Status ToDenseInto(const SparseNDArray& src, const NDArray& out);
// The nonzero rows (row_sparse) or values (csr, 2-D only) of `dense`. Waits for `dense`.
absl::StatusOr<SparseNDArray> FromDense(const NDArray& dense, StorageType stype);
// Conversion between any two storage types (dense through ToDense/FromDense).
absl::StatusOr<SparseNDArray> Convert(const SparseNDArray& src, StorageType stype);

// A copy of `src` on `ctx` with values of `dtype` (converted as NDArray::CopyTo does; the
// index parts copied as they are). Asynchronous.
absl::StatusOr<SparseNDArray> CopyTo(const SparseNDArray& src, Context ctx, DType dtype);

// MXNet's sparse.retain: a row_sparse array holding exactly the rows `row_ids` (any integer
// or float dtype, ids in [0, rows), sorted and made unique here) with `src`'s values (zeros
// for rows `src` does not store). Waits for `row_ids`; InvalidArgument for an id out of
// range or a non-row_sparse `src`.
absl::StatusOr<SparseNDArray> Retain(const SparseNDArray& src, const NDArray& row_ids);
// The sum of row_sparse arrays of one shape, dtype and context (kvstore pushes from several
// devices): it stores the union of their rows. Waits for their row ids; InvalidArgument for
// no values, or values that are not row_sparse or differ in shape, dtype or context.
absl::StatusOr<SparseNDArray> SumRowSparse(absl::Span<const SparseNDArray> values);
// The row ids `row_ids` holds (any integer or float dtype; waited for), sorted and unique,
// as Retain takes them; InvalidArgument for an id outside [0, rows).
absl::StatusOr<std::vector<int64_t>> SortedRowIds(const NDArray& row_ids, int64_t rows);
// Retain of a dense array (every row counts as stored): exactly the rows `row_ids` (as
// Retain takes them) of `dense` (at least 1-D). Waits for `row_ids`; InvalidArgument for an
// id out of range.
absl::StatusOr<SparseNDArray> RetainRows(const NDArray& dense, const NDArray& row_ids);
// The same row_sparse values with every row stored (MXNet fills an optimizer state that
// holds no rows this way before a sparse update). Asynchronous.
absl::StatusOr<SparseNDArray> WithAllRows(const SparseNDArray& src);

// Rows `rows` (int64 ids, in range) of `src` (n, ...) as a new (k, ...) array, and the
// inverse: writes `values` (k, ...) into those rows of `dst`. Asynchronous; an id out of
// range fails the pushed work.
absl::StatusOr<NDArray> GatherRows(const NDArray& src, const NDArray& rows);
absl::Status ScatterRows(const NDArray& values, const NDArray& rows, const NDArray& dst);

// dot(csr, dense) (transpose_a: dot(csr.T, dense)); float32 or float64, rhs 2-D with the
// matching dimension. A dense result. Asynchronous.
absl::StatusOr<NDArray> DotCsrDense(const SparseNDArray& lhs, const NDArray& rhs,
                                    bool transpose_a);

}  // namespace mxgrid::tensor

#endif  // MXGRID_LIBS_TENSOR_SPARSE_H_
