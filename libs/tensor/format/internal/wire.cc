#include "libs/tensor/format/internal/wire.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"

namespace mxgrid::tensor::format::internal {
namespace {

template <typename T>
void PutLittleEndian(std::string* out, T value) {
  for (size_t i = 0; i < sizeof(T); ++i) {
    out->push_back(static_cast<char>(static_cast<uint8_t>(value >> (8 * i))));
  }
}

template <typename T>
absl::Status ReadLittleEndian(Source* source, T* value) {
  uint8_t bytes[sizeof(T)];
  MXGRID_RETURN_IF_ERROR(source->Read(bytes, sizeof(T)));
  T result = 0;
  for (size_t i = 0; i < sizeof(T); ++i) result |= static_cast<T>(bytes[i]) << (8 * i);
  *value = result;
  return absl::OkStatus();
}

}  // namespace

void PutU32(std::string* out, uint32_t value) { PutLittleEndian(out, value); }
void PutU64(std::string* out, uint64_t value) { PutLittleEndian(out, value); }

absl::Status ReadU32(Source* source, uint32_t* value) { return ReadLittleEndian(source, value); }
absl::Status ReadU64(Source* source, uint64_t* value) { return ReadLittleEndian(source, value); }

absl::Status ReadI32(Source* source, int32_t* value) {
  uint32_t bits;
  MXGRID_RETURN_IF_ERROR(ReadU32(source, &bits));
  *value = static_cast<int32_t>(bits);
  return absl::OkStatus();
}

absl::Status ReadI64(Source* source, int64_t* value) {
  uint64_t bits;
  MXGRID_RETURN_IF_ERROR(ReadU64(source, &bits));
  *value = static_cast<int64_t>(bits);
  return absl::OkStatus();
}

absl::Status AtOffset(const absl::Status& status, uint64_t offset) {
  if (status.ok()) return status;
  return absl::Status(status.code(),
                      absl::StrCat(status.message(), " (at byte offset ", offset, ")"));
}

absl::Status CheckRemaining(const Source& source, uint64_t bytes, absl::string_view what) {
  if (bytes <= source.remaining()) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat("truncated at byte offset ", source.offset(), ": ",
                                          what, " needs ", bytes, " bytes but only ",
                                          source.remaining(), " remain"));
}

absl::Status ReadTShape(Source* source, WireShape* shape) {
  const uint64_t start = source->offset();
  int32_t ndim;
  MXGRID_RETURN_IF_ERROR(ReadI32(source, &ndim));
  *shape = WireShape();
  shape->ndim = ndim;
  if (ndim == -1) {
    shape->known = false;
    return absl::OkStatus();
  }
  if (ndim < -1 || ndim > Shape::kMaxNdim) {
    return absl::InvalidArgumentError(absl::StrCat("invalid ndim ", ndim, " at byte offset ",
                                                   start, "; expected -1 to ",
                                                   Shape::kMaxNdim));
  }
  int64_t dims[Shape::kMaxNdim];
  for (int32_t i = 0; i < ndim; ++i) {
    const uint64_t dim_offset = source->offset();
    MXGRID_RETURN_IF_ERROR(ReadI64(source, &dims[i]));
    if (dims[i] == -1) {
      shape->known = false;
    } else if (dims[i] < -1) {
      return absl::InvalidArgumentError(absl::StrCat("dimension ", i, " is ", dims[i],
                                                     " at byte offset ", dim_offset));
    }
  }
  if (!shape->known) return absl::OkStatus();
  absl::StatusOr<Shape> made = Shape::Make(absl::MakeConstSpan(dims, ndim));
  if (!made.ok()) return AtOffset(made.status(), start);
  shape->shape = *std::move(made);
  return absl::OkStatus();
}

absl::Status ReadLegacyShape(Source* source, uint32_t ndim, WireShape* shape) {
  const uint64_t start = source->offset();
  *shape = WireShape();
  if (ndim > static_cast<uint32_t>(Shape::kMaxNdim)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid legacy ndim ", ndim, " at byte offset ", start));
  }
  shape->ndim = static_cast<int32_t>(ndim);
  int64_t dims[Shape::kMaxNdim];
  for (uint32_t i = 0; i < ndim; ++i) {
    uint32_t dim;
    MXGRID_RETURN_IF_ERROR(ReadU32(source, &dim));
    dims[i] = dim;
  }
  absl::StatusOr<Shape> made = Shape::Make(absl::MakeConstSpan(dims, ndim));
  if (!made.ok()) return AtOffset(made.status(), start);
  shape->shape = *std::move(made);
  return absl::OkStatus();
}

absl::Status ReadContext(Source* source, Context* ctx) {
  const uint64_t start = source->offset();
  int32_t dev_type, dev_id;
  MXGRID_RETURN_IF_ERROR(ReadI32(source, &dev_type));
  MXGRID_RETURN_IF_ERROR(ReadI32(source, &dev_id));
  if (dev_type == kDeviceCpuShared) dev_type = static_cast<int32_t>(DeviceType::kCPU);
  absl::StatusOr<Context> made = Context::Make(dev_type, dev_id);
  if (!made.ok()) return AtOffset(made.status(), start);
  *ctx = *made;
  return absl::OkStatus();
}

absl::Status ReadDType(Source* source, DType* dtype) {
  const uint64_t start = source->offset();
  int32_t flag;
  MXGRID_RETURN_IF_ERROR(ReadI32(source, &flag));
  absl::StatusOr<DType> made = DTypeFromFlag(flag);
  if (!made.ok()) return AtOffset(made.status(), start);
  *dtype = *made;
  return absl::OkStatus();
}

uint64_t ByteSize(const Shape& shape, DType dtype) {
  return static_cast<uint64_t>(shape.Size()) * DTypeSize(dtype);
}

void NormalizeBools(void* data, uint64_t count) {
  uint8_t* bytes = static_cast<uint8_t*>(data);
  for (uint64_t i = 0; i < count; ++i) bytes[i] = bytes[i] != 0 ? 1 : 0;
}

}  // namespace mxgrid::tensor::format::internal
