#include "libs/tensor/format/byte_io.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace mxgrid::tensor::format {

Sink::~Sink() = default;

absl::Status Sink::Flush() { return absl::OkStatus(); }

Source::~Source() = default;

absl::Status TruncatedError(uint64_t offset, uint64_t needed, uint64_t remaining) {
  return absl::DataLossError(absl::StrCat("truncated at byte offset ", offset, ": needed ",
                                          needed, " more bytes but only ", remaining,
                                          " remain"));
}

absl::Status StringSink::Append(const void* data, size_t n) {
  if (n > 0) contents_.append(static_cast<const char*>(data), n);
  return absl::OkStatus();
}

absl::Status MemorySource::Read(void* dst, size_t n) {
  if (n > remaining()) return TruncatedError(pos_, n, remaining());
  if (n > 0) std::memcpy(dst, data_.data() + pos_, n);
  pos_ += n;
  return absl::OkStatus();
}

}  // namespace mxgrid::tensor::format
