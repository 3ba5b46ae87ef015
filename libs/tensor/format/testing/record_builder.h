// Test helpers for the NDArray format: a little-endian byte builder for hand-made (also
// deliberately broken) records and files, and an AllocateFn that keeps loaded arrays.
//
//   RecordBuilder b;
//   b.U32(kRecordV1Magic).TShape({2}).Ctx(1, 0).I32(0).Values<float>({1, 2});
//   MemorySource source(b.span());
//
// Thread-compatible.
#ifndef MXGRID_LIBS_TENSOR_FORMAT_TESTING_RECORD_BUILDER_H_
#define MXGRID_LIBS_TENSOR_FORMAT_TESTING_RECORD_BUILDER_H_

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "libs/tensor/format/ndarray_format.h"

namespace mxgrid::tensor::format::testing {

class RecordBuilder {
 public:
  RecordBuilder& U32(uint32_t value);
  RecordBuilder& I32(int32_t value) { return U32(static_cast<uint32_t>(value)); }
  RecordBuilder& U64(uint64_t value);
  RecordBuilder& I64(int64_t value) { return U64(static_cast<uint64_t>(value)); }
  RecordBuilder& Bytes(const void* data, size_t n);
  // u64 length, then the bytes.
  RecordBuilder& Str(const std::string& text);
  // i32 ndim, then ndim i64 dims.
  RecordBuilder& TShape(std::initializer_list<int64_t> dims);
  RecordBuilder& Ctx(int32_t dev_type, int32_t dev_id) { return I32(dev_type).I32(dev_id); }
  // Raw little-endian values (the host is little-endian).
  template <typename T>
  RecordBuilder& Values(std::initializer_list<T> values) {
    for (const T& v : values) Bytes(&v, sizeof(T));
    return *this;
  }
  // List header: 0x112, reserved 0, count.
  RecordBuilder& ListHeader(uint64_t count) { return U64(kListMagic).U64(0).U64(count); }

  const std::string& bytes() const { return bytes_; }
  size_t size() const { return bytes_.size(); }
  absl::Span<const uint8_t> span() const {
    return {reinterpret_cast<const uint8_t*>(bytes_.data()), bytes_.size()};
  }

 private:
  std::string bytes_;
};

// An AllocateFn backed by vectors this object owns; buffers()[i] is the i-th allocation.
class Buffers {
 public:
  AllocateFn Allocator();
  const std::vector<std::vector<uint8_t>>& buffers() const { return buffers_; }

  // The i-th buffer reinterpreted as T values.
  template <typename T>
  std::vector<T> As(size_t i) const {
    std::vector<T> out(buffers_.at(i).size() / sizeof(T));
    if (!out.empty()) std::memcpy(out.data(), buffers_[i].data(), out.size() * sizeof(T));
    return out;
  }

 private:
  std::vector<std::vector<uint8_t>> buffers_;
};

}  // namespace mxgrid::tensor::format::testing

#endif  // MXGRID_LIBS_TENSOR_FORMAT_TESTING_RECORD_BUILDER_H_
