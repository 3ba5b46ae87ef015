// Encoder half of ndarray_format.h: V2 dense records and the 0x112 list container.
#include <string>

#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"
#include "libs/tensor/format/internal/wire.h"
#include "libs/tensor/format/ndarray_format.h"

namespace mxgrid::tensor::format {
namespace {

using internal::PutI32;
using internal::PutI64;
using internal::PutU32;
using internal::PutU64;

// Checks that `array` is something MXNet 1.x can load back as written.
absl::Status ValidateArray(const ArrayView& array) {
  absl::StatusOr<DType> dtype = DTypeFromFlag(static_cast<int64_t>(array.dtype));
  if (!dtype.ok()) return dtype.status();
  if (array.shape.ndim() == 0) {
    return absl::InvalidArgumentError(
        "cannot write a scalar (ndim 0): in the V2 format MXNet 1.x reads ndim 0 as an empty "
        "'none' array; reshape it to (1,) first");
  }
  absl::StatusOr<Shape> shape = Shape::Make(array.shape.dims());
  if (!shape.ok()) return shape.status();
  if (array.shape.Size() > 0 && array.data == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("array of shape ", array.shape.ToString(), " has no data"));
  }
  absl::StatusOr<Context> ctx = Context::Make(static_cast<int64_t>(array.ctx.device_type),
                                              array.ctx.device_id);
  return ctx.status();
}

// Writes a validated array: header fields, then the payload straight from array.data.
absl::Status WriteValidRecord(const ArrayView& array, Sink* sink) {
  std::string header;
  header.reserve(4 + 4 + 4 + 8 * Shape::kMaxNdim + 12);
  PutU32(&header, kRecordV2Magic);
  PutI32(&header, internal::kStorageDense);
  PutI32(&header, array.shape.ndim());
  for (int64_t dim : array.shape.dims()) PutI64(&header, dim);
  PutI32(&header, static_cast<int32_t>(array.ctx.device_type));
  PutI32(&header, array.ctx.device_id);
  PutI32(&header, static_cast<int32_t>(array.dtype));
  MXGRID_RETURN_IF_ERROR(sink->Append(header.data(), header.size()));
  const uint64_t bytes = internal::ByteSize(array.shape, array.dtype);
  if (bytes == 0) return absl::OkStatus();
  return sink->Append(array.data, static_cast<size_t>(bytes));
}

}  // namespace

absl::Status WriteRecord(const ArrayView& array, Sink* sink) {
  MXGRID_RETURN_IF_ERROR(ValidateArray(array));
  return WriteValidRecord(array, sink);
}

absl::Status WriteList(absl::Span<const ArrayView> arrays, absl::Span<const std::string> names,
                       Sink* sink) {
  if (!names.empty() && names.size() != arrays.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "got ", names.size(), " names for ", arrays.size(),
        " arrays; pass no names (a list) or one per array (a dict)"));
  }
  for (size_t i = 0; i < arrays.size(); ++i) {
    absl::Status status = ValidateArray(arrays[i]);
    if (!status.ok()) {
      std::string label = names.empty() ? absl::StrCat("array ", i)
                                        : absl::StrCat("array ", i, " ('", names[i], "')");
      return absl::Status(status.code(), absl::StrCat(label, ": ", status.message()));
    }
  }
  std::string header;
  PutU64(&header, kListMagic);
  PutU64(&header, 0);  // reserved
  PutU64(&header, arrays.size());
  MXGRID_RETURN_IF_ERROR(sink->Append(header.data(), header.size()));
  for (const ArrayView& array : arrays) {
    MXGRID_RETURN_IF_ERROR(WriteValidRecord(array, sink));
  }
  std::string trailer;
  PutU64(&trailer, names.size());
  for (const std::string& name : names) {
    PutU64(&trailer, name.size());
    trailer.append(name);
  }
  return sink->Append(trailer.data(), trailer.size());
}

}  // namespace mxgrid::tensor::format
