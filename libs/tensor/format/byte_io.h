// Byte sinks and sources: where the NDArray file format (ndarray_format.h) writes to and
// reads from. A small seam so the same encoder and decoder serve files, in-memory strings
// (pickling, RPC payloads) and fuzzers.
//
//   MXGRID_ASSIGN_OR_RETURN(std::unique_ptr<Sink> sink, OpenFileSink("/tmp/x.params"));
//   MXGRID_RETURN_IF_ERROR(sink->Append(bytes, n));
//   MXGRID_RETURN_IF_ERROR(sink->Flush());   // reports write errors; do not skip
//
//   MemorySource source(absl::MakeConstSpan(buffer));
//   MXGRID_RETURN_IF_ERROR(source.Read(&value, sizeof(value)));
//
// A Source always knows how many bytes are left (remaining()), so decoders can refuse a
// declared size that the input cannot hold before allocating for it. Every read error names
// the byte offset it happened at.
//
// Thread-safety: sinks and sources are thread-compatible (one user at a time).
#ifndef MXGRID_LIBS_TENSOR_FORMAT_BYTE_IO_H_
#define MXGRID_LIBS_TENSOR_FORMAT_BYTE_IO_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace mxgrid::tensor::format {

// Where encoded bytes go.
class Sink {
 public:
  virtual ~Sink();
  // Appends n bytes from data (which may be null when n == 0).
  virtual absl::Status Append(const void* data, size_t n) = 0;
  // Pushes buffered bytes to the underlying medium. The default does nothing.
  virtual absl::Status Flush();
};

// Where encoded bytes come from.
class Source {
 public:
  virtual ~Source();
  // Reads exactly n bytes into dst. If fewer than n remain, returns DataLoss
  // "truncated at byte offset X: needed N more bytes but only R remain"; what dst holds
  // after a failed read is unspecified.
  virtual absl::Status Read(void* dst, size_t n) = 0;
  // Bytes consumed so far.
  virtual uint64_t offset() const = 0;
  // Bytes left before the end of the input.
  virtual uint64_t remaining() const = 0;
};

// Appends to an owned std::string.
class StringSink : public Sink {
 public:
  StringSink() = default;
  absl::Status Append(const void* data, size_t n) override;

  const std::string& contents() const { return contents_; }
  // Moves the bytes out, leaving the sink empty.
  std::string Release() { return std::move(contents_); }

 private:
  std::string contents_;
};

// Reads from a caller-owned buffer, which must outlive the source.
class MemorySource : public Source {
 public:
  explicit MemorySource(absl::Span<const uint8_t> data) : data_(data) {}

  absl::Status Read(void* dst, size_t n) override;
  uint64_t offset() const override { return pos_; }
  uint64_t remaining() const override { return data_.size() - pos_; }

 private:
  absl::Span<const uint8_t> data_;
  size_t pos_ = 0;
};

// Creates (or truncates) the file at path for writing. Writes are buffered; appends of
// large blocks go straight to the file without a copy. Call Flush() before dropping the
// sink to learn about write errors (the destructor flushes too, but cannot report).
// Errors come from errno (NotFound, PermissionDenied, ...) and name the path.
absl::StatusOr<std::unique_ptr<Sink>> OpenFileSink(const std::string& path);

// Opens the file at path for buffered reading; remaining() is based on the file's size at
// open time. Errors come from errno and name the path.
absl::StatusOr<std::unique_ptr<Source>> OpenFileSource(const std::string& path);

// The DataLoss status for a read of `needed` bytes at `offset` with only `remaining` left.
absl::Status TruncatedError(uint64_t offset, uint64_t needed, uint64_t remaining);

}  // namespace mxgrid::tensor::format

#endif  // MXGRID_LIBS_TENSOR_FORMAT_BYTE_IO_H_
