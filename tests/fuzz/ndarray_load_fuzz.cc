// libFuzzer target for the MXNet NDArray format reader (libs/tensor/format).
//
// How to run (clang + libFuzzer + ASan/UBSan via .bazelrc's --config=fuzz):
//   bazel build --config=fuzz //tests/fuzz:ndarray_load_fuzz
//   cp bazel-bin/tests/fuzz/ndarray_load_fuzz /tmp/ && mkdir -p /tmp/ndarray_corpus
//   /tmp/ndarray_load_fuzz -max_total_time=60 /tmp/ndarray_corpus tests/fuzz/corpus/ndarray_load
// (the first corpus directory receives new inputs; the committed seeds stay untouched).
// (Copied out because any other build in the workspace may replace bazel-bin's binary.)
// Without --config=fuzz the same binary is a plain driver that runs the files or
// directories given as arguments once each, e.g. to replay a crash artifact:
//   bazel-bin/tests/fuzz/ndarray_load_fuzz crash-<sha1>
// Crashes found should become seeds in tests/fuzz/corpus/ndarray_load/, which
// //tests/fuzz:ndarray_load_fuzz_regression_test replays (with mutations) in every test run.
//
// Each input is parsed as a list file (ReadList) and as a single record (ReadRecord). The
// oracle, beyond "no crash, no sanitizer report": every failure is DataLoss or
// InvalidArgument naming a byte offset (or the allocator's own ResourceExhausted), and every
// file that loads is written back with WriteList and loads again to the same arrays.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/types/span.h"
#include "libs/base/check.h"
#include "libs/tensor/format/ndarray_format.h"

namespace mxgrid::tensor::format {
namespace {

// The most a single input may make the reader allocate, in all.
constexpr uint64_t kMaxAllocationBytes = uint64_t{64} << 20;
constexpr char kRefused[] = "fuzz allocator refuses";

// An AllocateFn backed by owned vectors, capped at kMaxAllocationBytes in total.
class CappedArena {
 public:
  AllocateFn Allocator() {
    return [this](const RecordHeader& header) -> absl::StatusOr<void*> {
      MXGRID_CHECK(!header.is_none) << "allocate called for a none record";
      const uint64_t bytes = static_cast<uint64_t>(header.shape.Size()) *
                             DTypeSize(header.dtype);
      if (bytes > kMaxAllocationBytes - total_) {
        return absl::ResourceExhaustedError(kRefused);
      }
      total_ += bytes;
      buffers_.emplace_back(bytes, 0xCD);
      return static_cast<void*>(buffers_.back().data());
    };
  }
  const std::vector<std::vector<uint8_t>>& buffers() const { return buffers_; }

 private:
  std::vector<std::vector<uint8_t>> buffers_;
  uint64_t total_ = 0;
};

// A failed read must be a clean, located error.
void CheckFailure(const absl::Status& status) {
  if (status.ok()) return;
  if (status.code() == absl::StatusCode::kResourceExhausted &&
      status.message() == kRefused) {
    return;
  }
  MXGRID_CHECK(status.code() == absl::StatusCode::kDataLoss ||
               status.code() == absl::StatusCode::kInvalidArgument)
      << "unexpected status code: " << status.ToString();
  MXGRID_CHECK(absl::StrContains(status.message(), "offset"))
      << "error without a byte offset: " << status.ToString();
}

void CheckSource(const MemorySource& source, size_t size) {
  MXGRID_CHECK(source.offset() + source.remaining() == size && source.offset() <= size)
      << "source position " << source.offset() << " + " << source.remaining() << " != "
      << size;
}

// Writes the non-none, non-scalar arrays of a loaded file back and expects to read them
// back unchanged.
void CheckRoundTrip(const ListContents& contents, const CappedArena& arena) {
  std::vector<ArrayView> views;
  std::vector<std::string> names;
  std::vector<const std::vector<uint8_t>*> data;
  size_t buffer = 0;
  bool all_kept = true;
  for (size_t i = 0; i < contents.headers.size(); ++i) {
    const RecordHeader& h = contents.headers[i];
    if (h.is_none) {
      all_kept = false;
      continue;
    }
    const std::vector<uint8_t>& bytes = arena.buffers().at(buffer++);
    MXGRID_CHECK(bytes.size() == static_cast<uint64_t>(h.shape.Size()) * DTypeSize(h.dtype));
    if (h.shape.ndim() == 0) {  // scalars cannot be written in V2
      all_kept = false;
      continue;
    }
    views.push_back(ArrayView{h.dtype, h.shape, h.ctx, bytes.data()});
    data.push_back(&bytes);
    if (!contents.names.empty()) names.push_back(contents.names[i]);
  }
  MXGRID_CHECK(buffer == arena.buffers().size()) << "allocations do not match records";
  if (!all_kept) names.clear();
  StringSink sink;
  absl::Status written = WriteList(views, names, &sink);
  MXGRID_CHECK(written.ok()) << "cannot write back a loaded file: " << written.ToString();
  const std::string& bytes = sink.contents();
  MemorySource source(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(bytes.data()),
                                          bytes.size()));
  CappedArena again;
  absl::StatusOr<ListContents> reread = ReadList(&source, again.Allocator());
  MXGRID_CHECK(reread.ok()) << "cannot re-read a written file: " << reread.status().ToString();
  MXGRID_CHECK(source.remaining() == 0);
  MXGRID_CHECK(reread->headers.size() == views.size() && reread->names == names);
  for (size_t i = 0; i < views.size(); ++i) {
    const RecordHeader& h = reread->headers[i];
    MXGRID_CHECK(!h.is_none && h.dtype == views[i].dtype && h.shape == views[i].shape &&
                 h.ctx == views[i].ctx)
        << "array " << i << " changed in a round trip";
    MXGRID_CHECK(again.buffers()[i] == *data[i]) << "array " << i << " values changed";
  }
}

void FuzzOne(absl::Span<const uint8_t> input) {
  {
    MemorySource source(input);
    CappedArena arena;
    absl::StatusOr<ListContents> contents = ReadList(&source, arena.Allocator());
    CheckSource(source, input.size());
    CheckFailure(contents.status());
    if (contents.ok()) {
      MXGRID_CHECK(contents->names.empty() ||
                   contents->names.size() == contents->headers.size());
      CheckRoundTrip(*contents, arena);
    }
  }
  {
    MemorySource source(input);
    CappedArena arena;
    RecordHeader header;
    absl::Status status = ReadRecord(&source, arena.Allocator(), &header);
    CheckSource(source, input.size());
    CheckFailure(status);
    if (status.ok()) MXGRID_CHECK(arena.buffers().size() == (header.is_none ? 0u : 1u));
  }
}

}  // namespace
}  // namespace mxgrid::tensor::format

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mxgrid::tensor::format::FuzzOne(absl::MakeConstSpan(data, size));
  return 0;
}
