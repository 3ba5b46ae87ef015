// Worker-specific proto conversions: contexts and array descriptions (worker.proto).
#ifndef MXGRID_SERVICES_WORKER_INTERNAL_CODEC_H_
#define MXGRID_SERVICES_WORKER_INTERNAL_CODEC_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "libs/base/context.h"
#include "libs/executor/sparse_invoke.h"
#include "libs/tensor/ndarray.h"
#include "libs/tensor/sparse.h"
#include "proto/mxgrid/v1/worker.pb.h"

namespace mxgrid::services::internal {

// InvalidArgument for an unknown device type or a negative id; an unset type is the CPU.
absl::StatusOr<Context> FromProto(const v1::Context& proto);
void ToProto(Context ctx, v1::Context* out);
void ToProto(uint64_t handle, const tensor::NDArray& array, v1::ArrayInfo* out);
void ToProto(uint64_t handle, const tensor::SparseNDArray& array, v1::ArrayInfo* out);
void ToProto(uint64_t handle, const executor::AnyArray& array, v1::ArrayInfo* out);
// ROW_SPARSE / CSR; InvalidArgument otherwise (dense is not a sparse storage type).
absl::StatusOr<tensor::StorageType> SparseStorageFromProto(v1::StorageType stype);

}  // namespace mxgrid::services::internal

#endif  // MXGRID_SERVICES_WORKER_INTERNAL_CODEC_H_
