// Decoder half of ndarray_format.h: every record version MXNet 1.x reads, and the list
// container. Sparse records are delegated to internal/sparse.cc.
#include <cinttypes>
#include <cstdio>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/base/check.h"
#include "libs/base/status_macros.h"
#include "libs/tensor/format/internal/sparse.h"
#include "libs/tensor/format/internal/wire.h"
#include "libs/tensor/format/ndarray_format.h"

namespace mxgrid::tensor::format {
namespace {

using internal::WireShape;

// The smallest possible record: a pre-V1 record with ndim 0 (a none array), 4 bytes.
constexpr uint64_t kMinRecordBytes = 4;

std::string Hex(uint64_t value) {
  char text[24];
  std::snprintf(text, sizeof(text), "0x%" PRIX64, value);
  return text;
}

// Reads context, type flag and data of a dense record whose shape has been read.
absl::Status ReadDenseBody(Source* source, const Shape& shape, const AllocateFn& allocate,
                           RecordHeader* header) {
  Context ctx;
  DType dtype;
  MXGRID_RETURN_IF_ERROR(internal::ReadContext(source, &ctx));
  MXGRID_RETURN_IF_ERROR(internal::ReadDType(source, &dtype));
  const uint64_t bytes = internal::ByteSize(shape, dtype);
  MXGRID_RETURN_IF_ERROR(internal::CheckRemaining(*source, bytes, "array data"));
  header->dtype = dtype;
  header->shape = shape;
  header->ctx = ctx;
  header->is_none = false;
  MXGRID_ASSIGN_OR_RETURN(void* buffer, allocate(*header));
  if (bytes == 0) return absl::OkStatus();
  if (buffer == nullptr) {
    return absl::InternalError(absl::StrCat("AllocateFn returned null for ", bytes, " bytes"));
  }
  MXGRID_RETURN_IF_ERROR(source->Read(buffer, static_cast<size_t>(bytes)));
  if (dtype == DType::kBool) internal::NormalizeBools(buffer, bytes);
  return absl::OkStatus();
}

// V2 (0xF993FAC9) and V3 (0xF993FACA) records, after the magic.
absl::Status ReadModernRecord(Source* source, uint64_t start, uint32_t magic,
                              const AllocateFn& allocate, RecordHeader* header) {
  const uint64_t stype_offset = source->offset();
  int32_t stype;
  MXGRID_RETURN_IF_ERROR(internal::ReadI32(source, &stype));
  if (stype != internal::kStorageDense && stype != internal::kStorageRowSparse &&
      stype != internal::kStorageCsr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown storage type ", stype, " at byte offset ", stype_offset,
        "; expected 0 (default), 1 (row_sparse) or 2 (csr)"));
  }
  WireShape storage_shape;
  if (stype != internal::kStorageDense) {
    MXGRID_RETURN_IF_ERROR(internal::ReadTShape(source, &storage_shape));
  }
  WireShape shape;
  MXGRID_RETURN_IF_ERROR(internal::ReadTShape(source, &shape));
  // V2 keeps the legacy meaning of ndim 0 ("none"); V3 reads it as a scalar.
  if (!shape.known || (magic == kRecordV2Magic && shape.ndim == 0)) {
    header->is_none = true;
    return absl::OkStatus();
  }
  if (stype == internal::kStorageDense) {
    return ReadDenseBody(source, shape.shape, allocate, header);
  }
  if (!storage_shape.known) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sparse record at byte offset ", start, " has an unknown storage shape"));
  }
  return internal::ReadSparseBody(source, start, stype, storage_shape.shape, shape.shape,
                                  allocate, header);
}

}  // namespace

absl::Status ReadRecord(Source* source, const AllocateFn& allocate, RecordHeader* header) {
  MXGRID_CHECK(header != nullptr) << "ReadRecord needs a header to fill";
  *header = RecordHeader();
  const uint64_t start = source->offset();
  uint32_t magic;
  MXGRID_RETURN_IF_ERROR(internal::ReadU32(source, &magic));
  if (magic == kRecordV2Magic || magic == kRecordV3Magic) {
    return ReadModernRecord(source, start, magic, allocate, header);
  }
  WireShape shape;
  if (magic == kRecordV1Magic) {
    MXGRID_RETURN_IF_ERROR(internal::ReadTShape(source, &shape));
  } else if (magic <= static_cast<uint32_t>(Shape::kMaxNdim)) {
    // Pre-V1 records have no magic: the first word is ndim.
    MXGRID_RETURN_IF_ERROR(internal::ReadLegacyShape(source, magic, &shape));
  } else {
    return absl::DataLossError(absl::StrCat(
        "bad NDArray record magic ", Hex(magic), " at byte offset ", start, "; expected ",
        Hex(kRecordV2Magic), ", ", Hex(kRecordV3Magic), ", ", Hex(kRecordV1Magic),
        " or a legacy ndim <= ", Shape::kMaxNdim));
  }
  if (!shape.known || shape.ndim == 0) {
    header->is_none = true;
    return absl::OkStatus();
  }
  return ReadDenseBody(source, shape.shape, allocate, header);
}

absl::StatusOr<ListContents> ReadList(Source* source, const AllocateFn& allocate) {
  const uint64_t start = source->offset();
  uint64_t magic, reserved, count;
  MXGRID_RETURN_IF_ERROR(internal::ReadU64(source, &magic));
  if (magic != kListMagic) {
    return absl::DataLossError(absl::StrCat("not an MXNet NDArray file: header ", Hex(magic),
                                            " at byte offset ", start, "; expected ",
                                            Hex(kListMagic)));
  }
  MXGRID_RETURN_IF_ERROR(internal::ReadU64(source, &reserved));
  const uint64_t count_offset = source->offset();
  MXGRID_RETURN_IF_ERROR(internal::ReadU64(source, &count));
  if (count > source->remaining() / kMinRecordBytes) {
    return absl::DataLossError(absl::StrCat("array count ", count, " at byte offset ",
                                            count_offset, " cannot fit in the ",
                                            source->remaining(), " bytes that remain"));
  }
  // Grows as records are read, so a large declared count allocates nothing up front.
  ListContents contents;
  for (uint64_t i = 0; i < count; ++i) {
    RecordHeader header;
    MXGRID_RETURN_IF_ERROR(ReadRecord(source, allocate, &header));
    contents.headers.push_back(std::move(header));
  }
  const uint64_t names_offset = source->offset();
  uint64_t name_count;
  MXGRID_RETURN_IF_ERROR(internal::ReadU64(source, &name_count));
  if (name_count != 0 && name_count != count) {
    return absl::DataLossError(absl::StrCat("name count ", name_count, " at byte offset ",
                                            names_offset, " does not match the ", count,
                                            " arrays; expected 0 (a list) or ", count));
  }
  for (uint64_t i = 0; i < name_count; ++i) {
    uint64_t length;
    MXGRID_RETURN_IF_ERROR(internal::ReadU64(source, &length));
    MXGRID_RETURN_IF_ERROR(internal::CheckRemaining(*source, length, "name"));
    std::string name(length, '\0');
    MXGRID_RETURN_IF_ERROR(source->Read(name.data(), length));
    contents.names.push_back(std::move(name));
  }
  return contents;
}

}  // namespace mxgrid::tensor::format
