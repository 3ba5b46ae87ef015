// Little-endian field encoding shared by the NDArray format writer and reader, and the
// readers of the composite fields (TShape, Context, type flag) that validate untrusted values.
// Every error names the byte offset of the field it is about.
//
// Thread-safety: stateless functions; thread-safe.
#ifndef MXGRID_LIBS_TENSOR_FORMAT_INTERNAL_WIRE_H_
#define MXGRID_LIBS_TENSOR_FORMAT_INTERNAL_WIRE_H_

#include <cstdint>
#include <string>

#include "absl/base/config.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "libs/base/context.h"
#include "libs/base/dtype.h"
#include "libs/base/shape.h"
#include "libs/tensor/format/byte_io.h"

namespace mxgrid::tensor::format::internal {

// Integer fields are encoded byte by byte, but array payloads are copied as they lie in
// memory, which is the on-disk order only on little-endian hosts.
#if !defined(ABSL_IS_LITTLE_ENDIAN)
#error "the NDArray format copies payloads raw and needs a little-endian host"
#endif

// MXNet's storage types (enum NDArrayStorageType).
inline constexpr int32_t kStorageDense = 0;
inline constexpr int32_t kStorageRowSparse = 1;
inline constexpr int32_t kStorageCsr = 2;

// MXNet's device type 5 (cpu_shared), which loads as cpu.
inline constexpr int32_t kDeviceCpuShared = 5;

// Appends little-endian encodings.
void PutU32(std::string* out, uint32_t value);
void PutU64(std::string* out, uint64_t value);
inline void PutI32(std::string* out, int32_t value) { PutU32(out, static_cast<uint32_t>(value)); }
inline void PutI64(std::string* out, int64_t value) { PutU64(out, static_cast<uint64_t>(value)); }

// Read little-endian integers; DataLoss (with the offset) when the input ends first.
absl::Status ReadU32(Source* source, uint32_t* value);
absl::Status ReadU64(Source* source, uint64_t* value);
absl::Status ReadI32(Source* source, int32_t* value);
absl::Status ReadI64(Source* source, int64_t* value);

// `status` with " (at byte offset X)" added to its message; the code is kept.
absl::Status AtOffset(const absl::Status& status, uint64_t offset);

// DataLoss unless `bytes` bytes of `what` starting at the source's position fit in what
// remains of the input. Call before allocating for declared sizes.
absl::Status CheckRemaining(const Source& source, uint64_t bytes, absl::string_view what);

// A shape as stored in a record. MXNet marks unknown shapes (ndim -1 or a dim -1); those
// have known == false and no `shape`.
struct WireShape {
  int32_t ndim = 0;
  bool known = true;
  Shape shape;
};

// TShape: i32 ndim (-1..Shape::kMaxNdim) then ndim i64 dims (each >= -1). InvalidArgument
// for other values or a shape too large to address.
absl::Status ReadTShape(Source* source, WireShape* shape);
// Pre-V1 shape: `ndim` (already read, <= Shape::kMaxNdim) then ndim u32 dims.
absl::Status ReadLegacyShape(Source* source, uint32_t ndim, WireShape* shape);
// Context: i32 dev_type (1, 2, 3, or 5 read as cpu), i32 dev_id.
absl::Status ReadContext(Source* source, Context* ctx);
// i32 type flag of a dtype MXNet 1.x can store.
absl::Status ReadDType(Source* source, DType* dtype);

// shape.Size() * DTypeSize(dtype); cannot overflow for a shape from Shape::Make.
uint64_t ByteSize(const Shape& shape, DType dtype);

// Rewrites every byte of a bool array to 0 or 1.
void NormalizeBools(void* data, uint64_t count);

}  // namespace mxgrid::tensor::format::internal

#endif  // MXGRID_LIBS_TENSOR_FORMAT_INTERNAL_WIRE_H_
