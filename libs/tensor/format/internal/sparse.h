// Loading of MXNet's sparse records (row_sparse, csr) as dense arrays.
//
// Thread-safety: stateless; thread-safe.
#ifndef MXGRID_LIBS_TENSOR_FORMAT_INTERNAL_SPARSE_H_
#define MXGRID_LIBS_TENSOR_FORMAT_INTERNAL_SPARSE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "libs/base/shape.h"
#include "libs/tensor/format/byte_io.h"
#include "libs/tensor/format/ndarray_format.h"

namespace mxgrid::tensor::format::internal {

// Reads the rest of a V2/V3 sparse record, from the context on: context, type flag, the
// index arrays' types and shapes, the stored values, the index arrays. Checks that the
// layout fits `stype` and every index lies inside `shape`, then allocates the dense array,
// zeroes it and scatters the values into it.
// REQUIRES: stype is kStorageRowSparse or kStorageCsr; record_start is the offset of the
// record's magic (used in messages).
absl::Status ReadSparseBody(Source* source, uint64_t record_start, int32_t stype,
                            const Shape& storage_shape, const Shape& shape,
                            const AllocateFn& allocate, RecordHeader* header);

}  // namespace mxgrid::tensor::format::internal

#endif  // MXGRID_LIBS_TENSOR_FORMAT_INTERNAL_SPARSE_H_
