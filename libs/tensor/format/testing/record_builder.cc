#include "libs/tensor/format/testing/record_builder.h"

namespace mxgrid::tensor::format::testing {

RecordBuilder& RecordBuilder::U32(uint32_t value) {
  for (int i = 0; i < 4; ++i) bytes_.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
  return *this;
}

RecordBuilder& RecordBuilder::U64(uint64_t value) {
  for (int i = 0; i < 8; ++i) bytes_.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
  return *this;
}

RecordBuilder& RecordBuilder::Bytes(const void* data, size_t n) {
  bytes_.append(static_cast<const char*>(data), n);
  return *this;
}

RecordBuilder& RecordBuilder::Str(const std::string& text) {
  U64(text.size());
  bytes_.append(text);
  return *this;
}

RecordBuilder& RecordBuilder::TShape(std::initializer_list<int64_t> dims) {
  I32(static_cast<int32_t>(dims.size()));
  for (int64_t d : dims) I64(d);
  return *this;
}

AllocateFn Buffers::Allocator() {
  return [this](const RecordHeader& header) -> absl::StatusOr<void*> {
    buffers_.emplace_back(static_cast<size_t>(header.shape.Size()) * DTypeSize(header.dtype),
                          0xAB);
    return static_cast<void*>(buffers_.back().data());
  };
}

}  // namespace mxgrid::tensor::format::testing
